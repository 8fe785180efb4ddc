"""The e2e site: server and client namespaces, the rendered release, real services, a booted host.

Used by the e2e tests and by the benchmark.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from config.app import read_source_tree
from model import layout, ports
from model.ports import Ingress
from render.release import (
    AppSecrets,
    ReleaseSettings,
    TurnKeyPair,
    release_id,
    render_plain_files,
    render_secret_files,
)
from render.source_archive import unpack
from testbed.netns import ORACLE_RULES, Pair, namespace_pair
from testbed.pki import make_pki
from testbed.stack import Programs, Stack
from testbed.tools import require, require_root, require_tool

ROOT = Path(__file__).resolve().parents[1]
HERE = Path(__file__).parent
PROBE = HERE / "probe.py"
SERVER, BROWSER, EDGE = "192.0.2.1", "192.0.2.2", "192.0.2.3"
SOCKET_HOST, LIVEKIT_HOST = "space-socket.flow-coder.com", "space-livekit.flow-coder.com"
HOSTNAMES = (SOCKET_HOST, LIVEKIT_HOST)
# DNS-only: browsers reach it at the server's own address.
TURN_HOST = "space-turn.flow-coder.com"
API_KEY, API_SECRET = "APIe2etestkey", "e2e-secret-" + "s" * 40
METRICS_TOKEN = "e2eMetricsToken" + "m" * 40
HEALTHY_WITHIN_SECONDS = 60
MEDIA_PROBE_PORTS = (ports.LIVEKIT_RTC_UDP.first, 55555, ports.LIVEKIT_RTC_UDP.last)


@dataclass
class Site:
    pair: Pair
    stack: Stack
    release: Path
    firewall_script: Path
    ca_file: Path
    seconds_to_healthy: float = 0.0
    # The CA standing in for a public one behind TURN/TLS's certificate; None: TURN/TLS off.
    turn_ca_file: Path | None = None

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
        started = time.monotonic()
        self.stack.up()
        self.wait_until_healthy()
        self.seconds_to_healthy = time.monotonic() - started

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


REFERENCE_SERVER = ROOT / "files/socket-server"


def write_release(
    app: Path, firewall_script: Path, certificate_pem: str, key_pem: str, source: Path, turn: TurnKeyPair | None
) -> Path:
    """Lays the release out as the rollout does: plain files, then 0600 secrets, then `current`."""
    settings = ReleaseSettings(
        stack="e2e",
        public_ip=SERVER,
        socket_hostname=SOCKET_HOST,
        livekit_hostname=LIVEKIT_HOST,
        certificate_pem=certificate_pem,
        ingress=Ingress(("0.0.0.0/0",), (f"{EDGE}/32",), turn_tls=turn is not None),
        ocpus=2,
        memory_gb=12,
        socket_server_source=read_source_tree(source)[0],
        firewall_script=str(firewall_script),
        gate_seconds=4,
        turn_hostname=TURN_HOST if turn else None,
    )
    plain = render_plain_files(settings)
    secret = render_secret_files(API_KEY, API_SECRET, key_pem, METRICS_TOKEN, AppSecrets(turn=turn))
    release = app / "releases" / release_id(plain, secret)
    for name, content in plain.items():
        (release / name).parent.mkdir(parents=True, exist_ok=True)
        (release / name).write_text(content)
    # What release.sh does before the build (tests/host checks it does).
    for name, data in unpack(plain[layout.SOCKET_SERVER_ARCHIVE]).items():
        (release / layout.SOCKET_SERVER_DIR / name).parent.mkdir(parents=True, exist_ok=True)
        (release / layout.SOCKET_SERVER_DIR / name).write_bytes(data)
    (release / "secrets").mkdir(mode=0o700)
    for name, content in secret.items():
        (release / "secrets" / name).write_text(content)
        (release / "secrets" / name).chmod(0o600)
    (app / "current").symlink_to(release)
    firewall_script.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(release / "firewall.sh", firewall_script)
    return release


@contextmanager
def running_site(scratch: Path, source: Path = REFERENCE_SERVER, turn_tls: bool = False) -> Iterator[Site]:
    """Boots the host with the socket server built from `source` (its Dockerfile) and yields it;
    namespaces, processes and hosts files are gone afterwards. With `turn_tls`, TURN/TLS is on, its
    certificate from a second test CA (the stand-in for a public one)."""
    require_root()
    for tool in ("iptables-restore", "unshare", "node", "npm"):
        require_tool(tool)
    livekit_server = os.environ.get("LIVEKIT_SERVER", "")
    require(bool(livekit_server) and Path(livekit_server).exists(), "livekit-server not built")
    require((ROOT / "tests/tools/node_modules/socket.io-client").exists(), "npm ci in tests/tools")

    pki = make_pki(HOSTNAMES)
    ca_file = scratch / "ca.pem"
    ca_file.write_text(pki.ca_pem)
    turn_pki = make_pki([TURN_HOST]) if turn_tls else None
    turn_ca_file = scratch / "turn-ca.pem" if turn_pki else None
    if turn_pki and turn_ca_file:
        turn_ca_file.write_text(turn_pki.ca_pem)
    turn = TurnKeyPair(turn_pki.certificate_pem, turn_pki.key_pem) if turn_pki else None
    firewall_script = scratch / "sbin" / "flowspace-firewall"
    release = write_release(scratch / "flowspace", firewall_script, pki.certificate_pem, pki.key_pem, source, turn)
    caddy = ROOT / ".venv/bin/caddy"
    programs = Programs(str(caddy if caddy.exists() else require_tool("caddy")), livekit_server, "node")

    with namespace_pair("e2e", client_ips=(BROWSER, EDGE)) as pair:
        hosts_dir = Path("/etc/netns") / pair.client
        hosts_dir.mkdir(parents=True)
        proxied = "".join(f"{EDGE} {host}\n" for host in HOSTNAMES)
        (hosts_dir / "hosts").write_text(f"127.0.0.1 localhost\n{proxied}{SERVER} {TURN_HOST}\n")
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
        built = Site(
            pair, Stack(pair, release, programs, scratch), release, firewall_script, ca_file, 0.0, turn_ca_file
        )
        try:
            built.boot()
            yield built
        finally:
            built.stack.down()
            shutil.rmtree(hosts_dir, ignore_errors=True)
