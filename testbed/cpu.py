"""CPU accounting for the benchmarks on the e2e site: the server's processes pinned to one core,
the load generator to the other, and the CPU seconds either spent."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

SERVER_CORE, CLIENT_CORE = "0", "1"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total / CLOCK_TICKS


def pin_to_server_core(pid: int) -> None:
    """Every thread of the process, present and future, runs on the server's core only."""
    subprocess.run(["taskset", "-a", "-p", "-c", SERVER_CORE, str(pid)], check=True, capture_output=True)
