"""Run python-scim's scim2-tester (`check_server`) against a SCIM server; run with the tester's own interpreter.

    python run_scim2_tester.py BASE_URL TOKEN

`check_server` reads the server's discovery endpoints, then checks creation, reads, replacement, PATCH add/remove/
replace, attribute queries and deletion for each resource type it found. Prints each failing check (ERROR, CRITICAL)
and each DEVIATION (a SHOULD not followed, counted as passed), then exactly "N passed, M failed" as the last line.
"""

from __future__ import annotations

import sys
from collections import Counter

from httpx2 import Client
from scim2_client.engines.httpx2 import SyncSCIMClient
from scim2_tester import Status, check_server

PASSED = {Status.SUCCESS, Status.COMPLIANT, Status.ACCEPTABLE, Status.DEVIATION}
FAILED = {Status.ERROR, Status.CRITICAL}


def main() -> int:
    base_url, token = sys.argv[1].rstrip("/"), sys.argv[2]
    http = Client(base_url=base_url, headers={"Authorization": f"Bearer {token}"}, timeout=30)
    results = check_server(SyncSCIMClient(http))
    counts = Counter(result.status for result in results)
    for result in results:
        if result.status in FAILED or result.status == Status.DEVIATION:
            where = f"[{result.resource_type}] " if result.resource_type else ""
            reason = (result.reason or "").replace("\n", " ")[:300]
            print(f"  {result.status.name:9} {where}{result.title}: {reason}")
    passed = sum(counts[status] for status in PASSED)
    failed = sum(counts[status] for status in FAILED)
    # Without a usable /ResourceTypes and /Schemas the tester stops after discovery: that is a failure of the server.
    if not any(result.resource_type for result in results):
        print("  ERROR     discovery: no resource type was checked")
        failed += 1
    by_value = sorted(counts.items(), key=lambda item: item[0].value)
    print("statuses: " + ", ".join(f"{status.name}={n}" for status, n in by_value))
    print(f"skipped: {counts[Status.SKIPPED]}, deviations (counted as passed): {counts[Status.DEVIATION]}")
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
