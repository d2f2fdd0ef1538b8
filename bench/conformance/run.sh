#!/usr/bin/env bash
# `make conformance`: the public SCIM testers, scim2-tester and scim-sanity, and schemathesis driven by the server's
# own /openapi.json, against this server as it runs in production (gunicorn via `scim-server serve`), on a fresh
# SQLite database in a temporary directory, on a free 127.0.0.1 port. Prints each tester's findings and totals.
# Each tester is installed from PyPI, at the version pinned below, into a virtualenv of its own under
# $SCIM_CONFORMANCE_CACHE (default .cache/conformance, git-ignored): they stay out of the project's environment and
# out of each other's, and PyPI is needed only the first time. Failures that are tester bugs are explained in
# docs/conformance.md; a failure not explained there, or a traceback in the server log, fails the run.
set -uo pipefail
cd "$(dirname "$0")/../.."
BIN=${BIN:-.venv/bin}
HERE=bench/conformance
CACHE=${SCIM_CONFORMANCE_CACHE:-.cache/conformance}
SCIM2_TESTER=${SCIM2_TESTER_VERSION:-0.5.2}
SCIM_SANITY=${SCIM_SANITY_VERSION:-0.7.4}
SCHEMATHESIS=${SCHEMATHESIS_VERSION:-4.32.5}

# tester_venv NAME REQUIREMENT: the virtualenv's path, created and installed once per name and requirement.
tester_venv() {
  local venv="$CACHE/$1"
  if [ "$(cat "$venv/.installed" 2>/dev/null)" != "$2" ]; then
    rm -rf "$venv"
    mkdir -p "$CACHE"
    echo "installing $2 into $venv" >&2
    { "${PYTHON:-python3}" -m venv "$venv" && "$venv/bin/python" -m pip install -q "$2"; } >"$venv.log" 2>&1 || {
      echo "could not install $2 into $venv:" >&2
      tail -n 20 "$venv.log" >&2
      return 1
    }
    echo "$2" >"$venv/.installed"
  fi
  echo "$venv"
}

scim2_tester_venv=$(tester_venv scim2-tester "scim2-tester[httpx2]==$SCIM2_TESTER") || exit 1
scim_sanity_venv=$(tester_venv scim-sanity "scim-sanity==$SCIM_SANITY") || exit 1
schemathesis_venv=$(tester_venv schemathesis "schemathesis==$SCHEMATHESIS") || exit 1

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
admin_key=$("$BIN/scim-server" admin-key create --label conformance 2>/dev/null | tail -n 1)
[ -n "$admin_key" ] || { echo "could not create an admin key" >&2; exit 1; }

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

echo "== scim2-tester $SCIM2_TESTER against $base"
"$scim2_tester_venv/bin/python" "$HERE/run_scim2_tester.py" "$base" "$token" | tee "$work/scim2-tester.out"
echo "== scim-sanity $SCIM_SANITY (strict) against $base"
"$scim_sanity_venv/bin/python" "$HERE/run_scim_sanity.py" "$base" "$token" | tee "$work/scim-sanity.out"

echo "== schemathesis $SCHEMATHESIS (no 5xx, responses match /openapi.json) against http://127.0.0.1:$port"
"$schemathesis_venv/bin/python" "$HERE/run_schemathesis.py" "http://127.0.0.1:$port" "$token" "$admin_key" "$work" \
  | tee "$work/schemathesis.out"

echo "== conformance totals"
"$BIN/python" "$HERE/gate.py" "$work" docs/conformance.md
status=$?
if grep -q Traceback "$work/server.log"; then
  echo "== the server logged $(grep -c Traceback "$work/server.log") traceback(s); the last one:"
  awk '/Traceback/ {block = ""} {block = block $0 "\n"} END {printf "%s", block}' "$work/server.log" | tail -n 30
  status=1
fi
exit $status
