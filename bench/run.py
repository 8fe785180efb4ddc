"""Benchmark: Socket.io WebSocket echo through Caddy (TLS) vs. straight to the socket server, and
the time from "services started" to "both hostnames healthy", on the e2e site.

Run as root from the repository root: .venv/bin/python -m bench.run
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import tempfile
from pathlib import Path

from model import ports
from testbed.site import HOSTNAMES, ROOT, SOCKET_HOST, Site, running_site

ROUND_TRIPS = 2000
MESSAGES = 20000
WINDOW = 32
BOOTS = 3


def echo_bench(site: Site, url: str) -> dict[str, float]:
    result = subprocess.run(
        ["ip", "netns", "exec", site.pair.server, "node", str(ROOT / "bench/socketio-bench.js"), url,
         str(ROUND_TRIPS), str(MESSAGES), str(WINDOW)],
        capture_output=True, text=True, check=True, timeout=600,
        env={**os.environ, "NODE_PATH": str(ROOT / "tests/tools/node_modules"),
             "NODE_EXTRA_CA_CERTS": str(site.ca_file)},
    )  # fmt: skip
    figures: dict[str, float] = json.loads(result.stdout)
    return figures


def main() -> None:
    with tempfile.TemporaryDirectory() as scratch, running_site(Path(scratch)) as site:
        # On the server itself, the hostnames resolve to loopback: Caddy's own cost, no network.
        hosts = Path("/etc/netns") / site.pair.server
        hosts.mkdir(parents=True)
        (hosts / "hosts").write_text("".join(f"127.0.0.1 {host}\n" for host in ("localhost", *HOSTNAMES)))
        try:
            direct = echo_bench(site, f"http://127.0.0.1:{ports.SOCKET_SERVER.port}")
            caddy = echo_bench(site, f"https://{SOCKET_HOST}")
        finally:
            shutil.rmtree(hosts, ignore_errors=True)
        boots = [site.seconds_to_healthy]
        for _ in range(BOOTS - 1):
            site.shut_down()
            site.boot()
            boots.append(site.seconds_to_healthy)

    print(f"Socket.io echo over WebSocket: {ROUND_TRIPS} sequential round trips, {MESSAGES} with {WINDOW} in flight")
    print(f"{'path':<26}{'p50 ms':>9}{'p99 ms':>9}{'msg/s':>10}")
    for name, figures in (("direct ws://127.0.0.1:3001", direct), ("Caddy wss:// (TLS)", caddy)):
        print(f"{name:<26}{figures['p50_ms']:>9.3f}{figures['p99_ms']:>9.3f}{figures['messages_per_second']:>10.0f}")
    print(
        f"Caddy/direct: p50 x{caddy['p50_ms'] / direct['p50_ms']:.2f}, p99 x{caddy['p99_ms'] / direct['p99_ms']:.2f}, "
        f"throughput x{caddy['messages_per_second'] / direct['messages_per_second']:.2f}"
    )
    print(f"services started -> both hostnames healthy: median {statistics.median(boots):.2f} s over {BOOTS} boots "
          f"({', '.join(f'{b:.2f}' for b in boots)})")  # fmt: skip


if __name__ == "__main__":
    main()
