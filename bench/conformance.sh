#!/usr/bin/env bash
# `make conformance`: the public SCIM testers (scim2-tester, scim-sanity; runners in ../shared/tools) against this
# server as it runs in production (gunicorn via `scim-server serve`), on a fresh SQLite database in a temporary
# directory, on a free 127.0.0.1 port. Prints each tester's findings and totals.
# The runners create their own virtualenvs on first use (PyPI needed once). Failures that are tester bugs are
# explained in docs/conformance.md; a failure not explained there, or a traceback in the server log, fails the run.
set -uo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-.venv/bin}
RUNNERS=${SCIM_CONFORMANCE_RUNNERS:-../shared/tools}

work=$(mktemp -d)
server_pid=
stop() {
  if [ -n "$server_pid" ]; then
    kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
  fi
  rm -rf "$work"
}
trap stop EXIT

export SCIM_DATABASE_URL="sqlite:///$work/scim.db" SCIM_SECRET_KEY=conformance-$$ SCIM_LOG_LEVEL=WARNING SCIM_ACCESS_LOG=
port=$("$BIN/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
base="http://127.0.0.1:$port/scim/v2"

"$BIN/scim-server" init-db >/dev/null || exit 1
"$BIN/scim-server" tenant create conformance >/dev/null || exit 1
token=$("$BIN/scim-server" token create --tenant conformance --label conformance 2>/dev/null | tail -n 1)
[ -n "$token" ] || { echo "could not create a token" >&2; exit 1; }

# `serve` execs gunicorn, so $! is gunicorn's master: stopping it stops its workers.
"$BIN/scim-server" serve --bind "127.0.0.1:$port" >"$work/server.log" 2>&1 &
server_pid=$!
healthy() {
  "$BIN/python" -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=1)' \
    "http://127.0.0.1:$port/healthz" 2>/dev/null
}
for _ in $(seq 150); do
  healthy && break
  kill -0 "$server_pid" 2>/dev/null || break
  sleep 0.2
done
healthy || { echo "the server did not start:" >&2; cat "$work/server.log" >&2; exit 1; }

for tester in scim2-tester scim-sanity; do
  echo "== $tester against $base"
  "$RUNNERS/run-$tester.sh" "$base" "$token" | tee "$work/$tester.out"
done

echo "== conformance totals"
# A failing check passes the gate only when docs/conformance.md explains it (a row "| tester | `check` | …").
"$BIN/python" - "$work" docs/conformance.md <<'PY'
import re
import sys
from pathlib import Path

work, doc = Path(sys.argv[1]), Path(sys.argv[2]).read_text()
failing_line = re.compile(r"^  (?:ERROR|CRITICAL|FAIL)\s+(.+?): ")
explained_row = re.compile(r"^\| *([\w-]+) *\| *`([^`]+)` *\|", re.M)
explained = {(tester, check) for tester, check in explained_row.findall(doc)}
unexplained = []
for tester in ("scim2-tester", "scim-sanity"):
    lines = (work / f"{tester}.out").read_text().splitlines()
    failing = [match[1] for line in lines if (match := failing_line.match(line))]
    known = [check for check in failing if (tester, check) in explained]
    unexplained += [f"{tester}: {check}" for check in failing if (tester, check) not in explained]
    total = lines[-1] if lines else "no result"
    print(f"{tester}: {total} ({len(known)} of the failures are tester errors explained in docs/conformance.md)")
    if not re.fullmatch(r"\d+ passed, \d+ failed", total):
        unexplained.append(f"{tester}: did not finish")
for entry in unexplained:
    print(f"  not explained: {entry}")
sys.exit(1 if unexplained else 0)
PY
status=$?
if grep -q Traceback "$work/server.log"; then
  echo "== the server logged $(grep -c Traceback "$work/server.log") traceback(s); the last one:"
  awk '/Traceback/ {block = ""} {block = block $0 "\n"} END {printf "%s", block}' "$work/server.log" | tail -n 30
  status=1
fi
exit $status
