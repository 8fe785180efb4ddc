"""What a test run must leave as it found it, as sorted lines to compare: running processes (the
services among them), listening sockets, iptables rules, mounts and network namespaces of the
machine's own (initial) namespaces. Standard library only; run as root to see every process.

    python3 -m scripts.machine_state --outside PID > before.txt

`--outside PID` leaves out that process's own tree and its ancestors (the run taking the picture).
A process counts only if it is still there a moment later, so a passing cron job or probe does not.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

PROC = Path("/proc")
KERNEL_THREADS_PARENT = 2
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


def _family(pid: int, parents: dict[int, int]) -> set[int]:
    """The process, its descendants and its ancestors (init aside)."""
    family = {pid}
    grew = True
    while grew:
        children = {child for child, parent in parents.items() if parent in family and child not in family}
        family |= children
        grew = bool(children)
    ancestor = parents.get(pid, 0)
    while ancestor > 1:
        family.add(ancestor)
        ancestor = parents.get(ancestor, 0)
    return family


def _processes(outside: int | None) -> dict[int, str]:
    parents = _parents()
    skipped = _family(outside, parents) if outside else set()
    found: dict[int, str] = {}
    for pid, parent in parents.items():
        if pid in skipped or pid == KERNEL_THREADS_PARENT or parent == KERNEL_THREADS_PARENT:
            continue
        try:
            argv = (PROC / str(pid) / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if argv and argv[0]:
            found[pid] = "process " + " ".join(part.decode(errors="replace") for part in argv if part)[:200]
    return found


def processes(outside: int | None) -> list[str]:
    first = _processes(outside)
    time.sleep(SETTLE_SECONDS)
    second = _processes(outside)
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


def state(outside: int | None) -> list[str]:
    return sorted([*processes(outside), *sockets(), *firewall(), *mounts(), *namespaces()])


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--outside", type=int, help="leave out this process's tree and ancestors")
    arguments = parser.parse_args(argv)
    sys.stdout.write("".join(f"{line}\n" for line in state(arguments.outside)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
