"""Benchmark: how many voice participants one core of livekit-server carries, on the e2e site.

Rooms of 8 where everyone speaks and hears everyone else (the heaviest shape a conversation takes
in a space): every participant publishes one Opus-sized audio track, 50 packets a second, and is
subscribed to the 7 others. The load generator is the pion-based client (`livekit-client load`,
LiveKit's Go SDK stack): signaling through Caddy, media over UDP through the host firewall, as a
browser's would go. livekit-server is pinned to one core, and held to half of it, and the generator
to the other (see SERVER_SHARE). Steps up the number of rooms until more than 1% of packets are
lost, p99 delivery latency passes 100 ms, or a participant or track is missing.

Run as root from the repository root:
  LIVEKIT_SERVER=$(scripts/build-livekit-server) LIVEKIT_CLIENT=$(scripts/build-livekit-client) \
    .venv/bin/python -m bench.livekit_capacity [--payload BYTES] [ROOMS ...]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bench.capacity import CLIENT_CORE, CLOCK_TICKS, SERVER_CORE, cpu_seconds, pin_to_server_core
from testbed.livekit_call import token
from testbed.site import API_KEY, API_SECRET, LIVEKIT_HOST, Site, running_site

ROOM_SIZE = 8
PACKETS_PER_SECOND = 50
STEPS = (1, 2, 3, 4, 5, 6, 7, 8, 10)
MEASURE_SECONDS = 20
LOSS_LIMIT = 0.01
# livekit-server gets this share of its core (a CFS quota), so that the generator, which spends
# about as much CPU per packet as the server does, keeps headroom on its whole core: the limit
# found is the server's. Figures per core are the measured ones divided by it.
SERVER_SHARE = 0.5
CFS_PERIOD_US = 10_000
CGROUP = Path("/sys/fs/cgroup/cpu/flowspace-livekit-bench")
LATENCY_LIMIT_MS = 100.0


def core_busy_seconds(core: str) -> float:
    """Everything the core did but idle, interrupts and softirq included (the network stack's share)."""
    for line in Path("/proc/stat").read_text().splitlines():
        if line.startswith(f"cpu{core} "):
            ticks = [int(value) for value in line.split()[1:]]
            return (sum(ticks[:8]) - ticks[3] - ticks[4]) / CLOCK_TICKS
    raise LookupError(f"no cpu{core} in /proc/stat")


@contextmanager
def cpu_share(pid: int, share: float) -> Iterator[None]:
    """Confines the process to `share` of one core with a CFS quota (cgroup v1 cpu controller)."""
    if not CGROUP.parent.is_dir():
        raise SystemExit(f"the benchmark holds livekit-server to part of a core with {CGROUP.parent} (cgroup v1's "
                         "cpu controller), which this machine does not mount")  # fmt: skip
    CGROUP.mkdir(exist_ok=True)
    try:
        (CGROUP / "cpu.cfs_period_us").write_text(str(CFS_PERIOD_US))
        (CGROUP / "cpu.cfs_quota_us").write_text(str(int(share * CFS_PERIOD_US)))
        (CGROUP / "cgroup.procs").write_text(str(pid))
        yield
    finally:
        for task in (CGROUP / "tasks").read_text().split():
            Path("/sys/fs/cgroup/cpu/tasks").write_text(task)
        CGROUP.rmdir()


def livekit_pid(site: Site) -> int:
    return site.service_pid("livekit")


def step(
    site: Site,
    generator: str,
    step_number: int,
    rooms: int,
    payload: int,
    measure_seconds: int = MEASURE_SECONDS,
) -> dict[str, object]:
    server_pid = livekit_pid(site)
    tokens = [
        token(API_KEY, API_SECRET, f"r{room}-p{person}", room=f"step{step_number}-room{room}")
        for room in range(rooms)
        for person in range(ROOM_SIZE)
    ]
    tracks = rooms * ROOM_SIZE * (ROOM_SIZE - 1)
    command = ["ip", "netns", "exec", site.pair.client, "taskset", "-c", CLIENT_CORE, generator, "load",
               "-tracks", str(tracks), "-payload", str(payload), "-measure", f"{measure_seconds}s",
               f"wss://{LIVEKIT_HOST}"]  # fmt: skip
    environment = {**os.environ, "SSL_CERT_FILE": str(site.ca_file)}
    process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=environment)
    assert process.stdin is not None and process.stdout is not None
    # Tokens on stdin: they are secrets, and a command line is not.
    process.stdin.write("".join(f"{line}\n" for line in tokens))
    process.stdin.close()
    # The CPU figures cover exactly the generator's measuring window.
    marks: dict[str, tuple[float, float, float, float]] = {}
    figures: dict[str, object] = {"failure": "the generator printed no report"}
    for line in process.stdout:
        if line.strip() in ("measuring", "measured"):
            marks[line.strip()] = (cpu_seconds([server_pid]), core_busy_seconds(SERVER_CORE),
                                   cpu_seconds([process.pid]), time.monotonic())  # fmt: skip
        elif line.startswith("{"):
            figures = json.loads(line)
    process.wait(timeout=60)
    figures |= {"rooms": rooms, "expected_tracks": tracks}
    if len(marks) == 2:
        (server0, core0, generator0, start), (server1, core1, generator1, end) = marks["measuring"], marks["measured"]
        figures |= {
            "server_cpu_percent": 100 * (server1 - server0) / (end - start),
            "server_core_percent": 100 * (core1 - core0) / (end - start),
            "generator_cpu_percent": 100 * (generator1 - generator0) / (end - start),
        }
    return figures


def verdict(figures: dict[str, object]) -> str:
    """Why this step is past what one core carries; empty while it is not."""
    expected = int(str(figures.get("expected_packets", 0)))
    lost = 1 - int(str(figures.get("received_packets", 0))) / expected if expected else 1.0
    if "failure" in figures or figures.get("errors"):
        return f"errors: {figures.get('failure') or figures.get('errors')}"
    if figures.get("tracks") != figures["expected_tracks"]:
        return f"{figures.get('tracks')} of {figures['expected_tracks']} tracks received"
    if lost > LOSS_LIMIT:
        return f"{100 * lost:.1f}% of packets lost"
    if float(str(figures.get("p99_ms", 0))) > LATENCY_LIMIT_MS:
        return f"p99 {figures.get('p99_ms')} ms"
    return ""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--payload", type=int, default=80, help="bytes per packet (80: voice; ~1,100: video-sized)")
    parser.add_argument("rooms", type=int, nargs="*", help=f"the numbers of rooms to step through (default {STEPS})")
    arguments = parser.parse_args()
    generator = os.environ.get("LIVEKIT_CLIENT", "")
    assert generator and Path(generator).exists(), "LIVEKIT_CLIENT: build it with scripts/build-livekit-client"
    with tempfile.TemporaryDirectory() as scratch, running_site(Path(scratch)) as site:
        server_pid = livekit_pid(site)
        pin_to_server_core(server_pid)
        rows = []
        with cpu_share(server_pid, SERVER_SHARE):
            for number, rooms in enumerate(arguments.rooms or STEPS):
                figures = step(site, generator, number, rooms, arguments.payload)
                figures["verdict"] = verdict(figures)
                rows.append(figures)
                print(json.dumps(figures), flush=True)
                if figures["verdict"]:
                    break
                time.sleep(5)  # the last step's participants have left before the next joins
    print(f"machine: {os.cpu_count()} cores; livekit-server pinned to core {SERVER_CORE}, generator to {CLIENT_CORE}")
    print(f"rooms of {ROOM_SIZE}, everyone publishing {PACKETS_PER_SECOND} audio packets/s of {arguments.payload} "
          f"bytes to the {ROOM_SIZE - 1} others; livekit-server held to {SERVER_SHARE:.0%} of its core, "
          f"{MEASURE_SECONDS} s measured per step")  # fmt: skip
    print(f"{'people':>7}{'forwarded pkt/s':>17}{'loss %':>8}{'p50 ms':>8}{'p99 ms':>8}{'server CPU %':>14}"
          f"{'core busy %':>13}{'generator %':>13}  verdict")  # fmt: skip
    for row in rows:
        seconds = float(str(row.get("seconds") or 1))
        expected = int(str(row.get("expected_packets") or 0))
        received = int(str(row.get("received_packets") or 0))
        loss = 100 * (1 - received / expected) if expected else 100.0
        print(f"{int(str(row['rooms'])) * ROOM_SIZE:>7}{received / seconds:>17,.0f}{loss:>8.2f}"
              f"{float(str(row.get('p50_ms') or 0)):>8.1f}{float(str(row.get('p99_ms') or 0)):>8.1f}"
              f"{float(str(row.get('server_cpu_percent') or 0)):>14.0f}"
              f"{float(str(row.get('server_core_percent') or 0)):>13.0f}"
              f"{float(str(row.get('generator_cpu_percent') or 0)):>13.0f}  {row['verdict']}")  # fmt: skip
    carried = [row for row in rows if not row["verdict"]]
    if carried:
        last = carried[-1]
        per_core = int(str(last["received_packets"])) / float(str(last["seconds"])) / SERVER_SHARE
        # Without a failing step, the limit was not reached: what passed is a floor.
        bound = "about" if rows[-1]["verdict"] else "at least"
        print(f"one core: {bound} {per_core:,.0f} forwarded packets/s "
              f"({int(str(last['rooms'])) * ROOM_SIZE / SERVER_SHARE:.0f} people in rooms of {ROOM_SIZE})")  # fmt: skip


if __name__ == "__main__":
    main()
