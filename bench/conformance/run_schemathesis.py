"""Run schemathesis against the live server's /openapi.json; run with the tester's own interpreter.

    python run_schemathesis.py ORIGIN SCIM_TOKEN ADMIN_KEY WORK_DIR

Two runs, one per credential: the SCIM API and the probes with the tenant's token, the admin API with the admin
key. The checks are the ones the document promises: no 5xx (`not_a_server_error`), and every response matches the
document (`response_schema_conformance`); a 4xx for random input is fine. Prints each failing operation as
`FAIL METHOD PATH [CODE]: title`, then exactly "N passed, M failed" over the operations tested as the last line.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

CHECKS = "not_a_server_error,response_schema_conformance"
MAX_EXAMPLES = "10"  # per operation and phase: a bounded smoke run, not an exhaustive one
RUN_SECONDS = 300
SUITES = (("scim", r"^/(scim/v2|healthz|readyz)", 1), ("admin", r"^/admin/v1", 2))


def main() -> int:
    origin, secrets, work = sys.argv[1], sys.argv[2:4], Path(sys.argv[4])
    cli = Path(sys.executable).parent / "st"
    tested, failing, lines = 0, set(), []
    for name, paths, credential in SUITES:
        report = work / f"schemathesis-{name}.json"
        command = [str(cli), "--no-color", "run", f"{origin}/openapi.json", "--url", origin,
                   "-H", f"Authorization: Bearer {secrets[credential - 1]}", "--include-path-regex", paths,
                   "--checks", CHECKS, "--max-examples", MAX_EXAMPLES, "--workers", "1", "--request-timeout", "30",
                   "--seed", "21", "--report", "json", "--report-json-path", str(report)]
        try:
            # In the run's directory: schemathesis keeps a cache folder in its working directory.
            run = subprocess.run(command, capture_output=True, text=True, timeout=RUN_SECONDS, check=False, cwd=work)
        except subprocess.TimeoutExpired:
            lines.append(f"  ERROR {name} run: did not finish in {RUN_SECONDS}s")
            failing.add(name)
            continue
        (work / f"schemathesis-{name}.log").write_text(run.stdout + run.stderr)
        if not report.exists():
            lines.append(f"  ERROR {name} run: no report (exit {run.returncode}): {run.stderr.strip()[-300:]}")
            failing.add(name)
            continue
        result = json.loads(report.read_text())
        if not result.get("operations"):  # the document could not be loaded: nothing was tested
            lines.append(f"  ERROR {name} run: nothing tested (exit {run.returncode}): {run.stdout.strip()[-300:]}")
            failing.add(name)
            continue
        tested += result["operations"]["tested"]
        for failure in result["failures"]:
            for operation in failure["operations"]:
                lines.append(f"  FAIL  {operation} [{failure['code']}]: {failure['title']}")
                failing.add(operation)
        for error in result["errors"]:
            lines.append(f"  ERROR {name} run: {json.dumps(error)[:300]}")
            failing.add(name)
    for line in lines:
        print(line)
    print(f"{max(tested - len(failing), 0)} passed, {len(failing)} failed")
    return 1 if failing else 0


if __name__ == "__main__":
    sys.exit(main())
