"""One step of voice load on a LiveKit (the e2e site's, or the cluster's): rooms of 8 where everyone
publishes Opus-sized audio, 50 packets a second, and hears the 7 others, from the pion-based load
generator (`livekit-client load`) through Caddy, with the server's CPU over exactly the measuring
window. Used by the e2e suite and by bench/livekit_capacity.py, which steps it up."""

from __future__ import annotations

import json
import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from testbed.cpu import CLIENT_CORE, CLOCK_TICKS, SERVER_CORE, cpu_seconds
from testbed.livekit_call import token
from testbed.site import API_KEY, API_SECRET, LIVEKIT_HOST, Site

ROOM_SIZE = 8
PACKETS_PER_SECOND = 50
MEASURE_SECONDS = 20
LOSS_LIMIT = 0.01
LATENCY_LIMIT_MS = 100.0


def core_busy_seconds(core: str) -> float:
    """Everything the core did but idle, interrupts and softirq included (the network stack's share)."""
    for line in Path("/proc/stat").read_text().splitlines():
        if line.startswith(f"cpu{core} "):
            ticks = [int(value) for value in line.split()[1:]]
            return (sum(ticks[:8]) - ticks[3] - ticks[4]) / CLOCK_TICKS
    raise LookupError(f"no cpu{core} in /proc/stat")


@dataclass(frozen=True)
class LoadTarget:
    """Where the generator runs and what it joins: its namespace, the CA it trusts, LiveKit's URL
    and keys, and the livekit-server process whose CPU is measured."""

    namespace: str
    ca_file: Path
    url: str
    api_key: str
    api_secret: str
    server_pid: int


def site_target(site: Site) -> LoadTarget:
    return LoadTarget(
        site.pair.client, site.ca_file, f"wss://{LIVEKIT_HOST}", API_KEY, API_SECRET, site.service_pid("livekit")
    )


def step(
    target: LoadTarget,
    generator: str,
    step_number: int,
    rooms: int,
    payload: int,
    measure_seconds: int = MEASURE_SECONDS,
) -> dict[str, object]:
    server_pid = target.server_pid
    tokens = [
        token(target.api_key, target.api_secret, f"r{room}-p{person}", room=f"step{step_number}-room{room}")
        for room in range(rooms)
        for person in range(ROOM_SIZE)
    ]
    tracks = rooms * ROOM_SIZE * (ROOM_SIZE - 1)
    command = ["ip", "netns", "exec", target.namespace, "taskset", "-c", CLIENT_CORE, generator, "load",
               "-tracks", str(tracks), "-payload", str(payload), "-measure", f"{measure_seconds}s",
               target.url]  # fmt: skip
    environment = {**os.environ, "SSL_CERT_FILE": str(target.ca_file)}
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
