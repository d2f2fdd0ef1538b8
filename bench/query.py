"""Search latency by tenant size: `userName eq`, `emails[value co]`, an offset page and a cursor page near the end.

Users are bulk-inserted (Core, in chunks) into one tenant, then `storage.search.search` is timed as a view calls it
(a session per call, totalResults included unless said otherwise). The cursor for the deep page is reached by
walking the whole tenant with nextCursor, which is timed too: keyset pages make that walk linear.

    .venv/bin/python -m bench.query [--users 10000,100000] [--postgres postgresql+psycopg://postgres@127.0.0.1:5432/test]

SQLite runs on a temporary file; PostgreSQL (when given a server URL) on a database created for the run and
dropped afterwards. After loading, SQLite gets ANALYZE and PostgreSQL VACUUM ANALYZE (what autovacuum would have done).
"""

from __future__ import annotations

import argparse
import os
import random
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, event, insert, text
from sqlalchemy.orm import Session

from bench.databases import postgres_database, sqlite_database
from scim.filters import parse_filter
from scim.schemas import USER
from storage import revisions
from storage.db import make_engine
from storage.models import Tenant, User, UserEmail
from storage.pages import Page
from storage.resource_maps import USERS
from storage.search import search
from storage.sqlite_functions import register_sqlite_functions

SIZES = (10_000, 100_000)
CHUNK = 10_000
PAGE = 100
WALK_PAGE = 1_000
TENANT_ID = 1
EPOCH = datetime(2024, 1, 1, tzinfo=UTC)




def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def _user(number: int) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A user row and its email rows, as storage writes them."""
    user_id = str(uuid.uuid4())
    user_name = f"user{number:07d}@example.com"
    emails = [{"value": user_name, "type": "work", "primary": True}]
    if number % 3 == 0:
        emails.append({"value": f"u{number:07d}@home.example.org", "type": "home"})
    doc = {"userName": user_name, "displayName": f"User {number}", "active": number % 10 != 0,
           "name": {"givenName": "User", "familyName": str(number)}, "emails": emails}
    moment = EPOCH + timedelta(seconds=number)
    row = {"id": user_id, "tenant_id": TENANT_ID, "user_name": user_name, "user_name_key": user_name.lower(),
           "external_id": f"ext-{number}", "display_name": doc["displayName"], "active": doc["active"], "doc": doc,
           "created": moment, "last_modified": moment, "version": 1}
    email_rows = [{"user_id": user_id, "position": position, "tenant_id": TENANT_ID, "value": email["value"],
                   "value_key": email["value"].lower(), "type": email["type"], "primary": email.get("primary"),
                   "display": None} for position, email in enumerate(emails)]
    return row, email_rows


def load(engine: Engine, users: int) -> None:
    """`users` users in one tenant, inserted in chunks of CHUNK rows; then statistics, as in production."""
    with engine.begin() as connection:
        connection.execute(insert(Tenant), [{"id": TENANT_ID, "name": "bench", "created_at": EPOCH}])
    for start in range(0, users, CHUNK):
        built = [_user(number) for number in range(start, min(start + CHUNK, users))]
        with engine.begin() as connection:
            connection.execute(insert(User), [row for row, _emails in built])
            connection.execute(insert(UserEmail), [email for _row, emails in built for email in emails])
    if engine.dialect.name == "sqlite":
        with engine.begin() as connection:
            connection.execute(text("ANALYZE"))
        return
    # Autovacuum would have run on a table this size; the visibility map lets count(*) and OFFSET skip the heap.
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("VACUUM ANALYZE"))


def timed(engine: Engine, call: Callable[[Session], Page]) -> tuple[float, Page]:
    """Milliseconds one search takes, in a session of its own."""
    start = time.perf_counter()
    with Session(engine) as session:
        page = call(session)
    return (time.perf_counter() - start) * 1000, page


def walk_to(engine: Engine, depth: int) -> tuple[str, float]:
    """The nextCursor after the first `depth` rows (default order), and the walk's milliseconds; bounded."""
    cursor, seen, elapsed = "", 0, 0.0
    for _ in range(depth // WALK_PAGE + 2):
        if seen >= depth:
            break
        count = min(WALK_PAGE, depth - seen)
        took, page = timed(engine, lambda session, c=cursor, n=count: search(
            session, USERS, TENANT_ID, count=n, cursor=c, count_total=False))
        elapsed += took
        seen += len(page.rows)
        assert page.next_cursor is not None
        cursor = page.next_cursor
    return cursor, elapsed


def measure(engine: Engine, users: int, repeat: int) -> dict[str, list[float]]:
    rng = random.Random(users)
    by_name = 'userName eq "user{:07d}@example.com"'
    by_email = 'emails[value co "{:05d}"]'  # the top five of seven digits: 100 users match
    cursor, walk = walk_to(engine, users - PAGE)
    queries: dict[str, Callable[[Session], Page]] = {
        "userName eq": lambda session: search(session, USERS, TENANT_ID, parse_filter(
            by_name.format(rng.randrange(users)), USER), count=PAGE),
        'emails[value co "…"]': lambda session: search(session, USERS, TENANT_ID, parse_filter(
            by_email.format(rng.randrange(users // 100)), USER), count=PAGE),
        f"startIndex={users - PAGE + 1}": lambda session: search(
            session, USERS, TENANT_ID, count=PAGE, start_index=users - PAGE + 1),
        "cursor, same depth": lambda session: search(session, USERS, TENANT_ID, count=PAGE, cursor=cursor),
        "cursor, no total": lambda session: search(
            session, USERS, TENANT_ID, count=PAGE, cursor=cursor, count_total=False),
    }
    results: dict[str, list[float]] = {name: [] for name in queries}
    for index in range(repeat + 2):  # two warm-up rounds
        for name, query in queries.items():
            took, page = timed(engine, query)
            if name.startswith(("startIndex", "cursor")) and len(page.rows) != PAGE:
                raise SystemExit(f"{name}: {len(page.rows)} rows, wanted {PAGE}")
            if index >= 2:
                results[name].append(took)
    results[f"walk of {users:,} by {WALK_PAGE}"] = [walk]
    return results


def run_backend(url: str, users: int, repeat: int) -> dict[str, list[float]]:
    engine = make_engine(url)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", lambda connection, _record: register_sqlite_functions(connection))
    try:
        revisions.upgrade(engine)
        started = time.perf_counter()
        load(engine, users)
        print(f"  loaded {users:,} users in {time.perf_counter() - started:.0f} s", flush=True)
        return measure(engine, users, repeat)
    finally:
        engine.dispose()


def print_table(backend: str, results: dict[int, dict[str, list[float]]]) -> None:
    print(f"\n{backend}\n| users | query | p50 ms | p99 ms |\n|---:|---|---:|---:|")
    for users, by_query in results.items():
        for name, samples in by_query.items():
            print(f"| {users:,} | {name} | {percentile(samples, 0.5):.2f} | {percentile(samples, 0.99):.2f} |")


def backends(postgres: str | None) -> Iterator[tuple[str, Callable[[], AbstractContextManager[str]]]]:
    yield "SQLite", sqlite_database
    if postgres:
        yield "PostgreSQL", lambda: postgres_database(postgres)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres", default=os.environ.get("SCIM_TEST_POSTGRES_URL"),
                        help="PostgreSQL server URL (default: $SCIM_TEST_POSTGRES_URL; none: SQLite only)")
    parser.add_argument("--users", default=",".join(map(str, SIZES)), help="comma-separated tenant sizes")
    parser.add_argument("--repeat", type=int, default=50, help="measured searches per query and size")
    args = parser.parse_args()
    sizes = [int(size) for size in args.users.split(",")]
    for name, database in backends(args.postgres):
        results = {}
        for users in sizes:
            print(f"{name}, {users:,} users", flush=True)
            with database() as url:
                results[users] = run_backend(url, users, args.repeat)
        print_table(name, results)


if __name__ == "__main__":
    main()
