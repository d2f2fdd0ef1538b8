"""Profile one load workload: the same loaded SQLite tenant and gunicorn server as bench/load/run.py, wrk driving
the workload, py-spy sampling one worker. Needs py-spy in the venv (`.venv/bin/pip install py-spy`).

    .venv/bin/python -m bench.load.profile get_user.lua [--seconds 15] [--out /tmp/profile.txt] [--postgres URL]

Writes py-spy's raw collapsed stacks to --out and prints the top functions by own time and by inclusive time.
"""

from __future__ import annotations

import argparse
import collections
import subprocess
import tempfile
import threading
from pathlib import Path

from bench.databases import postgres_database, sqlite_database
from bench.load.run import THREADS, VENV_BIN, gunicorn, load, run_wrk, worker_pids, workloads

PROJECT = ("app/", "storage/", "scim/", "wsgi")


def summarize(collapsed: Path, top: int) -> None:
    own: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    total = 0
    for line in collapsed.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        samples = int(count)
        total += samples
        frames = [frame.split(" (")[0] + " (" + frame.split(" (")[1].split(":")[0] + ")" if " (" in frame else frame
                  for frame in stack.split(";")]
        own[frames[-1]] += samples
        for frame in set(frames):
            inclusive[frame] += samples
    print(f"\n{total} samples\nown time:")
    for frame, samples in own.most_common(top):
        print(f"  {samples / total:6.1%}  {frame}")
    print("inclusive time (project code and SQLAlchemy/Flask entry points):")
    for frame, samples in inclusive.most_common(top * 4):
        if frame.split(" (")[-1].startswith(PROJECT) or "flask/app" in frame:
            print(f"  {samples / total:6.1%}  {frame}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("script", help="a workload's Lua script, e.g. get_user.lua")
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--out", default="/tmp/scim-load-profile.txt")
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--postgres", help="profile on a fresh database on this PostgreSQL server instead of SQLite")
    parser.add_argument("--idle", action="store_true", help="sample waiting (locks, I/O) too, not only CPU")
    parser.add_argument("--group", default="5000", choices=("10", "5000"), help="group_patch.lua: which group")
    args = parser.parse_args()
    database = postgres_database(args.postgres) if args.postgres else sqlite_database()
    with database as url, tempfile.TemporaryDirectory(prefix="scim-load-") as directory:
        data = Path(directory)
        token, groups = load(url, data)
        workload = next(w for w in workloads(groups, data)
                        if w.script == args.script and w.env.get("BENCH_SPARE") in (None, f"spare_{args.group}.txt"))
        env = {"BENCH_TOKEN": token, "BENCH_DATA": str(data), "BENCH_THREADS": str(THREADS)}
        with gunicorn("wsgi:app", {"SCIM_DATABASE_URL": url}) as (base, master):
            run_wrk(base, workload, env, 2)
            driver = threading.Thread(target=run_wrk, args=(base, workload, env, args.seconds + 4))
            driver.start()
            worker = worker_pids(master)[0]
            idle = ["--idle"] if args.idle else []
            subprocess.run([str(VENV_BIN / "py-spy"), "record", "--pid", str(worker), "--duration", str(args.seconds),
                            "--format", "raw", "--output", args.out, "--nonblocking", *idle], check=True)
            driver.join()
    summarize(Path(args.out), args.top)


if __name__ == "__main__":
    main()



