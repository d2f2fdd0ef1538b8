"""Run scim-sanity's `probe` in strict mode against a SCIM server; run with the tester's own interpreter.

    python run_scim_sanity.py BASE_URL TOKEN

The probe walks discovery, the User and Group lifecycles with PATCH, search and pagination, and error handling,
creating and deleting resources. Prints each failing check and the tool's issues, then exactly "N passed, M failed"
as the last line: warnings count as passed, skipped phases (its own Agent extension resource types) are not counted.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

PASSED = {"pass", "warn", "warning"}
FAILED = {"fail", "error"}


def main() -> int:
    base_url, token = sys.argv[1], sys.argv[2]
    cli = Path(sys.executable).parent / "scim-sanity"
    probe = subprocess.run(
        [str(cli), "probe", base_url, "--token", token, "--strict", "--i-accept-side-effects", "--json-output",
         "--timeout", "30"],
        capture_output=True, text=True, check=False,
    )
    try:
        report = json.loads(probe.stdout)
    except ValueError as error:
        print(f"scim-sanity gave no JSON report (exit {probe.returncode}): {error}")
        print(probe.stderr[-2000:])
        print("0 passed, 1 failed")
        return 1
    results = report.get("results", [])
    for result in results:
        if result["status"] not in ("pass", "skip"):
            print(f"  {result['status'].upper():5} {result['name']}: {result.get('message', '')[:300]}")
    for issue in report.get("issues", []):
        print(f"  issue {issue.get('priority')}: {issue.get('title')} ({issue.get('affected_tests')} tests)")
    passed = sum(result["status"] in PASSED for result in results)
    failed = sum(result["status"] in FAILED for result in results)
    skipped = sum(result["status"] == "skip" for result in results)
    print(f"mode: {report.get('mode')}, tool summary: {report.get('summary')}, skipped: {skipped}")
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
