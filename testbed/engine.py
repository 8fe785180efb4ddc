"""The real Pulumi engine running the project's program, as a user runs it, against an OpenSSH
server in a network namespace that plays the existing server.

The host: sshd in its own network namespace and its own mount namespace (tmpfs over /home,
/usr/local/sbin and /etc/systemd/system, so nothing lands on this machine), with a real dockerd
and Compose v2 in the same namespaces (the images built here, testbed/images.py). Its Caddy holds
certificates for the stack's hostnames from a test CA the host trusts, as after its first ACME
order (no ACME CA is reachable here). sudo, systemctl, sysctl and cloud-init are stand-ins first
on the session PATH that write down what they are asked. The operator: the `pulumi` CLI from
`scripts/install-pulumi` in a copy of the project with a `file://` backend, in a second namespace
joined to the host by a veth pair.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from model import layout
from scripts.deploy import copy_project
from testbed.docker_host import DockerEngine, compose_plugin_dir, docker_engine, require_docker
from testbed.images import import_images
from testbed.netns import Pair, namespace_pair, sh
from testbed.pki import TestPki, make_pki
from testbed.tools import container_open_files, require, require_tool
from testbed.vm import FAILING_SERVER, NODE_PROJECTS

ROOT = Path(__file__).resolve().parents[1]
STANDINS = Path(__file__).parent / "standins"
# The stack's hostnames (existing_server_config) and where Caddy keeps what its ACME issuer obtained.
HOSTNAMES = ("space-socket.flow-coder.com", "space-livekit.flow-coder.com")
CADDY_ACME_CERTIFICATES = "caddy/certificates/acme-v02.api.letsencrypt.org-directory"
SYSTEM_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
PASSPHRASE = "engine-suite-passphrase"
HOST_USER = "root"
# Not 22: the program's targetPort is exercised on every run.
SSH_PORT = 2222
APP_DIR = f"/home/{HOST_USER}/flowspace"


def install_engine() -> Path:
    """The engine bundle (bin/, plugins/), built once per machine and cached."""
    result = subprocess.run([str(ROOT / "scripts" / "install-pulumi")], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"scripts/install-pulumi failed:\n{result.stderr[-4000:]}")
    return Path(result.stdout.strip().splitlines()[-1])


@dataclass
class SshHost:
    pair: Pair
    workdir: Path
    sshd: subprocess.Popen[bytes]
    host_public_key: str
    login_key: Path
    pki: TestPki
    machine: ExitStack = field(default_factory=ExitStack)
    engine: DockerEngine | None = None

    @property
    def address(self) -> str:
        return self.pair.server_ip

    @property
    def standin_dir(self) -> Path:
        return self.workdir / "standin"

    def inside(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Runs a command in the host's network and mount namespaces (where its files are)."""
        return sh("nsenter", "-t", str(self.sshd.pid), "-m", "-n", *args, check=check)

    def docker(self) -> DockerEngine:
        assert self.engine is not None, "the host's engine is not running"
        return self.engine

    def containers(self) -> dict[str, str]:
        """Running service -> container id."""
        return self.docker().services()

    def sudo_log(self) -> str:
        """What the sudo, systemctl and sysctl stand-ins were asked."""
        log = self.standin_dir / "argv.log"
        return log.read_text() if log.exists() else ""

    def sessions(self) -> int:
        """SSH sessions accepted so far, from sshd's own log."""
        return (self.workdir / "sshd.log").read_text().count("Accepted publickey")

    def files(self) -> dict[str, str]:
        """Every path under the app folder with its mode, e.g. {'releases/<id>/secrets': '700'}."""
        listing = self.inside(
            "sh", "-c", f"cd {APP_DIR} 2>/dev/null && find . -mindepth 1 -printf '%P %m\\n'", check=False
        )
        return dict(line.rsplit(" ", 1) for line in listing.stdout.splitlines())

    def read(self, path: str) -> str:
        return self.inside("cat", f"{APP_DIR}/{path}").stdout

    def start_machine(self) -> None:
        """The machine's engine in sshd's namespaces, the images, and Caddy's stored certificates."""
        engine = self.machine.enter_context(
            docker_engine(
                self.pair.server, self.workdir, compose_plugin_dir(), enter=("-t", str(self.sshd.pid), "-m", "-n")
            )
        )
        import_images(engine, os.environ["LIVEKIT_SERVER"], caddy_program(), list(NODE_PROJECTS))
        for link, target in (("docker.sock", str(engine.socket_path)), ("docker-config", engine.env["DOCKER_CONFIG"])):
            (self.workdir / link).unlink(missing_ok=True)
            (self.workdir / link).symlink_to(target)
        _store_caddy_certificates(engine, self.pki)
        self.engine = engine

    def stop_machine(self) -> None:
        self.engine = None
        try:
            self.machine.close()
        finally:
            self.sshd.terminate()
            self.sshd.wait(timeout=10)

    def replace_machine(self) -> None:
        """Another machine at the same address (as a replaced VM behind a reserved IP): a new host
        key, an empty disk and a new engine, the same login key authorised."""
        self.stop_machine()
        for name in ("host_key", "host_key.pub"):
            (self.workdir / name).unlink()
        sh("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "replacement", "-f", str(self.workdir / "host_key"))
        self.host_public_key = (self.workdir / "host_key.pub").read_text().strip()
        started = (self.workdir / "sshd.log").read_text().count("Server listening")
        self.sshd = _boot(self.pair, self.workdir)
        _wait_for_sshd(self, started)
        self.start_machine()


def caddy_program() -> str:
    caddy = ROOT / ".venv/bin/caddy"
    return str(caddy if caddy.exists() else require_tool("caddy"))


def _store_caddy_certificates(engine: DockerEngine, pki: TestPki) -> None:
    """Caddy's data volume as after its first ACME order: a certificate for each hostname, which
    Caddy loads from its storage instead of ordering one."""
    volume = f"{layout.COMPOSE_PROJECT}_caddy_data"
    engine.docker(
        "volume",
        "create",
        "--label",
        f"com.docker.compose.project={layout.COMPOSE_PROJECT}",
        "--label",
        "com.docker.compose.volume=caddy_data",
        volume,
    )
    stored = engine.data_root / "volumes" / volume / "_data" / CADDY_ACME_CERTIFICATES
    for hostname in HOSTNAMES:
        folder = stored / hostname
        folder.mkdir(parents=True)
        (folder / f"{hostname}.crt").write_text(pki.certificate_pem)
        (folder / f"{hostname}.key").write_text(pki.key_pem)
        (folder / f"{hostname}.json").write_text(json.dumps({"sans": [hostname]}))


def _sshd_config(workdir: Path, address: str) -> str:
    path = f"{STANDINS}:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin"
    return f"""Port {SSH_PORT}
ListenAddress {address}
HostKey {workdir}/host_key
AuthorizedKeysFile {workdir}/authorized_keys
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
PidFile none
LogLevel VERBOSE
Subsystem sftp internal-sftp
AcceptEnv PULUMI_COMMAND_STDOUT
SetEnv {" ".join(f"{name}={value}" for name, value in _session_env(workdir, path).items())}
"""


def _session_env(workdir: Path, path: str) -> dict[str, str]:
    """A login's environment: the stand-ins first on PATH, and the machine's engine (its socket and
    the CLI's config, with the compose plugin: links made once the engine runs)."""
    return {
        "PATH": path,
        "STANDIN_DIR": f"{workdir}/standin",
        "DOCKER_HOST": f"unix://{workdir}/docker.sock",
        "DOCKER_CONFIG": f"{workdir}/docker-config",
        "DOCKER_BUILDKIT": "0",
        "DOCKER_CLI_HINTS": "false",
    }


@contextmanager
def ssh_host(workdir: Path, tag: str = "ea") -> Iterator[SshHost]:
    require(bool(os.environ.get("LIVEKIT_SERVER")), "livekit-server not built: scripts/build-livekit-server")
    require_docker()
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "standin").mkdir()
    for name in ("host_key", "login_key"):
        sh("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", str(workdir / name))
    shutil.copy(workdir / "login_key.pub", workdir / "authorized_keys")
    pki = make_pki(HOSTNAMES)
    # What the host trusts: the system's CAs and the test CA that stands in for the ACME CA's.
    (workdir / "ca-certificates.crt").write_text(SYSTEM_CA_BUNDLE.read_text() + pki.ca_pem)
    Path("/run/sshd").mkdir(exist_ok=True)
    with namespace_pair(tag) as pair:
        (workdir / "sshd_config").write_text(_sshd_config(workdir, pair.server_ip))
        sshd = _boot(pair, workdir)
        host = SshHost(pair, workdir, sshd, (workdir / "host_key.pub").read_text().strip(), workdir / "login_key", pki)
        try:
            _wait_for_sshd(host)
            host.start_machine()
            yield host
        finally:
            host.stop_machine()


def _boot(pair: Pair, workdir: Path) -> subprocess.Popen[bytes]:
    """sshd with empty /home, /usr/local/sbin, unit, sysctl and apt configuration folders (a machine
    with a new disk) and the host's CA bundle. Entered by nsenter, not `ip netns exec`, which would
    remount /sys and hide the cgroups from the machine's dockerd."""
    boot = (
        "mount -t tmpfs tmpfs /home && mount -t tmpfs tmpfs /usr/local/sbin && "
        "mount -t tmpfs tmpfs /etc/systemd/system && mount -t tmpfs tmpfs /etc/sysctl.d && "
        "mount -t tmpfs tmpfs /etc/apt/apt.conf.d && "
        f"mount --bind {workdir}/ca-certificates.crt {SYSTEM_CA_BUNDLE} && "
        f"exec /usr/sbin/sshd -D -e -f {workdir}/sshd_config"
    )
    with (workdir / "sshd.log").open("ab") as log:
        return subprocess.Popen(
            [
                "nsenter",
                f"--net=/var/run/netns/{pair.server}",
                "unshare",
                "--mount",
                "--propagation",
                "private",
                "sh",
                "-c",
                boot,
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )


def _wait_for_sshd(host: SshHost, started_before: int = 0) -> None:
    """Until the log says one more sshd than `started_before` listens."""
    deadline = time.monotonic() + 15
    while (host.workdir / "sshd.log").read_text().count("Server listening") <= started_before:
        if host.sshd.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"sshd did not start: {(host.workdir / 'sshd.log').read_text()}")
        time.sleep(0.1)


@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str
    seconds: float

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


@dataclass
class Operator:
    """A copy of the project with one stack, and the `pulumi` CLI that drives it."""

    engine: Path
    project: Path
    # The network namespace the CLI runs in; "" for this machine's own (no host is reached).
    namespace: str
    state: Path
    home: Path
    stack: str
    extra_env: dict[str, str] = field(default_factory=dict)
    passphrase: str = PASSPHRASE

    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "PATH": f"{self.engine / 'bin'}:{os.environ['PATH']}",
            "PULUMI_HOME": str(self.home),
            "PULUMI_BACKEND_URL": f"file://{self.state}",
            "PULUMI_CONFIG_PASSPHRASE": self.passphrase,
            "PULUMI_SKIP_UPDATE_CHECK": "true",
            "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
            "PULUMI_IGNORE_AMBIENT_PLUGINS": "true",
            "PULUMI_SKIP_CONFIRMATIONS": "true",
            "PULUMI_DIY_BACKEND_NO_LEGACY_WARNING": "true",
            # Last: a journey's own backend (an S3 bucket) over the file one.
            **self.extra_env,
        }

    def pulumi(self, *args: str, stdin: str | None = None, timeout: float = 600) -> Run:
        started = time.monotonic()
        result = subprocess.run(
            [
                *(["ip", "netns", "exec", self.namespace] if self.namespace else []),
                str(self.engine / "bin" / "pulumi"),
                *args,
                "--stack",
                self.stack,
            ],
            cwd=self.project,
            env=self.env(),
            input=stdin,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        return Run(result.returncode, result.stdout, result.stderr, time.monotonic() - started)

    def must(self, *args: str, stdin: str | None = None) -> Run:
        run = self.pulumi(*args, stdin=stdin)
        assert run.returncode == 0, f"pulumi {' '.join(args)} failed:\n{run.output[-6000:]}"
        return run

    def set_config(self, values: Mapping[str, str | list[str]]) -> None:
        stack_file = self.project / f"Pulumi.{self.stack}.yaml"
        document = yaml.safe_load(stack_file.read_text()) or {}
        document.setdefault("config", {}).update({f"flowspace:{key}": value for key, value in values.items()})
        stack_file.write_text(yaml.safe_dump(document, sort_keys=False))

    def outputs(self) -> dict[str, object]:
        return dict(json.loads(self.must("stack", "output", "--json").stdout))

    def state_files(self) -> list[Path]:
        return [path for path in self.state.rglob("*") if path.is_file()]


def program_operator(
    workdir: Path,
    engine: Path,
    name: str,
    program: str,
    home: Path | None = None,
    extra_env: dict[str, str] | None = None,
) -> Operator:
    """An operator of a one-file Python program (not the project's), its stack named `name`, with a
    `file://` backend under `workdir`; the stack is not made yet."""
    project = workdir / "project"
    project.mkdir(parents=True)
    runtime = {"name": "python", "options": {"virtualenv": str(ROOT / ".venv")}}
    (project / "Pulumi.yaml").write_text(json.dumps({"name": name, "runtime": runtime}))
    (project / "__main__.py").write_text(program)
    (workdir / "state").mkdir()
    home = home or plugin_home(engine, workdir / "home")
    return Operator(engine, project, "", workdir / "state", home, name, extra_env=extra_env or {})


def project_copy(destination: Path) -> Path:
    return copy_project(ROOT, destination)


def plugin_home(engine: Path, home: Path, *extra_plugins: Path) -> Path:
    """A PULUMI_HOME with the engine's plugins (and any others). The engine takes a plugin folder
    that is a real directory, holding the binary (or a link to it)."""
    for plugin in [*(engine / "plugins").iterdir(), *extra_plugins]:
        (home / "plugins" / plugin.name).mkdir(parents=True)
        for binary in plugin.iterdir():
            (home / "plugins" / plugin.name / binary.name).symlink_to(binary.resolve())
    return home


@contextmanager
def operator_for(
    host: SshHost,
    engine: Path,
    workdir: Path,
    config: Mapping[str, str],
    stack: str = "engine",
    extra_env: Mapping[str, str] | None = None,
) -> Iterator[Operator]:
    home = plugin_home(engine, workdir / "pulumi-home")
    (workdir / "state").mkdir()
    operator = Operator(
        engine,
        project_copy(workdir / "project"),
        host.pair.client,
        workdir / "state",
        home,
        stack,
        dict(extra_env or {}),
    )
    operator.must("stack", "init")
    operator.set_config(config)
    operator.must("config", "set", "--secret", "flowspace:targetPrivateKey", stdin=host.login_key.read_text())
    yield operator


def failing_socket_server(operator: Operator, how: str) -> None:
    """The stack's socket server becomes the failing fixture (`gate`: 503 through Caddy)."""
    shutil.copytree(FAILING_SERVER, operator.project / FAILING_SERVER.name, dirs_exist_ok=True)
    operator.must("config", "rm", "flowspace:socketServerReference")
    operator.set_config({"socketServerSource": FAILING_SERVER.name, "socketServerEnv": [f"SOCKET_SERVER_FAILS={how}"]})


def reference_socket_server(operator: Operator) -> None:
    operator.must("config", "rm", "flowspace:socketServerSource")
    operator.must("config", "rm", "flowspace:socketServerEnv")
    operator.set_config({"socketServerReference": "true"})


def existing_server_config(host: SshHost) -> dict[str, str]:
    return {
        "targetHost": host.address,
        "targetUser": HOST_USER,
        "targetPort": str(SSH_PORT),
        "targetHostKey": host.host_public_key,
        # What LiveKit advertises must be a public address; the test host is never reached through it.
        "targetPublicIp": "144.24.72.143",
        "domain": "flow-coder.com",
        "socketHostname": "space-socket.flow-coder.com",
        "livekitHostname": "space-livekit.flow-coder.com",
        "ocpus": "2",
        "memoryGb": "12",
        # A failing release is given up on quickly.
        "healthGateSeconds": "6",
        "socketServerReference": "true",
        # This machine's hard limit, which dockerd here cannot raise (no CAP_SYS_RESOURCE).
        "targetOpenFiles": str(container_open_files()),
    }
