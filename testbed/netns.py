"""Throwaway network namespaces joined by a veth pair: test hosts that exist only on this machine."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

# The stock iptables rules of Oracle's Ubuntu images (/etc/iptables/rules.v4), the baseline of a VM.
ORACLE_RULES = Path(__file__).parent / "fixtures" / "oracle-ubuntu-rules.v4"


def sh(*args: str, check: bool = True, input_text: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, check=check, capture_output=True, text=True, input=input_text)


@dataclass(frozen=True)
class Pair:
    server: str
    client: str
    server_ip: str
    client_ips: tuple[str, ...]

    def run(
        self, namespace: str, *args: str, check: bool = True, input_text: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        return sh("ip", "netns", "exec", namespace, *args, check=check, input_text=input_text)

    def popen(self, namespace: str, args: Sequence[str], **kwargs: object) -> subprocess.Popen[bytes]:
        return subprocess.Popen(["ip", "netns", "exec", namespace, *args], **kwargs)  # type: ignore[call-overload, no-any-return]


@contextmanager
def namespace_pair(
    tag: str, client_ips: Sequence[str] = ("192.0.2.2",), server_ip: str = "192.0.2.1"
) -> Iterator[Pair]:
    suffix = f"{tag}-{os.getpid()}"
    pair = Pair(f"fs-srv-{suffix}", f"fs-cli-{suffix}", server_ip, tuple(client_ips))
    veth_server, veth_client = f"fs{os.getpid() % 100000}s{tag[:2]}", f"fs{os.getpid() % 100000}c{tag[:2]}"
    try:
        sh("ip", "netns", "add", pair.server)
        sh("ip", "netns", "add", pair.client)
        sh(
            "ip",
            "link",
            "add",
            veth_server,
            "netns",
            pair.server,
            "type",
            "veth",
            "peer",
            "name",
            veth_client,
            "netns",
            pair.client,
        )
        pair.run(pair.server, "ip", "addr", "add", f"{server_ip}/24", "dev", veth_server)
        for address in client_ips:
            pair.run(pair.client, "ip", "addr", "add", f"{address}/24", "dev", veth_client)
        for namespace, device in ((pair.server, veth_server), (pair.client, veth_client)):
            pair.run(namespace, "ip", "link", "set", device, "up")
            pair.run(namespace, "ip", "link", "set", "lo", "up")
        yield pair
    finally:
        for namespace in (pair.server, pair.client):
            pids = sh("ip", "netns", "pids", namespace, check=False).stdout.split()
            for pid in pids:
                sh("kill", "-9", pid, check=False)
            sh("ip", "netns", "del", namespace, check=False)
