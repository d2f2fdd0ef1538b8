"""Group membership latency by group size: PATCH add one member, PATCH remove one, GET ?excludedAttributes=members.

Membership is rows, changed by deltas (storage/groups.py), so these figures should not grow with the group: the
target is the 100k-member p50/p99 within 1.5x of the 10-member ones. Groups and users are bulk-inserted; requests
go through the Flask test client (views, parsing, storage, commit), without a network.

    .venv/bin/python -m bench.groups [--postgres postgresql+psycopg://postgres@127.0.0.1:5432/test] [--repeat 200]

SQLite runs on a temporary file; PostgreSQL (when given a server URL) on a database created for the run and
dropped afterwards.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import insert, text
from werkzeug.test import TestResponse

from app import create_app
from bench.databases import postgres_database, sqlite_database
from scim.payloads import parse_resource
from scim.schemas import GROUP, GROUP_URN, PATCH_OP_URN
from storage import groups, revisions, tenants
from storage.db import make_engine, make_sessionmaker
from storage.events import Origin
from storage.models import GroupMember
from tests.conftest import make_token
from tests.storage.test_groups import insert_users

SIZES = (10, 1_000, 10_000, 100_000)
TENANT = "bench"
WARMUP = 10
OPERATIONS = ("add", "remove", "get")


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]




def build_group(app: Flask, size: int, spare: int) -> tuple[str, list[str]]:
    """A group of `size` members and `spare` users outside it, all bulk-inserted; returns (group id, spare ids)."""
    with make_sessionmaker(app.extensions["scim.engine"]).begin() as session:
        tenant_id = tenants.get_by_name(session, TENANT).id
        ids = insert_users(session, tenant_id, size + spare, prefix=f"g{size}-")
        parsed = parse_resource({"schemas": [GROUP_URN], "displayName": f"Group of {size}"}, GROUP)
        group = groups.create(session.connection(), tenant_id, GROUP, parsed, Origin("POST", "/bench", tenant_id))
        for start in range(0, size, 5000):
            rows = [{"group_id": group.id, "member_id": member_id, "tenant_id": tenant_id}
                    for member_id in ids[start:min(start + 5000, size)]]
            session.execute(insert(GroupMember), rows)
    with app.extensions["scim.engine"].begin() as connection:
        connection.execute(text("ANALYZE"))  # as in production, the planner knows the table sizes
    return group.id, ids[size:]


def timed(send: Callable[..., TestResponse], *args: Any, expected: int, **kwargs: Any) -> float:
    """Milliseconds one request takes; a status other than `expected` stops the run."""
    start = time.perf_counter()
    response = send(*args, **kwargs)
    elapsed = (time.perf_counter() - start) * 1000
    if response.status_code != expected:
        raise SystemExit(f"{args[0]}: status {response.status_code}, wanted {expected}: {response.get_data(True)}")
    return elapsed


def patch_body(operation: dict[str, Any]) -> dict[str, Any]:
    return {"schemas": [PATCH_OP_URN], "Operations": [operation]}


def one_round(client: FlaskClient, headers: dict[str, str], group_id: str, user_id: str) -> tuple[float, ...]:
    """Add `user_id`, remove it again (the group keeps its size), read the group without its members."""
    url = f"/scim/v2/Groups/{group_id}"
    add = patch_body({"op": "add", "path": "members", "value": [{"value": user_id}]})
    remove = patch_body({"op": "remove", "path": f'members[value eq "{user_id}"]'})
    return (
        timed(client.patch, url, headers=headers, json=add, expected=204),
        timed(client.patch, url, headers=headers, json=remove, expected=204),
        timed(client.get, url, headers=headers, query_string={"excludedAttributes": "members"}, expected=200),
    )


def run_backend(url: str, sizes: tuple[int, ...], repeat: int) -> dict[int, dict[str, list[float]]]:
    """Build every group, then measure round-robin over the sizes, so that background noise hits them alike."""
    engine = make_engine(url)
    revisions.upgrade(engine)
    engine.dispose()
    app = create_app({"DATABASE_URL": url, "TESTING": True})
    try:
        headers = {"Authorization": f"Bearer {make_token(app, TENANT)}", "Content-Type": "application/scim+json"}
        client = app.test_client()
        built = {size: build_group(app, size, WARMUP + repeat) for size in sizes}
        results: dict[int, dict[str, list[float]]] = {size: {name: [] for name in OPERATIONS} for size in sizes}
        for index in range(WARMUP + repeat):
            for size, (group_id, spare) in built.items():
                timings = one_round(client, headers, group_id, spare[index])
                for name, elapsed in zip(OPERATIONS, timings, strict=True):
                    if index >= WARMUP:
                        results[size][name].append(elapsed)
        return results
    finally:
        app.extensions["scim.engine"].dispose()


def print_table(backend: str, results: dict[int, dict[str, list[float]]]) -> None:
    header = " | ".join(f"{name} p50 / p99 ms" for name in ("PATCH add", "PATCH remove", "GET -members"))
    print(f"\n{backend}\n| members | {header} |")
    print("|---:|" + "---:|" * len(OPERATIONS))
    for size, samples in results.items():
        cells = " | ".join(
            f"{percentile(samples[name], 0.5):.2f} / {percentile(samples[name], 0.99):.2f}" for name in OPERATIONS
        )
        print(f"| {size:,} | {cells} |")
    smallest, largest = results[min(results)], results[max(results)]
    ratios = ", ".join(
        f"{name} p50 {percentile(largest[name], 0.5) / percentile(smallest[name], 0.5):.2f}x"
        f" p99 {percentile(largest[name], 0.99) / percentile(smallest[name], 0.99):.2f}x"
        for name in OPERATIONS
    )
    print(f"{max(results):,} vs {min(results):,} members: {ratios}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres", default=os.environ.get("SCIM_TEST_POSTGRES_URL"),
                        help="PostgreSQL server URL (default: $SCIM_TEST_POSTGRES_URL; none: SQLite only)")
    parser.add_argument("--repeat", type=int, default=200, help="measured requests per operation and size")
    parser.add_argument("--sizes", default=",".join(map(str, SIZES)), help="comma-separated group sizes")
    args = parser.parse_args()
    sizes = tuple(int(size) for size in args.sizes.split(","))
    with sqlite_database() as url:
        print_table("SQLite", run_backend(url, sizes, args.repeat))
    if args.postgres:
        with postgres_database(args.postgres) as url:
            print_table("PostgreSQL", run_backend(url, sizes, args.repeat))


if __name__ == "__main__":
    main()
