"""TURN/TLS for networks that let only 443 out, brought up for real: LiveKit's TURN/TLS listener
behind the host firewall's split of 443 (Cloudflare's ranges to Caddy, everyone else to TURN), a
certificate from a test CA standing in for the public one.

The publisher is the real client SDK on the host; the listener is a pion/webrtc client (the stack
of LiveKit's Go SDK), since libwebrtc in the Python SDK trusts only its built-in roots for TURN/TLS
and so cannot be shown a test CA (docs/architecture.md, "TURN/TLS").
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from model import ports
from render.firewall import REDIRECT_CHAIN
from testbed.site import API_KEY, API_SECRET, BROWSER, EDGE, HERE, LIVEKIT_HOST, SERVER, SOCKET_HOST, Site, running_site


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    with running_site(tmp_path_factory.mktemp("turn"), turn_tls=True) as booted:
        yield booted


@pytest.fixture(scope="module")
def subscriber(livekit_client: str) -> list[str]:
    return [livekit_client, "subscribe"]


@contextmanager
def publisher(site: Site) -> Iterator[str]:
    """The real SDK publishing a tone on the host; yields a listener's token for the same room."""
    signaling = f"ws://127.0.0.1:{ports.LIVEKIT_SIGNALING.port}"
    process = site.pair.popen(
        site.pair.server,
        [sys.executable, str(HERE / "livekit_publish.py"), signaling, API_KEY, API_SECRET, "listener"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    assert process.stdin is not None and process.stdout is not None
    try:
        assert process.stdout.readline().strip() == b"publishing", f"the publisher did not start\n{site.logs()}"
        yield process.stdout.readline().decode().strip()
    finally:
        process.stdin.close()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()


def redirected_connections(site: Site) -> int:
    listing = site.pair.run(site.pair.server, "iptables", "-t", "nat", "-L", REDIRECT_CHAIN, "-v", "-n", "-x").stdout
    return sum(int(line.split()[0]) for line in listing.splitlines() if "redir ports" in line)


@contextmanager
def only_tcp_443_and_signaling(site: Site) -> Iterator[None]:
    """The client's network blocks UDP and RTC over TCP to the server: what is left is 443."""
    blocked = [
        ["OUTPUT", "-d", SERVER, "-p", "udp", "-j", "REJECT"],
        ["OUTPUT", "-d", SERVER, "-p", "tcp", "--dport", str(ports.LIVEKIT_RTC_TCP.first), "-j", "REJECT"],
    ]
    for rule in blocked:
        site.pair.run(site.pair.client, "iptables", "-I", *rule)
    try:
        yield
    finally:
        for rule in blocked:
            site.pair.run(site.pair.client, "iptables", "-D", *rule)


def test_a_client_that_may_reach_only_443_joins_through_turn_tls_and_receives_media(
    site: Site, subscriber: list[str], tmp_path: Path
) -> None:
    assert site.turn_ca_file is not None
    trusted = tmp_path / "trusted.pem"
    trusted.write_text(site.ca_file.read_text() + site.turn_ca_file.read_text())
    before = redirected_connections(site)
    with only_tcp_443_and_signaling(site), publisher(site) as token:
        answer = site.client(*subscriber, f"wss://{LIVEKIT_HOST}", token, env={"SSL_CERT_FILE": str(trusted)})
    assert answer["ok"], f"no media through TURN/TLS with UDP and {ports.LIVEKIT_RTC_TCP.first} blocked: {answer}"
    assert (answer["candidateType"], answer["relayProtocol"]) == ("relay", "tls"), f"not relayed over TLS: {answer}"
    assert redirected_connections(site) > before, "the media did not come through 443's redirect"


def test_without_the_ca_the_turn_certificate_is_refused(site: Site, subscriber: list[str]) -> None:
    """The client really checks TURN/TLS's certificate: trusting only the origin's CA, it gets no media."""
    with only_tcp_443_and_signaling(site), publisher(site) as token:
        answer = site.client(
            *subscriber, "-timeout", "15s", f"wss://{LIVEKIT_HOST}", token, env={"SSL_CERT_FILE": str(site.ca_file)}
        )
    assert not answer["ok"] and answer["packets"] == 0, f"media over an unverified TURN/TLS certificate: {answer}"


def served_certificate(site: Site, server_name: str) -> str:
    fetch = (
        "import socket, ssl, sys; c = ssl.create_default_context(); c.check_hostname = False; "
        "c.verify_mode = ssl.CERT_NONE; s = c.wrap_socket(socket.create_connection((sys.argv[1], 443), 5), "
        "server_hostname=sys.argv[2]); print(ssl.DER_cert_to_PEM_cert(s.getpeercert(True)))"
    )
    return site.pair.run(site.pair.client, sys.executable, "-c", fetch, SERVER, server_name).stdout


def test_443_is_caddy_for_the_edge_and_turn_for_everyone_else(site: Site) -> None:
    # Through the edge stand-in (Cloudflare's ranges): Caddy with the origin certificate.
    answer = site.python("client.py", "get", f"https://{SOCKET_HOST}/healthz")
    assert answer["status"] == 200, f"Caddy through the edge: {answer}"
    # Straight from a browser's address, whatever name it asks for: TURN's certificate, never Caddy's.
    turn_pem = (site.release / "secrets" / "turn-certificate.pem").read_text()
    origin_pem = (site.release / "origin.pem").read_text()
    for name in (SOCKET_HOST, LIVEKIT_HOST):
        served = served_certificate(site, name)
        assert served.strip() and served.strip() in turn_pem, f"443 from {BROWSER} asking for {name} got: {served}"
        assert served.strip() not in origin_pem
    # The listener itself, and everything else internal, stays closed to the browser and the edge.
    internal = [port.port for port in ports.INTERNAL_PORTS]
    for source in (BROWSER, EDGE):
        verdicts = site.probe(source, [ports.HTTP.first, *internal] if source == BROWSER else internal, [])
        for port, verdict in verdicts.items():
            assert verdict != "open", f"{port} answers {source} directly"
