"""Load benchmark: the SCIM server under gunicorn, driven by wrk, against the stack's own ceiling.

For SQLite (a temporary file) and, when given a server URL, PostgreSQL (a database created for the run and dropped
after it): load a tenant with 10,000 users and two groups of 10 and 5,000 members (bulk Core inserts), issue a token,
start the server with the production gunicorn config (2 sync workers, no access log) and, in the same run, a bare
Flask JSON endpoint (bench/load/ceiling.py) with the same settings. Each workload is driven by wrk for a bounded time,
in rounds right after a ceiling run of the same length; the table gives the median round's req/s, p50, p99 and ratio
to the ceiling, the range of the rounds' ratios, non-2xx responses (a fast 4xx is not a result) and the workers' RSS
after the run.

    .venv/bin/python -m bench.load.run [--postgres postgresql+psycopg://postgres@127.0.0.1:5432/test]
        [--duration 4] [--rounds 3] [--only get_user.lua]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import func, select, text

from app import create_app
from bench.databases import postgres_database, sqlite_database
from bench.groups import build_group
from storage import revisions
from storage.db import make_engine, make_sessionmaker
from storage.models import User
from tests.conftest import make_token
from tests.storage.test_groups import insert_users

ROOT = Path(__file__).resolve().parents[2]
LUA = Path(__file__).resolve().parent
VENV_BIN = Path(sys.executable).parent
TENANT = "bench"  # bench.groups.build_group looks this tenant up
USERS = 10_000
SPARE = 1_000  # users outside each group, added and removed by the group PATCH workloads
CONNECTIONS = 16
THREADS = 2


@dataclass
class Workload:
    name: str
    script: str
    env: dict[str, str] = field(default_factory=dict)
    target: str = ""  # its target in docs/performance.md, for the table


@dataclass
class Result:
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    non2xx: int
    statuses: dict[str, int]
    socket_errors: int


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def load(url: str, data: Path) -> tuple[str, dict[str, str]]:
    """Migrate, load the tenant, write the id files for the Lua scripts; returns (token, {name: group id})."""
    engine = make_engine(url)
    revisions.upgrade(engine)
    engine.dispose()
    app = create_app({"DATABASE_URL": url, "TESTING": True})
    engine = app.extensions["scim.engine"]
    try:
        token = make_token(app, TENANT)
        small, small_spare = build_group(app, 10, SPARE)
        large, large_spare = build_group(app, 5_000, SPARE)
        sessionmaker = make_sessionmaker(engine)
        with sessionmaker.begin() as session:
            tenant_id = session.scalar(select(User.tenant_id).limit(1))
            already = session.scalar(select(func.count()).select_from(User))
            insert_users(session, tenant_id, USERS - already, prefix="rest-")
        with engine.begin() as connection:
            connection.execute(text("ANALYZE"))
        with sessionmaker() as session:
            rows = session.execute(select(User.id, User.user_name).where(User.tenant_id == tenant_id)).all()
        assert len(rows) == USERS, len(rows)
        (data / "user_ids.txt").write_text("\n".join(row.id for row in rows) + "\n")
        (data / "user_names.txt").write_text("\n".join(row.user_name for row in rows) + "\n")
        (data / "spare_10.txt").write_text("\n".join(small_spare) + "\n")
        (data / "spare_5000.txt").write_text("\n".join(large_spare) + "\n")
        return token, {"10": small, "5000": large}
    finally:
        engine.dispose()


@contextmanager
def gunicorn(app_spec: str, env: dict[str, str], root: Path = ROOT) -> Iterator[tuple[str, int]]:
    """gunicorn with the production config on a free port, serving the code of the checkout at `root`; yields
    (base URL, master PID); stops it by PID."""
    port = free_port()
    environment = {**os.environ, **env, "SCIM_BIND": f"127.0.0.1:{port}", "SCIM_WORKERS": "2",
                   "SCIM_ACCESS_LOG": "", "SCIM_LOG_LEVEL": "warning", "PYTHONPATH": str(root)}
    if app_spec != "wsgi:app":  # a bare app (the ceiling, a webhook receiver) has no database to deliver from
        environment["SCIM_DELIVER"] = "0"
    process = subprocess.Popen(
        [str(VENV_BIN / "gunicorn"), "-c", "python:app.gunicorn_config", app_spec],
        cwd=root, env=environment, start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        probe = "/healthz" if app_spec == "wsgi:app" else "/"
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                raise SystemExit(f"gunicorn {app_spec} exited with {process.returncode}")
            try:
                with urllib.request.urlopen(base + probe, timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit(f"gunicorn {app_spec} did not answer on {base}{probe}")
            time.sleep(0.2)
        yield base, process.pid
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)  # the master stops its own workers
            try:
                process.wait(timeout=35)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def worker_pids(master: int) -> list[int]:
    """The gunicorn master's children: its workers."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rpartition(")")[2].split()[1]) == master:
                pids.append(int(entry.name))
    return sorted(pids)


def worker_rss_mib(master: int) -> list[float]:
    """VmRSS of the gunicorn master's children (its workers), in MiB."""
    sizes = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "status").read_text()
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        if int(fields.get("PPid", "0").strip()) == master and "VmRSS" in fields:
            sizes.append(int(fields["VmRSS"].split()[0]) / 1024)
    return sorted(sizes)


def run_wrk(base: str, workload: Workload, env: dict[str, str], duration: int) -> Result:
    command = ["wrk", "-t", str(THREADS), "-c", str(CONNECTIONS), "-d", f"{duration}s", "--latency",
               "--timeout", "10s", "-s", str(LUA / workload.script), base]
    completed = subprocess.run(command, env={**os.environ, **env, **workload.env, "BENCH_LUA": str(LUA),
                                    "BENCH_RUN": uuid.uuid4().hex[:8]},  # POST /Users: unique per wrk run
                               capture_output=True, text=True, timeout=duration + 60)
    line = next((line for line in completed.stdout.splitlines() if line.startswith("BENCH_JSON ")), None)
    if completed.returncode != 0 or line is None:
        raise SystemExit(f"wrk {workload.name} failed:\n{completed.stdout}\n{completed.stderr}")
    if completed.stderr.strip():
        print(f"  {workload.name}: {completed.stderr.strip()[:600]}", file=sys.stderr)
    summary = json.loads(line.removeprefix("BENCH_JSON "))
    return Result(
        rps=summary["requests"] / (summary["duration_us"] / 1e6),
        p50_ms=summary["p50_us"] / 1000, p99_ms=summary["p99_us"] / 1000,
        requests=summary["requests"], non2xx=summary["non2xx"], statuses=summary["statuses"],
        socket_errors=summary["socket_errors"],
    )


def workloads(groups: dict[str, str], data: Path) -> list[Workload]:
    return [
        Workload("GET /Users/{id}", "get_user.lua", target="≥ 50 %"),
        Workload("GET /Users?filter=userName eq", "username_eq.lua", target="≥ 40 %"),
        Workload("GET /Users?startIndex=1&count=100", "list_page.lua", target="≥ 5 %"),
        Workload("PATCH /Users/{id} active=false/true", "patch_active.lua", target="≥ 25 %"),
        Workload("POST /Users", "post_user.lua", target="≥ 20 %"),
        Workload("PATCH /Groups add/remove, 10 members", "group_patch.lua",
                 {"BENCH_GROUP": groups["10"], "BENCH_SPARE": "spare_10.txt"}),
        Workload("PATCH /Groups add/remove, 5,000 members", "group_patch.lua",
                 {"BENCH_GROUP": groups["5000"], "BENCH_SPARE": "spare_5000.txt"}, target="≥ 80 % of 10"),
        Workload("GET /Groups/{id}?excludedAttributes=members", "get_group.lua", {"BENCH_GROUP": groups["5000"]}),
    ]


@dataclass
class Measured:
    """One workload: rounds of (ceiling, workload) back to back; the round with the median ratio stands for it."""

    rounds: list[tuple[Result, Result]]

    @property
    def ratios(self) -> list[float]:
        return sorted(result.rps / ceiling.rps for ceiling, result in self.rounds)

    @property
    def median(self) -> tuple[Result, Result]:
        by_ratio = sorted(self.rounds, key=lambda pair: pair[1].rps / pair[0].rps)
        return by_ratio[len(by_ratio) // 2]


def run_backend(
    name: str, url: str, duration: int, rounds: int, only: list[str] | None = None
) -> tuple[dict[str, Measured], list[float]]:
    """Every workload, in `rounds` rounds of a ceiling run then a workload run of the same length: the machine's
    speed drifts (a shared VM's within a minute), so each ratio is to the ceiling measured right before it, and the
    median round is reported; returns ({workload: Measured}, worker RSS)."""
    with tempfile.TemporaryDirectory(prefix="scim-load-") as directory:
        data = Path(directory)
        started = time.perf_counter()
        token, groups = load(url, data)
        print(f"{name}: loaded {USERS:,} users, groups of 10 and 5,000 in {time.perf_counter() - started:.1f} s",
              flush=True)
        env = {"BENCH_TOKEN": token, "BENCH_DATA": str(data), "BENCH_THREADS": str(THREADS)}
        ceiling_workload = Workload("ceiling", "ceiling.lua")
        with gunicorn("bench.load.ceiling:app", {}) as (ceiling_base, _ceiling_pid), \
                gunicorn("wsgi:app", {"SCIM_DATABASE_URL": url}) as (base, master):
            run_wrk(ceiling_base, ceiling_workload, env, 1)
            measured = {}
            for workload in workloads(groups, data):
                if only and workload.script not in only:
                    continue
                run_wrk(base, workload, env, 1)  # warm-up: connections, caches, first-request imports
                measured[workload.name] = runs = Measured([
                    (run_wrk(ceiling_base, ceiling_workload, env, duration), run_wrk(base, workload, env, duration))
                    for _ in range(rounds)
                ])
                ceiling, result = runs.median
                print(f"  {workload.name}: {result.rps:,.0f} req/s (ceiling {ceiling.rps:,.0f}), ratios "
                      + ", ".join(f"{ratio:.1%}" for ratio in runs.ratios) + f", non-2xx {result.non2xx}", flush=True)
            rss = worker_rss_mib(master)
    return measured, rss


def print_tables(runs: dict[str, tuple[dict[str, Measured], list[float]]]) -> None:
    targets = {workload.name: workload.target for workload in workloads({"10": "", "5000": ""}, Path())}
    for name, (measured, rss) in runs.items():
        print(f"\n{name} (median of the rounds; ceiling: bare Flask under the same gunicorn, run right before each)")
        print("| workload | req/s | p50 ms | p99 ms | ceiling req/s | ratio to ceiling | rounds | target | non-2xx |")
        print("|---|---:|---:|---:|---:|---:|---:|---|---:|")
        for workload, runs_of in measured.items():
            ceiling, result = runs_of.median
            bad = f"{result.non2xx} {result.statuses}" if result.non2xx else "0"
            if result.socket_errors:
                bad += f" (+{result.socket_errors} socket errors)"
            if ceiling.non2xx or ceiling.socket_errors:
                bad += f" (ceiling: {ceiling.non2xx} non-2xx, {ceiling.socket_errors} socket errors)"
            ratios = runs_of.ratios
            print(f"| {workload} | {result.rps:,.0f} | {result.p50_ms:.2f} | {result.p99_ms:.2f} | "
                  f"{ceiling.rps:,.0f} | {result.rps / ceiling.rps:.1%} | {ratios[0]:.0%} to {ratios[-1]:.0%} | "
                  f"{targets[workload]} | {bad} |")
        small, large = "PATCH /Groups add/remove, 10 members", "PATCH /Groups add/remove, 5,000 members"
        if small in measured and large in measured:
            small_ceiling, small_result = measured[small].median
            large_ceiling, large_result = measured[large].median
            raw = large_result.rps / small_result.rps
            relative = (large_result.rps / large_ceiling.rps) / (small_result.rps / small_ceiling.rps)
            print(f"\ngroup PATCH, 5,000 vs 10 members: {raw:.0%} in req/s, {relative:.0%} in ratios to the "
                  "ceiling (target ≥ 80 %)")
        print("worker RSS after the run: " + ", ".join(f"{size:.1f} MiB" for size in rss) + " (target < 150 MiB)")
    if "SQLite" in runs and "PostgreSQL" in runs:
        print("\n| workload | PostgreSQL / SQLite req/s | PostgreSQL / SQLite ratio to ceiling |\n|---|---:|---:|")
        sqlite_measured, pg_measured = runs["SQLite"][0], runs["PostgreSQL"][0]
        for workload, runs_of in pg_measured.items():
            (pg_ceiling, pg_result), (sqlite_ceiling, sqlite_result) = runs_of.median, sqlite_measured[workload].median
            raw = pg_result.rps / sqlite_result.rps
            relative = (pg_result.rps / pg_ceiling.rps) / (sqlite_result.rps / sqlite_ceiling.rps)
            print(f"| {workload} | {raw:.0%} | {relative:.0%} |")
        print("(target: PostgreSQL no workload more than 2x slower than SQLite, i.e. none below 50 %)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres", default=os.environ.get("SCIM_TEST_POSTGRES_URL"),
                        help="PostgreSQL server URL (default: $SCIM_TEST_POSTGRES_URL; none: SQLite only)")
    parser.add_argument("--duration", type=int, default=4, help="seconds of each wrk run")
    parser.add_argument("--rounds", type=int, default=3, help="(ceiling, workload) rounds per workload")
    parser.add_argument("--sqlite", action=argparse.BooleanOptionalAction, default=True, help="run SQLite")
    parser.add_argument("--only", action="append", metavar="SCRIPT",
                        help="run only this workload's script, e.g. get_user.lua (repeatable)")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (`make bench` installs it with apt-get)")
    print(f"wrk -t{THREADS} -c{CONNECTIONS} -d{args.duration}s, {args.rounds} rounds; nproc {os.cpu_count()}",
          flush=True)
    runs = {}
    if args.sqlite:
        with sqlite_database() as url:
            runs["SQLite"] = run_backend("SQLite", url, args.duration, args.rounds, args.only)
    if args.postgres:
        with postgres_database(args.postgres) as url:
            runs["PostgreSQL"] = run_backend("PostgreSQL", url, args.duration, args.rounds, args.only)
    print_tables(runs)


if __name__ == "__main__":
    main()
