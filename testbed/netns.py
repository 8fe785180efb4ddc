"""Throwaway network namespaces joined by a veth pair: test hosts that exist only on this machine."""

from __future__ import annotations

import ctypes
import os
import subprocess
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")
CLONE_NEWNET = 0x40000000

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


def made_in(namespace: str, make: Callable[[], T]) -> T:
    """`make()` run by a thread that joined the network namespace: a socket it makes stays in the
    namespace, whichever thread then serves it (a server here, listening there)."""
    made: list[T] = []
    failed: list[BaseException] = []

    def joined() -> None:
        try:
            descriptor = os.open(f"/var/run/netns/{namespace}", os.O_RDONLY)
            try:
                if ctypes.CDLL(None, use_errno=True).setns(descriptor, CLONE_NEWNET) != 0:
                    raise OSError(ctypes.get_errno(), f"setns into {namespace}")
            finally:
                os.close(descriptor)
            made.append(make())
        except BaseException as error:  # raised again in the caller's thread
            failed.append(error)

    thread = threading.Thread(target=joined)
    thread.start()
    thread.join()
    if failed:
        raise failed[0]
    return made[0]


@contextmanager
def hosts_file(namespace: str, names: dict[str, str]) -> Iterator[None]:
    """/etc/hosts as `ip netns exec <namespace>` shows it: `names` (hostname -> address) resolve there."""
    folder = Path("/etc/netns") / namespace
    folder.mkdir(parents=True)
    try:
        lines = "".join(f"{address} {name}\n" for name, address in names.items())
        (folder / "hosts").write_text(f"127.0.0.1 localhost\n{lines}")
        yield
    finally:
        (folder / "hosts").unlink(missing_ok=True)
        folder.rmdir()
