"""How long the whole program takes to evaluate under mocks, against the floor of importing the
provider packages, each in a fresh interpreter, in one run.

    .venv/bin/python -m bench.mock_eval
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time

RUNS = 5
FLOOR = "import pulumi, pulumi_oci, pulumi_cloudflare, pulumi_command, pulumi_tls, pulumi_random, pulumiverse_vercel"
PROGRAM = "from testbed.mocks import run_program; run_program('prod'); run_program('prod', preview=True)"


def median_seconds(code: str) -> float:
    timings = []
    for _ in range(RUNS):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)
        timings.append(time.perf_counter() - started)
    return statistics.median(timings)


def main() -> None:
    floor = median_seconds(FLOOR)
    program = median_seconds(PROGRAM)
    print(f"import of the provider packages (floor): {floor:.2f} s (median of {RUNS})")
    print(f"program under mocks, update + preview:   {program:.2f} s (median of {RUNS})")
    print(f"the program's own share:                 {program - floor:.2f} s")


if __name__ == "__main__":
    main()
