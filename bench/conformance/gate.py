"""Decide a conformance run: every failing check must be explained in docs/conformance.md.

    python bench/conformance/gate.py OUTPUT_DIR docs/conformance.md

OUTPUT_DIR holds each tester's output as `<tester>.out`. A failing check passes the gate only when the document's
"Tester errors" table has a row `| tester | `check` | reason |` for it; a tester that did not finish fails it.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

TESTERS = ("scim2-tester", "scim-sanity", "schemathesis")
FAILING_LINE = re.compile(r"^  (?:ERROR|CRITICAL|FAIL)\s+(.+?): ")
EXPLAINED_ROW = re.compile(r"^\| *([\w-]+) *\| *`([^`]+)` *\|", re.M)


def main() -> int:
    output, document = Path(sys.argv[1]), Path(sys.argv[2]).read_text()
    explained = set(EXPLAINED_ROW.findall(document))
    unexplained = []
    for tester in TESTERS:
        path = output / f"{tester}.out"
        lines = path.read_text().splitlines() if path.exists() else []
        failing = [match[1] for line in lines if (match := FAILING_LINE.match(line))]
        known = [check for check in failing if (tester, check) in explained]
        unexplained += [f"{tester}: {check}" for check in failing if (tester, check) not in explained]
        total = lines[-1] if lines else "no result"
        print(f"{tester}: {total} ({len(known)} of the failures are tester errors explained in docs/conformance.md)")
        if not re.fullmatch(r"\d+ passed, \d+ failed", total):
            unexplained.append(f"{tester}: did not finish")
    for entry in unexplained:
        print(f"  not explained: {entry}")
    return 1 if unexplained else 0


if __name__ == "__main__":
    sys.exit(main())
