"""The rendered host brought up for real: a server namespace (the VM) and a client namespace (a
browser on the internet, plus Cloudflare's proxy at its own address), real Caddy, livekit-server
and the reference socket server, real clients.

The origin lock is on, as in prod: browsers reach 80/443 only through the edge stand-in, and
LiveKit media goes straight to the server's public address.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from model import ports
from testbed import voice_load
from testbed.pki import make_pki
from testbed.site import (
    API_KEY,
    API_SECRET,
    BROWSER,
    EDGE,
    HOSTNAMES,
    LIVEKIT_HOST,
    MEDIA_PROBE_PORTS,
    METRICS_TOKEN,
    ROOT,
    SERVER,
    SOCKET_HOST,
    Site,
    running_site,
)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    with running_site(tmp_path_factory.mktemp("e2e")) as booted:
        yield booted


# --- the checks, each usable before and after a reboot ------------------------------------------


def check_https_health(site: Site) -> None:
    for host in HOSTNAMES:
        answer = site.python("client.py", "get", f"https://{host}/healthz")
        assert answer["status"] == 200, f"https://{host}/healthz through Caddy answered {answer}"
    for path in ("/metrics", "/metrics/", "/metrics/anything"):
        internal = site.python("client.py", "get", f"https://{SOCKET_HOST}{path}")
        assert internal["status"] == 404, f"the socket server's {path} is reachable through Caddy: {internal}"
    for wrong in ("", "x" * 48, METRICS_TOKEN[:-1]):
        refused = site.python("client.py", "get", f"https://{SOCKET_HOST}/metrics", env={"BEARER_TOKEN": wrong})
        assert refused["status"] == 404, f"/metrics answered a wrong token: {refused}"
    metrics = site.python("client.py", "get", f"https://{SOCKET_HOST}/metrics", env={"BEARER_TOKEN": METRICS_TOKEN})
    assert metrics["status"] == 200 and "socket" in str(metrics["body"]).lower(), f"the dashboard's route: {metrics}"


def check_socketio(site: Site) -> None:
    node_env = {"NODE_EXTRA_CA_CERTS": str(site.ca_file), "NODE_PATH": str(ROOT / "tests/tools/node_modules")}
    for transport in ("polling", "websocket"):
        answer = site.client(
            "node", str(ROOT / "tests/tools/socketio-client.js"), f"https://{SOCKET_HOST}", transport, env=node_env
        )
        assert answer["connected"] and answer["usedTransport"] == transport, f"socket.io over {transport}: {answer}"
        assert answer["echoed"] == {"hello": transport}, f"echo over {transport} did not round-trip: {answer}"
    upgrade = site.python("client.py", "upgrade", f"https://{SOCKET_HOST}/socket.io/?EIO=4&transport=websocket")
    assert upgrade["alpn"] == "http/1.1"
    assert str(upgrade["status_line"]).startswith("HTTP/1.1 101"), f"WebSocket upgrade over HTTP/1.1: {upgrade}"
    for version, expected in (("http1", "HTTP/1.1"), ("http2", "HTTP/2")):
        session = site.python("client.py", "polling", f"https://{SOCKET_HOST}", version)
        assert session["http_version"] == expected, f"long-polling asked for {version}: {session}"
        assert session["connected"], f"namespace connect over {version} failed: {session}"
        assert session["ack"] == f'431[{{"over":"{version}"}}]', f"echo ack over {version}: {session}"


def block_in_client(site: Site, protocol: str, port: str | None = None) -> list[str]:
    rule = ["OUTPUT", "-d", SERVER, "-p", protocol, *(["--dport", port] if port else []), "-j", "REJECT"]
    site.pair.run(site.pair.client, "iptables", "-I", *rule)
    return rule


def livekit_call(site: Site, blocked: tuple[str, str | None]) -> dict[str, object]:
    rule = block_in_client(site, *blocked)
    try:
        return site.python(
            "livekit_call.py", f"wss://{LIVEKIT_HOST}", API_KEY, API_SECRET, env={"SSL_CERT_FILE": str(site.ca_file)}
        )
    finally:
        site.pair.run(site.pair.client, "iptables", "-D", *rule)


def check_livekit_media_over_udp(site: Site) -> None:
    # With RTC over TCP blocked, the frames can only have come over UDP.
    answer = livekit_call(site, ("tcp", str(ports.LIVEKIT_RTC_TCP.first)))
    assert answer["ok"], f"LiveKit audio over UDP to {SERVER}: {answer}\n{site.logs()}"


def check_livekit_media_falls_back_to_tcp(site: Site) -> None:
    answer = livekit_call(site, ("udp", None))
    assert answer["ok"], f"LiveKit audio over TCP {ports.LIVEKIT_RTC_TCP.first} with UDP blocked: {answer}"


def check_gate_verifies_the_served_certificate(site: Site, scratch: Path) -> None:
    """release.sh's own gate, real curl against real Caddy: the release's certificate passes, another fails."""
    passed = site.pair.run(site.pair.server, "sh", str(site.release / "release.sh"), "gate", check=False)
    assert passed.returncode == 0, f"the gate failed against the release's own certificate: {passed.stderr}"
    impostor = scratch / "releases" / site.release.name
    shutil.copytree(site.release, impostor, ignore=shutil.ignore_patterns("secrets"))
    (impostor / "origin.pem").write_text(make_pki(HOSTNAMES).certificate_pem)
    failed = site.pair.run(site.pair.server, "sh", str(impostor / "release.sh"), "gate", check=False)
    assert failed.returncode != 0, "the gate passed although Caddy serves another certificate"
    assert "waiting for https://" in failed.stderr


ADMIN_PROBE = f"http://127.0.0.1:{ports.CADDY_HEALTH.port}/config/"


def check_exposure(site: Site) -> None:
    internal = [port.port for port in ports.INTERNAL_PORTS]
    web = [ports.HTTP.first, ports.HTTPS.first]
    from_browser = site.probe(BROWSER, [ports.SSH.first, ports.LIVEKIT_RTC_TCP.first, *web, *internal], [])
    for port in (ports.SSH.first, ports.LIVEKIT_RTC_TCP.first):
        assert from_browser[f"tcp/{port}"] == "open", f"tcp/{port} from the internet: {from_browser[f'tcp/{port}']}"
    for port in [*web, *internal]:
        assert from_browser[f"tcp/{port}"] != "open", f"tcp/{port} must not answer a browser directly"
    # On the host itself: Caddy's admin API is off; its loopback health site answers the health check.
    health = site.pair.run(
        site.pair.server, "curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", ADMIN_PROBE, check=False
    )
    assert health.stdout == "404", f"Caddy's admin API answered {ADMIN_PROBE}: {health.stdout}"
    healthy = site.pair.run(site.pair.server, "curl", "-sf", f"http://127.0.0.1:{ports.CADDY_HEALTH.port}/health")
    assert healthy.stdout == "OK"
    from_edge = site.probe(EDGE, [*web, *internal], [])
    for port in web:
        assert from_edge[f"tcp/{port}"] == "open", f"tcp/{port} from the Cloudflare stand-in: {from_edge}"
    for port in internal:
        assert from_edge[f"tcp/{port}"] != "open", f"tcp/{port} is internal, yet reachable from the edge"
    # The media range answers through echo stand-ins; TURN answers a STUN binding request itself.
    media = [*MEDIA_PROBE_PORTS, ports.TURN_UDP.first]
    udp = site.probe(BROWSER, [], [*media, ports.LIVEKIT_RTC_UDP.last + 1])
    for port in media:
        assert udp[f"udp/{port}"] == "open", f"udp/{port} from the internet: {udp[f'udp/{port}']}"
    assert udp[f"udp/{ports.LIVEKIT_RTC_UDP.last + 1}"].startswith("filtered"), "UDP outside the table is open"


# --- the named tests ----------------------------------------------------------------------------


def test_1_https_health_of_both_hostnames_through_caddy(site: Site) -> None:
    check_https_health(site)


def test_2_socketio_polling_and_websocket_over_http1_and_http2(site: Site) -> None:
    check_socketio(site)


def test_2b_the_edge_check_passes_through_the_edge_and_names_a_certificate_fault(site: Site, tmp_path: Path) -> None:
    """scripts/edge-check from outside, as the watch workflow and `up` run it."""

    check = [str(ROOT / "scripts" / "edge-check"), "--socket", SOCKET_HOST, "--livekit", LIVEKIT_HOST]

    def edge_check(ca_file: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["ip", "netns", "exec", site.pair.client, *check],
            env={**os.environ, "SSL_CERT_FILE": str(ca_file)},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    passed = edge_check(site.ca_file)
    assert passed.returncode == 0, passed.stdout + passed.stderr
    assert passed.stdout.count("ok ") == 4, passed.stdout
    assert f"wss://{SOCKET_HOST}/socket.io/" in passed.stdout and f"wss://{LIVEKIT_HOST}/rtc" in passed.stdout
    other_ca = tmp_path / "other-ca.pem"
    other_ca.write_text(make_pki(HOSTNAMES).ca_pem)
    failed = edge_check(other_ca)
    assert failed.returncode == 1
    lines = failed.stdout.splitlines()
    assert len(lines) == 4 and all(line.startswith("FAILED") and "CERTIFICATE_VERIFY_FAILED" in line for line in lines)


def test_3a_livekit_participants_exchange_audio_over_udp(site: Site) -> None:
    check_livekit_media_over_udp(site)


def test_3b_livekit_falls_back_to_tcp_when_udp_is_blocked(site: Site) -> None:
    check_livekit_media_falls_back_to_tcp(site)


def test_3c_the_capacity_benchmark_measures_a_room_of_voices(site: Site, livekit_client: str) -> None:
    """The benchmark's own machinery on one small step, so that its figures keep meaning something."""
    figures = voice_load.step(voice_load.site_target(site), livekit_client, 0, rooms=1, payload=80, measure_seconds=5)
    assert voice_load.verdict(figures) == "", f"one room of voices is past the limit: {figures}"
    room = voice_load.ROOM_SIZE
    assert figures["tracks"] == room * (room - 1), figures
    # Every participant hears the others' 50 packets a second; the window's edges may cut one.
    heard = int(str(figures["received_packets"]))
    assert heard >= room * (room - 1) * voice_load.PACKETS_PER_SECOND * 5 * 0.95, figures
    assert 0 < float(str(figures["server_cpu_percent"])) < 100, figures


def test_4_only_the_ports_table_is_exposed_and_web_only_to_the_edge(site: Site) -> None:
    check_exposure(site)


def test_4a_nothing_listens_on_udp_443_that_the_firewall_does_not_manage(site: Site) -> None:
    listening = site.pair.run(site.pair.server, "ss", "-Hulnp").stdout
    https = ports.HTTPS.first
    assert not [line for line in listening.splitlines() if f":{https} " in line], f"UDP {https} is open:\n{listening}"


def test_4c_every_service_runs_without_capabilities_it_does_not_need(site: Site) -> None:
    """As the engine runs them: all capabilities dropped, no new privileges, and each process's
    effective set is what the compose file adds back."""
    added = {"caddy": {"CAP_NET_BIND_SERVICE", "CAP_DAC_READ_SEARCH"}, "livekit": {"CAP_DAC_READ_SEARCH"}}
    for service, container in site.containers().items():
        config = site.engine.docker(
            "inspect", "--format", "{{json .HostConfig.CapDrop}} {{json .HostConfig.SecurityOpt}}", container
        ).stdout.split()
        assert config == ['["ALL"]', '["no-new-privileges:true"]'], (service, config)
        status = Path(f"/proc/{site.service_pid(service)}/status").read_text()
        effective = int(next(line for line in status.splitlines() if line.startswith("CapEff:")).split()[1], 16)
        assert effective.bit_count() == len(added.get(service, set())), (service, hex(effective))
        assert "NoNewPrivs:\t1" in status, service


def test_4b_the_health_gate_verifies_the_certificate_caddy_serves(site: Site, tmp_path: Path) -> None:
    check_gate_verifies_the_served_certificate(site, tmp_path)


def test_5_after_a_reboot_everything_comes_back_from_what_is_persisted(site: Site) -> None:
    site.shut_down()
    down = site.probe(EDGE, [ports.HTTPS.first], [])
    assert down[f"tcp/{ports.HTTPS.first}"] != "open", "the shutdown left Caddy answering"
    site.boot()
    check_https_health(site)
    check_socketio(site)
    check_livekit_media_over_udp(site)
    check_livekit_media_falls_back_to_tcp(site)
    check_exposure(site)
