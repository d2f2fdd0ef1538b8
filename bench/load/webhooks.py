"""Webhook delivery benchmark, per backend (part of `make bench`, or alone):

1. Throughput: a backlog of events (`--events`, 10 about each user, in turn) for one endpoint, then one
   `scim-server deliver` started; deliveries/s is the backlog over the time until every delivery is recorded
   delivered, with the deliverer's CPU time per delivery. The receiver answers 204 at little cost
   (bench/load/receiver.py).
2. Latency under load: the SCIM server (gunicorn, production config, its deliverer on) takes POST /Users at a paced
   rate (`--rate`, default 100/s) in `--pairs` pairs of `--seconds` phases, each without a webhook and then with
   one; commit-to-delivery is each delivery's recorded time minus its event's time (an upper bound: the batch's
   results are recorded together after its last answer), and the SCIM POST latency of the phases compares the
   request path with and without a webhook (an A/B whose sides alternate, so that drift falls on both).

    .venv/bin/python -m bench.load.webhooks [--postgres URL] [--no-sqlite] [--events 20000] [--rate 100]
        [--pairs 3] [--seconds 5]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, func, insert, select
from sqlalchemy.orm import Session, sessionmaker

from app import create_app
from bench.databases import postgres_database, sqlite_database
from bench.load.run import VENV_BIN, free_port, gunicorn
from storage import events, revisions, tenants, webhooks
from storage.db import make_engine, make_sessionmaker
from storage.models import Event, WebhookDelivery, events_table
from tests.conftest import make_token

TENANT = "bench"
EVENTS_PER_RESOURCE = 10
WAIT_SECONDS = 300
PACING_THREADS = 4
ROOT = Path(__file__).resolve().parents[2]


@contextmanager
def receiving() -> Iterator[str]:
    """bench/load/receiver.py on a free port; yields its URL and stops it by PID."""
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "bench.load.receiver", str(port)], cwd=ROOT)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise SystemExit("the benchmark's webhook receiver did not start") from None
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}/hooks"
    finally:
        process.terminate()
        process.wait(timeout=30)


def prepare(url: str, receiver: str) -> tuple[str, int]:
    """Migrate, a tenant with a token and one webhook to `receiver`; returns (token, tenant id)."""
    engine = make_engine(url)
    revisions.upgrade(engine)
    engine.dispose()
    app = create_app({"DATABASE_URL": url, "TESTING": True})
    token = make_token(app, TENANT)
    with make_sessionmaker(app.extensions["scim.engine"]).begin() as session:
        tenant = tenants.get_by_name(session, TENANT)
        webhooks.add(session, tenant, receiver)
        tenant_id = tenant.id
    app.extensions["scim.engine"].dispose()
    return token, tenant_id


def backlog(engine: Engine, tenant_id: int, count: int) -> None:
    """`count` user.updated events about count / EVENTS_PER_RESOURCE users, in turn, inserted in bulk."""
    origin = events.Origin("PATCH", "/scim/v2/Users/x", tenant_id=tenant_id)
    users = max(1, count // EVENTS_PER_RESOURCE)
    rows = [events.entry(origin, "user.updated", 200, "User", f"user-{number % users}", {"displayName": str(number)})
            for number in range(count)]
    with engine.begin() as connection:
        connection.execute(insert(events_table), rows)


def delivered(engine: Engine, endpoint: int | None = None) -> int:
    query = select(func.count()).select_from(WebhookDelivery).where(WebhookDelivery.status == "delivered")
    if endpoint is not None:
        query = query.where(WebhookDelivery.endpoint_id == endpoint)
    with engine.connect() as connection:
        return connection.scalar(query) or 0


def wait_delivered(engine: Engine, expected: int, endpoint: int | None = None) -> float:
    """Seconds until `expected` deliveries (to `endpoint`, or any) are delivered (polled every 50 ms, bounded)."""
    started = time.perf_counter()
    deadline = time.monotonic() + WAIT_SECONDS
    while delivered(engine, endpoint) < expected:
        if time.monotonic() > deadline:
            raise SystemExit(f"only {delivered(engine, endpoint)} of {expected} deliveries after {WAIT_SECONDS} s")
        time.sleep(0.05)
    return time.perf_counter() - started


def cpu_seconds(pid: int) -> float:
    """User and system CPU time of a process so far (from /proc): a figure a busy shared machine distorts less."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def throughput(url: str, receiver: str, count: int) -> tuple[float, float]:
    """(deliveries per second, the deliverer's CPU milliseconds per delivery)."""
    _token, tenant_id = prepare(url, receiver)
    engine = make_engine(url)
    backlog(engine, tenant_id, count)
    env = {**os.environ, "SCIM_DATABASE_URL": url, "SCIM_LOG_LEVEL": "WARNING", "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen([str(VENV_BIN / "scim-server"), "deliver"], cwd=ROOT, env=env)
    try:
        seconds = wait_delivered(engine, count)
        cpu = cpu_seconds(process.pid)
    finally:
        process.terminate()
        process.wait(timeout=60)
        engine.dispose()
    return count / seconds, cpu * 1000 / count


def paced_posts(base: str, token: str, rate: float, seconds: float, tag: str) -> list[float]:
    """POST /Users at `rate` per second in total for `seconds`; returns each request's latency in ms."""
    host, port = base.removeprefix("http://").split(":")
    latencies: list[float] = []
    lock = threading.Lock()
    interval = PACING_THREADS / rate

    def run(thread: int) -> None:
        connection = http.client.HTTPConnection(host, int(port), timeout=30)
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/scim+json"}
        start = time.perf_counter() + thread * interval / PACING_THREADS
        for number in range(int(seconds * rate / PACING_THREADS)):
            time.sleep(max(0.0, start + number * interval - time.perf_counter()))
            body = {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                    "userName": f"{tag}-{thread}-{number}@bench.test"}
            began = time.perf_counter()
            connection.request("POST", "/scim/v2/Users", body=json.dumps(body), headers=headers)
            response = connection.getresponse()
            response.read()
            if response.status != 201:
                raise SystemExit(f"POST /Users answered {response.status}")
            with lock:
                latencies.append((time.perf_counter() - began) * 1000)
        connection.close()

    threads = [threading.Thread(target=run, args=(number,)) for number in range(PACING_THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return latencies


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def latency(url: str, receiver: str, rate: float, seconds: float, pairs: int) -> dict[str, float]:
    """`pairs` pairs of paced phases on one server, each without a webhook and then with one (added for its phase,
    its deliveries awaited, then removed), so that drift (a growing table, a warming cache) falls on both sides."""
    token, _tenant_id = prepare(url, receiver)
    engine = make_engine(url)
    sessions = make_sessionmaker(engine)
    _remove_webhooks(sessions)
    without: list[float] = []
    with_hook: list[float] = []
    lags: list[float] = []
    with gunicorn("wsgi:app", {"SCIM_DATABASE_URL": url, "SCIM_DELIVER": "1"}) as (base, _master):
        paced_posts(base, token, rate, 2, "warm")
        for pair in range(pairs):
            without += paced_posts(base, token, rate, seconds, f"a{pair}")
            with sessions.begin() as session:
                endpoint = webhooks.add(session, tenants.get_by_name(session, TENANT), receiver).id
            time.sleep(0.5)
            posted = paced_posts(base, token, rate, seconds, f"b{pair}")
            with_hook += posted
            wait_delivered(engine, len(posted), endpoint)
            lags += delivery_lags(engine, endpoint)
            _remove_webhooks(sessions)
    engine.dispose()
    return {"delivery p50 ms": percentile(lags, 0.5), "delivery p99 ms": percentile(lags, 0.99),
            "POST p50 ms without": percentile(without, 0.5), "POST p99 ms without": percentile(without, 0.99),
            "POST p50 ms with": percentile(with_hook, 0.5), "POST p99 ms with": percentile(with_hook, 0.99),
            "deliveries": len(lags)}


def _remove_webhooks(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as session:
        for endpoint, _name in webhooks.list_endpoints(session):
            webhooks.remove(session, endpoint.id)


def delivery_lags(engine: Engine, endpoint: int) -> list[float]:
    """Each of the endpoint's deliveries: its recorded time minus its event's time, in ms."""
    with engine.connect() as connection:
        rows = connection.execute(select(WebhookDelivery.last_attempt_at, Event.occurred_at)
                                  .join(Event, Event.id == WebhookDelivery.event_id)
                                  .where(WebhookDelivery.endpoint_id == endpoint)).all()
    return [(done - occurred).total_seconds() * 1000 for done, occurred in rows]


def run_backend(name: str, make_url: object, events_count: int, rate: float, seconds: float, pairs: int) -> None:
    with receiving() as receiver:
        with make_url() as url:  # type: ignore[operator]
            rate_per_second, cpu_ms = throughput(url, receiver, events_count)
        with make_url() as url:  # type: ignore[operator]
            measured = latency(url, receiver, rate, seconds, pairs)
    print(f"\n{name}: {events_count:,} deliveries from a backlog: {rate_per_second:,.0f} deliveries/s, "
          f"deliverer CPU {cpu_ms:.2f} ms per delivery")
    print(f"{name}: {rate:.0f} POST /Users per s, {pairs} pairs of {seconds:.0f} s phases without and with a webhook, "
          f"{measured['deliveries']:.0f} deliveries: "
          f"commit-to-delivery p50 {measured['delivery p50 ms']:.0f} ms, p99 {measured['delivery p99 ms']:.0f} ms; "
          f"POST /Users p50/p99 {measured['POST p50 ms without']:.1f}/{measured['POST p99 ms without']:.1f} ms "
          f"without a webhook, {measured['POST p50 ms with']:.1f}/{measured['POST p99 ms with']:.1f} ms with one",
          flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres", default=os.environ.get("SCIM_TEST_POSTGRES_URL"))
    parser.add_argument("--sqlite", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--events", type=int, default=20_000, help="backlog for the throughput run")
    parser.add_argument("--rate", type=float, default=100, help="SCIM writes per second in the latency run")
    parser.add_argument("--seconds", type=float, default=5, help="length of each paced phase")
    parser.add_argument("--pairs", type=int, default=3, help="pairs of phases, without and with a webhook")
    args = parser.parse_args()
    print(f"webhooks: nproc {os.cpu_count()}, run {uuid.uuid4().hex[:6]}", flush=True)
    if args.sqlite:
        run_backend("SQLite", sqlite_database, args.events, args.rate, args.seconds, args.pairs)
    if args.postgres:
        run_backend("PostgreSQL", lambda: postgres_database(args.postgres), args.events, args.rate, args.seconds,
                    args.pairs)


if __name__ == "__main__":
    sys.exit(main())
