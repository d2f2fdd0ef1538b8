"""Compare two checkouts of the server on one workload, side by side: an A/B that the machine's drift cannot fake.

Both servers run at once (gunicorn with the production config, each on its own database loaded as bench/load/run.py
loads it), and wrk runs alternate between them, so a slow spell of the machine hits both sides of a pair alike. On a
shared VM the same code measures differently from one minute to the next, by more than most changes gain or lose:
running the bench before and after a change cannot tell the change from the drift.

    git worktree add /tmp/base HEAD~1
    .venv/bin/python -m bench.load.compare post_user.lua --base /tmp/base [--pairs 8] [--duration 3] [--postgres URL]

`--base` is the other checkout (its code only: both databases are migrated and loaded by this checkout, so the
two must share the schema). Prints each pair's req/s and the median of the per-pair ratios, this checkout / base.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from contextlib import ExitStack
from pathlib import Path

from bench.databases import postgres_database, sqlite_database
from bench.load.run import ROOT, THREADS, gunicorn, load, run_wrk, workloads


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("workload", help="a workload's Lua script (post_user.lua) or, where two share one, its name")
    parser.add_argument("--base", type=Path, required=True, help="the checkout to compare this one with")
    parser.add_argument("--pairs", type=int, default=8)
    parser.add_argument("--duration", type=int, default=3, help="seconds of each wrk run")
    parser.add_argument("--postgres", help="run both on databases of this PostgreSQL server instead of SQLite")
    args = parser.parse_args()
    sides = {"base": args.base.resolve(), "this": ROOT}
    with ExitStack() as stack:
        servers = {}
        for name, root in sides.items():
            url = stack.enter_context(postgres_database(args.postgres) if args.postgres else sqlite_database())
            data = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix=f"scim-compare-{name}-")))
            token, groups = load(url, data)
            workload = next(w for w in workloads(groups, data) if args.workload in (w.script, w.name))
            base_url, _master = stack.enter_context(gunicorn("wsgi:app", {"SCIM_DATABASE_URL": url}, root))
            env = {"BENCH_TOKEN": token, "BENCH_DATA": str(data), "BENCH_THREADS": str(THREADS)}
            run_wrk(base_url, workload, env, 1)  # warm-up
            servers[name] = (base_url, workload, env)
        ratios = []
        for pair in range(1, args.pairs + 1):
            base, this = (run_wrk(*servers[name], args.duration).rps for name in ("base", "this"))
            ratios.append(this / base)
            print(f"pair {pair}: base {base:,.0f} req/s, this {this:,.0f} req/s, this/base {this / base:.2f}",
                  flush=True)
        print(f"{args.workload}: this/base median {statistics.median(ratios):.3f} "
              f"(pairs {min(ratios):.2f} to {max(ratios):.2f})")


if __name__ == "__main__":
    main()
