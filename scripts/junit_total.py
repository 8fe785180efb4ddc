"""The closing line of a run made of several pytest runs: their JUnit XML reports summed as
`tests: N passed, N failed, N skipped` (errors count as failed)."""

from __future__ import annotations

import sys
import xml.etree.ElementTree as ElementTree
from collections.abc import Sequence


def total(reports: Sequence[str]) -> tuple[int, int, int]:
    passed = failed = skipped = 0
    for report in reports:
        for suite in ElementTree.parse(report).getroot().iter("testsuite"):
            tests, failures, errors, skips = (
                int(suite.get(key, "0")) for key in ("tests", "failures", "errors", "skipped")
            )
            passed += tests - failures - errors - skips
            failed += failures + errors
            skipped += skips
    return passed, failed, skipped


def main(argv: Sequence[str]) -> int:
    passed, failed, skipped = total(argv)
    print(f"tests: {passed} passed, {failed} failed, {skipped} skipped")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
