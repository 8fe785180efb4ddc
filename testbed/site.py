"""The e2e site: server and client namespaces, the rendered release, real services, a booted host.

Used by the e2e tests and by the benchmark.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from config.app import read_source_tree
from model import layout, ports
from model.app import SocketServer
from model.compute import InstanceSpec
from model.ports import Ingress
from render.release import ReleaseSettings, SecretValues, build_release
from testbed.docker_host import DockerEngine
from testbed.netns import ORACLE_RULES, Pair, hosts_file
from testbed.pki import make_pki
from testbed.release_host import ReleaseHost, host_paths, standin_env
from testbed.tools import container_open_files, require, require_tool
from testbed.vm import REFERENCE_SERVER, vm

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
class Held:
    process: subprocess.Popen[str]

    def finish(self) -> dict[str, object]:
        out, err = self.process.communicate(input="", timeout=60)
        lines = out.strip().splitlines()
        assert lines, f"printed nothing: {err[-2000:]}"
        parsed: dict[str, object] = json.loads(lines[-1])
        return parsed


@dataclass
class Site:
    pair: Pair
    engine: DockerEngine
    host: ReleaseHost
    settings: ReleaseSettings
    secrets: ReleaseSecrets
    firewall_script: Path
    ca_file: Path
    seconds_to_healthy: float = 0.0
    # The CA standing in for a public one behind TURN/TLS's certificate; None: TURN/TLS off.
    turn_ca_file: Path | None = None
    release_id: str = ""

    @property
    def release(self) -> Path:
        return self.host.release_dir(self.release_id)

    def deploy(
        self, settings: ReleaseSettings | None = None, secrets: ReleaseSecrets | None = None
    ) -> subprocess.CompletedProcess[str]:
        """A rollout of these settings and secrets (the site's own when None); the site follows it."""
        settings, secrets = settings or self.settings, secrets or self.secrets
        release = build_release(settings, secrets.values())
        deployed = self.host.deploy(release)
        if deployed.returncode == 0:
            self.settings, self.secrets, self.release_id = settings, secrets, release.id
        return deployed

    def containers(self) -> dict[str, str]:
        """Running service -> container id."""
        return self.engine.services()

    def service_pid(self, service: str) -> int:
        """The main process of a service (the socket server: its live slot)."""
        if service == "socket-server":
            service = f"socket-server-{(self.host.app / layout.LIVE_SLOT_FILE).read_text().strip()}"
        pid = self.engine.docker("inspect", "--format", "{{.State.Pid}}", self.containers()[service]).stdout
        return int(pid)

    def logs(self) -> str:
        listing = self.engine.docker("ps", "-a", "--format", "{{.Names}} {{.Status}}", check=False).stdout
        tails = [
            f"--- {name}\n{self.engine.docker('logs', '--tail', '15', name, check=False).stderr[-1500:]}"
            for name in (line.split()[0] for line in listing.splitlines())
        ]
        return "\n".join([listing, *tails])

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
        assert lines, f"{' '.join(args[:3])} printed nothing:\n{result.stderr[-3000:]}\n{self.logs()}"
        parsed: dict[str, object] = json.loads(lines[-1])
        return parsed

    def during(self, *args: str, ready: str, env: dict[str, str] | None = None) -> Held:
        """Starts a client that holds on until told to stop (`Held.finish`), once it prints `ready`."""
        process = subprocess.Popen(
            ["ip", "netns", "exec", self.pair.client, *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "TEST_CA_FILE": str(self.ca_file), **(env or {})},
        )
        assert process.stdout is not None
        first = process.stdout.readline().strip()
        if first != ready:
            process.kill()
            raise AssertionError(f"{' '.join(args[:3])} did not start: {first}{process.communicate()[1][-2000:]}")
        return Held(process)

    def python(self, script: str, *args: str, env: dict[str, str] | None = None) -> dict[str, object]:
        return self.client(sys.executable, str(HERE / script), *args, env=env)

    def probe(self, source: str, tcp: list[int], udp: list[int]) -> dict[str, str]:
        verdicts = self.client(
            sys.executable, str(PROBE), "check", SERVER, source, ",".join(map(str, tcp)), ",".join(map(str, udp))
        )
        return {key: str(value) for key, value in verdicts.items()}

    def boot(self) -> None:
        """What a boot of the VM does: the image's saved rules, our firewall unit, then dockerd, which
        starts again what was running."""
        self.pair.run(self.pair.server, "iptables-restore", input_text=ORACLE_RULES.read_text())
        applied = self.pair.run(self.pair.server, "sh", str(self.firewall_script), check=False)
        assert applied.returncode == 0, f"the persisted firewall script failed at boot: {applied.stderr}"
        started = time.monotonic()
        self.engine.start()
        self.wait_until_healthy()
        self.seconds_to_healthy = time.monotonic() - started

    def shut_down(self) -> None:
        self.engine.stop()
        for table in ("filter", "nat"):
            self.pair.run(self.pair.server, "iptables", "-t", table, "-F")
            self.pair.run(self.pair.server, "iptables", "-t", table, "-X")

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
        assert not pending, f"{pending} not healthy within {HEALTHY_WITHIN_SECONDS} s\n{self.logs()}"


@dataclass(frozen=True)
class ReleaseSecrets:
    """What the rollout generates or is given: the e2e site's values, rotated by replacing one."""

    api_key: str
    api_secret: str
    origin_key_pem: str
    metrics_token: str = METRICS_TOKEN
    # TURN/TLS's certificate chain and key.
    turn: tuple[str, str] | None = None

    def values(self) -> SecretValues:
        chain, key = self.turn or (None, None)
        return SecretValues(
            livekit_api_key=self.api_key,
            livekit_api_secret=self.api_secret,
            metrics_token=self.metrics_token,
            origin_key_pem=self.origin_key_pem,
            turn_certificate_chain_pem=chain,
            turn_key_pem=key,
        )


def site_settings(scratch: Path, certificate_pem: str, source: Path, turn_tls: bool) -> ReleaseSettings:
    host_files = scratch / "host"
    return ReleaseSettings(
        stack="e2e",
        public_ip=SERVER,
        socket_hostname=SOCKET_HOST,
        livekit_hostname=LIVEKIT_HOST,
        certificate_pem=certificate_pem,
        ingress=Ingress(("0.0.0.0/0",), (f"{EDGE}/32",), turn_tls=turn_tls),
        instance=InstanceSpec(ocpus=2, memory_gb=12, boot_volume_gb=50, availability_domain=0, image_id=None),
        socket_server=SocketServer(image=None, source=read_source_tree(source)[0], health_gate_seconds=30),
        **host_paths(host_files),
        gate_interval_seconds=1,
        health_interval_seconds=1,
        # This machine's hard limit, which dockerd here cannot raise (no CAP_SYS_RESOURCE).
        open_files=container_open_files(),
        turn_hostname=TURN_HOST if turn_tls else None,
    )


@contextmanager
def running_site(scratch: Path, source: Path = REFERENCE_SERVER, turn_tls: bool = False) -> Iterator[Site]:
    """Rolls the release out with the real release.sh onto a real Docker engine in the VM's namespace,
    the socket server built from `source` (its Dockerfile), and yields the site; namespaces, engine
    and hosts files are gone afterwards. With `turn_tls`, TURN/TLS is on, its certificate from a
    second test CA (the stand-in for a public one)."""
    for tool in ("node", "npm"):
        require_tool(tool)
    require((ROOT / "tests/tools/node_modules/socket.io-client").exists(), "npm ci in tests/tools")

    pki = make_pki(HOSTNAMES)
    ca_file = scratch / "ca.pem"
    ca_file.write_text(pki.ca_pem)
    turn_pki = make_pki([TURN_HOST]) if turn_tls else None
    turn_ca_file = scratch / "turn-ca.pem" if turn_pki else None
    if turn_pki and turn_ca_file:
        turn_ca_file.write_text(turn_pki.ca_pem)
    turn = (turn_pki.certificate_pem, turn_pki.key_pem) if turn_pki else None
    settings = site_settings(scratch, pki.certificate_pem, source, turn_tls)
    Path(settings.firewall_script).parent.mkdir(parents=True, exist_ok=True)
    secrets = ReleaseSecrets(API_KEY, API_SECRET, pki.key_pem, turn=turn)

    with vm(scratch, "e2e", client_ips=(BROWSER, EDGE)) as machine:
        yield from _rolled_out(machine.pair, machine.engine, scratch, settings, secrets, ca_file, turn_ca_file)


def _rolled_out(
    pair: Pair,
    engine: DockerEngine,
    scratch: Path,
    settings: ReleaseSettings,
    secrets: ReleaseSecrets,
    ca_file: Path,
    turn_ca_file: Path | None,
) -> Iterator[Site]:
    names = {**dict.fromkeys(HOSTNAMES, EDGE), TURN_HOST: SERVER}
    with hosts_file(pair.client, names):
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
        home = scratch / "home"
        home.mkdir()
        # The VM: release.sh in its network namespace, talking to its engine; sudo runs for real there.
        host = ReleaseHost(
            home,
            standin_env(scratch / "standin", engine.env, sudo_runs=True),
            prefix=("nsenter", f"--net=/var/run/netns/{pair.server}"),
        )
        built = Site(pair, engine, host, settings, secrets, Path(settings.firewall_script), ca_file, 0.0, turn_ca_file)
        try:
            for started in (sshd, *relays):
                assert started.stdout is not None and started.stdout.readline().strip() == b"ready"
            began = time.monotonic()
            deployed = built.deploy()
            assert deployed.returncode == 0, f"the first release failed:\n{deployed.stderr[-4000:]}\n{built.logs()}"
            built.wait_until_healthy()
            built.seconds_to_healthy = time.monotonic() - began
            yield built
        finally:
            for process in (sshd, *relays):
                process.terminate()
