"""What a test run must leave as it found it, as sorted lines to compare: running processes (the
services among them), listening sockets, iptables rules, mounts and network namespaces of the
machine's own (initial) namespaces. Standard library only; run as root to see every process.

    python3 -m scripts.machine_state --run PID > before.txt

Processes: init's children (services, daemons, orphans) and those of the run PID (the one taking
the picture), not the run itself, its ancestors or the picturing process. A process counts only
if it is still there a moment later.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

PROC = Path("/proc")
TCP_LISTEN = "0A"
UDP_BOUND = "07"
SETTLE_SECONDS = 2.0


def _parents() -> dict[int, int]:
    parents: dict[int, int] = {}
    for entry in PROC.iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            parents[int(entry.name)] = int(fields[1])
    return parents


def _lineage(pid: int, parents: dict[int, int]) -> set[int]:
    """The process and its ancestors, init aside."""
    lineage: set[int] = set()
    while pid > 1:
        lineage.add(pid)
        pid = parents.get(pid, 0)
    return lineage


def _descendants(pid: int, parents: dict[int, int]) -> set[int]:
    found: set[int] = set()
    grew = True
    while grew:
        children = {child for child, parent in parents.items() if parent in found | {pid} and child not in found}
        found |= children
        grew = bool(children)
    return found


def _processes(run: int | None) -> dict[int, str]:
    """What a run can leave behind: the machine's daemons and orphans (init's children: services,
    and whatever outlived its parent), and the run's own processes other than the one picturing.
    Another program's passing children (a shell's `sleep`) are not the run's to answer for."""
    parents = _parents()
    me = _lineage(os.getpid(), parents)
    run_line = _lineage(run, parents) if run else set()
    counted = {pid for pid, parent in parents.items() if parent == 1} - run_line
    if run:
        counted |= _descendants(run, parents) - me
    found: dict[int, str] = {}
    for pid in counted:
        try:
            argv = (PROC / str(pid) / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if argv and argv[0]:
            found[pid] = "process " + " ".join(part.decode(errors="replace") for part in argv if part)[:200]
    return found


def processes(run: int | None) -> list[str]:
    first = _processes(run)
    time.sleep(SETTLE_SECONDS)
    second = _processes(run)
    return [line for pid, line in second.items() if first.get(pid) == line]


def _socket_lines(table: str, state: str) -> Iterator[str]:
    path = PROC / "net" / table
    if not path.exists():
        return
    for row in path.read_text().splitlines()[1:]:
        fields = row.split()
        if fields[3] == state:
            address, port = fields[1].rsplit(":", 1)
            yield f"listen {table} {address}:{int(port, 16)}"


def sockets() -> list[str]:
    return [
        *(line for table in ("tcp", "tcp6") for line in _socket_lines(table, TCP_LISTEN)),
        *(line for table in ("udp", "udp6") for line in _socket_lines(table, UDP_BOUND)),
    ]


def firewall() -> list[str]:
    lines: list[str] = []
    for command in ("iptables-save", "ip6tables-save"):
        if shutil.which(command) is None:
            continue
        dump = subprocess.run([command], capture_output=True, text=True, check=False).stdout
        for line in dump.splitlines():
            if line.startswith(("#", "COMMIT")) or not line.strip():
                continue
            # Chain policies carry packet counters; the rule is what counts.
            lines.append(f"{command} {line.split(' [', 1)[0]}")
    # A table with no rule left is as good as none (iptables-save lists what was ever loaded).
    return [line for line in lines if not line.split(" ", 1)[1].startswith("*")]


def mounts() -> list[str]:
    return [
        f"mount {fields[4]} {fields[fields.index('-') + 1]}"
        for fields in (line.split() for line in (PROC / "self" / "mountinfo").read_text().splitlines())
    ]


def namespaces() -> list[str]:
    folder = Path("/run/netns")
    return sorted(f"netns {entry.name}" for entry in folder.iterdir()) if folder.is_dir() else []


def state(run: int | None) -> list[str]:
    return sorted([*processes(run), *sockets(), *firewall(), *mounts(), *namespaces()])


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=int, help="the run taking the picture: its own processes count, not it")
    arguments = parser.parse_args(argv)
    sys.stdout.write("".join(f"{line}\n" for line in state(arguments.run)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
