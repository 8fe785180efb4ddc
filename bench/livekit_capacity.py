"""Benchmark: how many voice participants one core of livekit-server carries, on the e2e site or
(`--cluster`) on the cluster kind's workloads in the test cluster (LiveKit in its pod on the node's
network, signaling through Caddy's pod).

Rooms of 8 where everyone speaks and hears everyone else (the heaviest shape a conversation takes
in a space): every participant publishes one Opus-sized audio track, 50 packets a second, and is
subscribed to the 7 others. The load generator is the pion-based client (`livekit-client load`,
LiveKit's Go SDK stack): signaling through Caddy, media over UDP through the host firewall, as a
browser's would go. livekit-server is pinned to one core, and held to half of it, and the generator
to the other (see SERVER_SHARE). Steps up the number of rooms until more than 1% of packets are
lost, p99 delivery latency passes 100 ms, or a participant or track is missing.

Run as root from the repository root:
  LIVEKIT_SERVER=$(scripts/build-livekit-server) LIVEKIT_CLIENT=$(scripts/build-livekit-client) \
    .venv/bin/python -m bench.livekit_capacity [--cluster] [--payload BYTES] [ROOMS ...]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from testbed.cluster import single_node_cluster
from testbed.cluster_stack import deployed_workloads
from testbed.cpu import CLIENT_CORE, SERVER_CORE, pin_to_server_core
from testbed.site import running_site
from testbed.voice_load import MEASURE_SECONDS, PACKETS_PER_SECOND, ROOM_SIZE, LoadTarget, site_target, step, verdict

STEPS = (1, 2, 3, 4, 5, 6, 7, 8, 10)
# livekit-server gets this share of its core (a CFS quota), so that the generator, which spends
# about as much CPU per packet as the server does, keeps headroom on its whole core: the limit
# found is the server's. Figures per core are the measured ones divided by it.
SERVER_SHARE = 0.5
CFS_PERIOD_US = 10_000
CGROUP = Path("/sys/fs/cgroup/cpu/flowspace-livekit-bench")


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


@contextmanager
def load_target(on_cluster: bool, scratch: Path) -> Iterator[LoadTarget]:
    if on_cluster:
        (scratch / "cluster").mkdir()
        with (
            single_node_cluster(scratch / "cluster") as cluster,
            deployed_workloads(cluster, scratch / "stack") as stack,
        ):
            yield stack.load_target()
    else:
        with running_site(scratch) as site:
            yield site_target(site)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--payload", type=int, default=80, help="bytes per packet (80: voice; ~1,100: video-sized)")
    parser.add_argument("--cluster", action="store_true", help="measure the cluster kind's LiveKit pod")
    parser.add_argument("rooms", type=int, nargs="*", help=f"the numbers of rooms to step through (default {STEPS})")
    arguments = parser.parse_args()
    generator = os.environ.get("LIVEKIT_CLIENT", "")
    assert generator and Path(generator).exists(), "LIVEKIT_CLIENT: build it with scripts/build-livekit-client"
    with tempfile.TemporaryDirectory() as scratch, load_target(arguments.cluster, Path(scratch)) as target:
        server_pid = target.server_pid
        pin_to_server_core(server_pid)
        rows = []
        with cpu_share(server_pid, SERVER_SHARE):
            for number, rooms in enumerate(arguments.rooms or STEPS):
                figures = step(target, generator, number, rooms, arguments.payload)
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
