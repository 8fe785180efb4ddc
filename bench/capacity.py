"""Benchmark: how many Socket.io users one core carries, on the e2e site with the TypeScript
fixture (rooms, a relayed position update), through Caddy's TLS.

The server's processes (socket server and Caddy) are pinned to one core and the load generator
to the other, so the figures are per server core. Steps up the number of users until the p99
delivery latency passes 100 ms, a message is lost, or a client cannot connect.

Run as root from the repository root: .venv/bin/python -m bench.capacity
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from testbed.cpu import CLIENT_CORE, SERVER_CORE, cpu_seconds, pin_to_server_core
from testbed.site import HOSTNAMES, ROOT, SOCKET_HOST, Site, running_site

FIXTURE = ROOT / "tests/fixtures/ts-socket-server"
ROOM_SIZE = 8
RATE_PER_USER = 10
SECONDS = 10
STEPS = (64, 128, 160, 192, 224, 256, 320, 384)
LATENCY_LIMIT_MS = 100.0


def client_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def step(site: Site, users: int, server_pids: list[int]) -> dict[str, object]:
    before, client_before, started = cpu_seconds(server_pids), client_cpu_seconds(), time.monotonic()
    command = ["ip", "netns", "exec", site.pair.server, "taskset", "-c", CLIENT_CORE, "node",
               str(ROOT / "bench/socketio-fanout.js"), f"https://{SOCKET_HOST}", str(users), str(ROOM_SIZE),
               str(RATE_PER_USER), str(SECONDS)]  # fmt: skip
    environment = {**os.environ, "NODE_PATH": str(ROOT / "tests/tools/node_modules"),
                   "NODE_EXTRA_CA_CERTS": str(site.ca_file)}  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, env=environment)
    figures: dict[str, object] = json.loads(result.stdout.strip().splitlines()[-1]) if result.stdout else {}
    elapsed = time.monotonic() - started
    figures["server_cpu_percent"] = 100 * (cpu_seconds(server_pids) - before) / elapsed
    figures["client_cpu_percent"] = 100 * (client_cpu_seconds() - client_before) / elapsed
    if result.returncode != 0:
        figures["failure"] = result.stderr[-500:]
    return figures


def main() -> None:
    with tempfile.TemporaryDirectory() as scratch, running_site(Path(scratch), source=FIXTURE) as site:
        hosts = Path("/etc/netns") / site.pair.server
        hosts.mkdir(parents=True)
        (hosts / "hosts").write_text("".join(f"127.0.0.1 {host}\n" for host in ("localhost", *HOSTNAMES)))
        server_pids = [site.service_pid(name) for name in ("socket-server", "caddy")]
        for pid in server_pids:
            pin_to_server_core(pid)
        rows = []
        try:
            for users in STEPS:
                figures = step(site, users, server_pids)
                rows.append(figures)
                print(json.dumps(figures), flush=True)
                p99 = figures.get("p99_ms")
                delivered, expected = figures.get("delivered_per_second", 0), figures.get("expected_per_second", 1)
                errors = figures.get("errors")
                lost = isinstance(delivered, float) and isinstance(expected, float) and delivered < 0.99 * expected
                erred = isinstance(errors, dict) and any(errors.values())
                failed = "failure" in figures or figures.get("connected") != users or erred
                if failed or lost or not isinstance(p99, float) or p99 > LATENCY_LIMIT_MS:
                    break
        finally:
            shutil.rmtree(hosts, ignore_errors=True)
    print(f"machine: {os.cpu_count()} cores; server pinned to core {SERVER_CORE}, load generator to {CLIENT_CORE}")
    print(f"rooms of {ROOM_SIZE}, {RATE_PER_USER} updates/s per user relayed to the room, {SECONDS} s per step")
    print(f"{'users':>6}{'sent/s':>9}{'delivered/s':>13}{'p50 ms':>8}{'p99 ms':>8}{'server CPU %':>14}"
          f"{'client CPU %':>14}")  # fmt: skip
    for row in rows:
        print(f"{row.get('users', 0):>6}{float(str(row.get('sent_per_second', 0))):>9.0f}"
              f"{float(str(row.get('delivered_per_second', 0))):>13.0f}{float(str(row.get('p50_ms') or 0)):>8.1f}"
              f"{float(str(row.get('p99_ms') or 0)):>8.1f}{float(str(row['server_cpu_percent'])):>14.0f}"
              f"{float(str(row['client_cpu_percent'])):>14.0f}")  # fmt: skip


if __name__ == "__main__":
    main()
