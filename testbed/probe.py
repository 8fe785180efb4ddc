"""Listens on, or probes, TCP and UDP ports; run inside a network namespace by the tests.

probe.py listen TCP_PORTS UDP_PORTS          accept TCP, echo UDP, until killed
probe.py check HOST SOURCE TCP_PORTS UDP_PORTS   print {"tcp/22": "open", ...} as JSON
"""

from __future__ import annotations

import json
import selectors
import socket
import sys

# The host answered "port unreachable": the firewall let the packet in and nothing listens.
REFUSED = "refused"


# A STUN binding request: echoed by the listener above, answered by a TURN/STUN server.
STUN_BINDING_REQUEST = b"\x00\x01\x00\x00\x21\x12\xa4\x42" + bytes(range(12))


def ports(text: str) -> list[int]:
    return [int(p) for p in text.split(",") if p]


def listen(tcp_ports: list[int], udp_ports: list[int]) -> None:
    selector = selectors.DefaultSelector()
    # Dual-stack sockets: the IPv4 and IPv6 firewalls are probed against the same listeners.
    for port in tcp_ports:
        server = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        server.bind(("::", port))
        server.listen()
        selector.register(server, selectors.EVENT_READ, "tcp")
    for port in udp_ports:
        server = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        server.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        server.bind(("::", port))
        selector.register(server, selectors.EVENT_READ, "udp")
    print("ready", flush=True)
    while True:
        for key, _ in selector.select():
            sock: socket.socket = key.fileobj  # type: ignore[assignment]
            if key.data == "tcp":
                connection, _ = sock.accept()
                connection.close()
            else:
                data, peer = sock.recvfrom(2048)
                sock.sendto(data, peer)


def check(host: str, source: str, tcp_ports: list[int], udp_ports: list[int]) -> dict[str, str]:
    verdicts: dict[str, str] = {}
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    for port in tcp_ports:
        with socket.socket(family, socket.SOCK_STREAM) as client:
            client.bind((source, 0))
            client.settimeout(2)
            try:
                client.connect((host, port))
                verdicts[f"tcp/{port}"] = "open"
            except ConnectionRefusedError:
                verdicts[f"tcp/{port}"] = REFUSED
            except OSError as error:
                verdicts[f"tcp/{port}"] = f"filtered ({error.__class__.__name__}: {error.strerror})"
    for port in udp_ports:
        with socket.socket(family, socket.SOCK_DGRAM) as client:
            client.bind((source, 0))
            client.settimeout(1)
            try:
                client.sendto(STUN_BINDING_REQUEST, (host, port))
                client.recvfrom(2048)
                verdicts[f"udp/{port}"] = "open"
            except ConnectionRefusedError:
                verdicts[f"udp/{port}"] = REFUSED
            except OSError as error:
                verdicts[f"udp/{port}"] = f"filtered ({error.__class__.__name__}: {error.strerror})"
    return verdicts


if __name__ == "__main__":
    if sys.argv[1] == "listen":
        listen(ports(sys.argv[2]), ports(sys.argv[3]))
    else:
        print(json.dumps(check(sys.argv[2], sys.argv[3], ports(sys.argv[4]), ports(sys.argv[5]))))
