"""The rendered host brought up for real: a server namespace (the VM) and a client namespace (a
browser on the internet, plus Cloudflare's proxy at its own address), real Caddy, livekit-server
and the reference socket server, real clients.

The origin lock is on, as in prod: browsers reach 80/443 only through the edge stand-in, and
LiveKit media goes straight to the server's public address.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from components import ports
from render.release import (
    ReleaseSettings,
    read_socket_server_source,
    release_id,
    render_plain_files,
    render_secret_files,
)
from tests.e2e.pki import make_pki
from tests.e2e.stack import Programs, Stack
from tests.netns import Pair, namespace_pair
from tests.tools import require, require_root, require_tool

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).parent
PROBE = ROOT / "tests/probe.py"
ORACLE_RULES = ROOT / "tests/render/fixtures/oracle-ubuntu-rules.v4"
SERVER, BROWSER, EDGE = "192.0.2.1", "192.0.2.2", "192.0.2.3"
SOCKET_HOST, LIVEKIT_HOST = "space-socket.flow-coder.com", "space-livekit.flow-coder.com"
HOSTNAMES = (SOCKET_HOST, LIVEKIT_HOST)
API_KEY, API_SECRET = "APIe2etestkey", "e2e-secret-" + "s" * 40
HEALTHY_WITHIN_SECONDS = 60
MEDIA_PROBE_PORTS = (ports.LIVEKIT_RTC_UDP.first, 55555, ports.LIVEKIT_RTC_UDP.last)


@dataclass
class Site:
    pair: Pair
    stack: Stack
    release: Path
    firewall_script: Path
    ca_file: Path
    edge_relays: list[subprocess.Popen[bytes]]

    def client(self, *args: str, env: dict[str, str] | None = None, timeout: int = 90) -> dict[str, object]:
        """Runs a command in the client namespace and parses the JSON it prints."""
        result = subprocess.run(
            ["ip", "netns", "exec", self.pair.client, *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            env={**os.environ, "TEST_CA_FILE": str(self.ca_file), **(env or {})},
        )
        lines = result.stdout.strip().splitlines()
        assert lines, f"{' '.join(args[:3])} printed nothing:\n{result.stderr[-3000:]}\n{self.stack.logs()}"
        parsed: dict[str, object] = json.loads(lines[-1])
        return parsed

    def python(self, script: str, *args: str, env: dict[str, str] | None = None) -> dict[str, object]:
        return self.client(sys.executable, str(HERE / script), *args, env=env)

    def probe(self, source: str, tcp: list[int], udp: list[int]) -> dict[str, str]:
        verdicts = self.client(
            sys.executable, str(PROBE), "check", SERVER, source, ",".join(map(str, tcp)), ",".join(map(str, udp))
        )
        return {key: str(value) for key, value in verdicts.items()}

    def boot(self) -> None:
        """What a boot of the VM does: the image's saved rules, our firewall unit, the compose stack."""
        self.pair.run(self.pair.server, "iptables-restore", input_text=ORACLE_RULES.read_text())
        applied = self.pair.run(self.pair.server, "sh", str(self.firewall_script), check=False)
        assert applied.returncode == 0, f"the persisted firewall script failed at boot: {applied.stderr}"
        self.stack.up()
        self.wait_until_healthy()

    def shut_down(self) -> None:
        self.stack.down()
        self.pair.run(self.pair.server, "iptables", "-F")
        self.pair.run(self.pair.server, "iptables", "-X")

    def wait_until_healthy(self) -> None:
        deadline = time.monotonic() + HEALTHY_WITHIN_SECONDS
        pending = list(HOSTNAMES)
        while pending and time.monotonic() < deadline:
            host = pending[0]
            try:
                answer = self.python("client.py", "get", f"https://{host}/healthz", "http1")
            except (AssertionError, json.JSONDecodeError):
                answer = {}
            if answer.get("status") == 200:
                pending.pop(0)
            else:
                time.sleep(0.5)
        assert not pending, f"{pending} not healthy within {HEALTHY_WITHIN_SECONDS} s\n{self.stack.logs()}"


def write_release(app: Path, firewall_script: Path, certificate_pem: str, key_pem: str) -> Path:
    """Lays the release out as the rollout does: plain files, then 0600 secrets, then `current`."""
    settings = ReleaseSettings(
        public_ip=SERVER,
        socket_hostname=SOCKET_HOST,
        livekit_hostname=LIVEKIT_HOST,
        certificate_pem=certificate_pem,
        ssh_cidrs=("0.0.0.0/0",),
        web_cidrs=(f"{EDGE}/32",),
        ocpus=2,
        memory_gb=12,
        socket_server_source=read_socket_server_source(ROOT / "files/socket-server"),
        firewall_script=str(firewall_script),
    )
    plain = render_plain_files(settings)
    secret = render_secret_files(API_KEY, API_SECRET, key_pem)
    release = app / "releases" / release_id(plain, secret)
    for name, content in plain.items():
        (release / name).parent.mkdir(parents=True, exist_ok=True)
        (release / name).write_text(content)
    (release / "secrets").mkdir(mode=0o700)
    for name, content in secret.items():
        (release / "secrets" / name).write_text(content)
        (release / "secrets" / name).chmod(0o600)
    (app / "current").symlink_to(release)
    firewall_script.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(release / "firewall.sh", firewall_script)
    return release


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    require_root()
    for tool in ("iptables-restore", "unshare", "node"):
        require_tool(tool)
    livekit_server = os.environ.get("LIVEKIT_SERVER", "")
    require(bool(livekit_server) and Path(livekit_server).exists(), "livekit-server not built")
    modules = ROOT / "files/socket-server/node_modules"
    require(modules.exists(), "socket server node_modules missing: npm ci in files/socket-server")
    require((ROOT / "tests/tools/node_modules/socket.io-client").exists(), "npm ci in tests/tools")

    scratch = tmp_path_factory.mktemp("e2e")
    pki = make_pki(HOSTNAMES)
    ca_file = scratch / "ca.pem"
    ca_file.write_text(pki.ca_pem)
    firewall_script = scratch / "sbin" / "flowspace-firewall"
    release = write_release(scratch / "flowspace", firewall_script, pki.certificate_pem, pki.key_pem)
    caddy = ROOT / ".venv/bin/caddy"
    programs = Programs(str(caddy if caddy.exists() else require_tool("caddy")), livekit_server, "node", modules)

    with namespace_pair("e2e", client_ips=(BROWSER, EDGE)) as pair:
        hosts_dir = Path("/etc/netns") / pair.client
        hosts_dir.mkdir(parents=True)
        (hosts_dir / "hosts").write_text("127.0.0.1 localhost\n" + "".join(f"{EDGE} {host}\n" for host in HOSTNAMES))
        # Stand-ins for sshd and for media sockets, so that "open" is an answer, not an inference.
        sshd = pair.popen(
            pair.server,
            [sys.executable, str(PROBE), "listen", str(ports.SSH.first), ",".join(map(str, MEDIA_PROBE_PORTS))],
            stdout=subprocess.PIPE,
        )
        relays = [
            pair.popen(
                pair.client,
                [sys.executable, str(HERE / "edge_relay.py"), EDGE, str(port), SERVER],
                stdout=subprocess.PIPE,
            )
            for port in (ports.HTTP.first, ports.HTTPS.first)
        ]
        for started in (sshd, *relays):
            assert started.stdout is not None and started.stdout.readline().strip() == b"ready"
        built = Site(pair, Stack(pair, release, programs, scratch), release, firewall_script, ca_file, relays)
        try:
            built.boot()
            yield built
        finally:
            built.stack.down()
            shutil.rmtree(hosts_dir, ignore_errors=True)


# --- the checks, each usable before and after a reboot ------------------------------------------


def check_https_health(site: Site) -> None:
    for host in HOSTNAMES:
        answer = site.python("client.py", "get", f"https://{host}/healthz")
        assert answer["status"] == 200, f"https://{host}/healthz through Caddy answered {answer}"


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
    assert answer["ok"], f"LiveKit audio over UDP to {SERVER}: {answer}\n{site.stack.logs()}"


def check_livekit_media_falls_back_to_tcp(site: Site) -> None:
    answer = livekit_call(site, ("udp", None))
    assert answer["ok"], f"LiveKit audio over TCP {ports.LIVEKIT_RTC_TCP.first} with UDP blocked: {answer}"


def check_exposure(site: Site) -> None:
    internal = [port.port for port in ports.INTERNAL_PORTS]
    web = [ports.HTTP.first, ports.HTTPS.first]
    from_browser = site.probe(BROWSER, [ports.SSH.first, ports.LIVEKIT_RTC_TCP.first, *web, *internal], [])
    for port in (ports.SSH.first, ports.LIVEKIT_RTC_TCP.first):
        assert from_browser[f"tcp/{port}"] == "open", f"tcp/{port} from the internet: {from_browser[f'tcp/{port}']}"
    for port in [*web, *internal]:
        assert from_browser[f"tcp/{port}"] != "open", f"tcp/{port} must not answer a browser directly"
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


def test_3a_livekit_participants_exchange_audio_over_udp(site: Site) -> None:
    check_livekit_media_over_udp(site)


def test_3b_livekit_falls_back_to_tcp_when_udp_is_blocked(site: Site) -> None:
    check_livekit_media_falls_back_to_tcp(site)


def test_4_only_the_ports_table_is_exposed_and_web_only_to_the_edge(site: Site) -> None:
    check_exposure(site)


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
