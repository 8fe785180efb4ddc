"""release.sh as it runs on the host, on a real Docker engine and Compose v2 in the VM's network
namespace (testbed/vm.py): activate, health gate, rollback, pruning, retire, locks, interruptions.
The socket server is the reference one, or the failing fixture where a test needs a failure. sudo,
systemctl and sysctl are stand-ins that write down what they are asked (testbed/standins): the
host's system is not the test's to change.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import stat
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cache, cached_property
from pathlib import Path

import bcrypt
import pytest
import yaml

import testbed.pki
from config.app import read_source_tree
from model import layout
from model.app import Registry, SocketServer
from model.compute import InstanceSpec
from model.layout import ReleaseShape
from model.ports import Ingress
from model.source_tree import SourceTree
from render.release import (
    ReleaseSettings,
    SecretValues,
    build_release,
    render_secret_files,
    retire_command,
    secrets_stdin,
)
from testbed.pki import make_pki
from testbed.release_host import ReleaseHost, host_paths, standin_env
from testbed.tools import container_open_files, require_tool
from testbed.vm import FAILING_SERVER, REFERENCE_SERVER, Vm

SOCKET_HOST, LIVEKIT_HOST = "space-socket.flow-coder.com", "space-livekit.flow-coder.com"
LIVEKIT_SECRET = "Zq8sSecretThatMustNeverBeSeen0123456789abcdefgh"
METRICS_TOKEN = "MetricsTokenThatMustNeverBeSeen0123456789abcdef"
VARIANT = "FLOWSPACE_TEST_VARIANT"


@cache
def pki() -> testbed.pki.TestPki:
    return make_pki((SOCKET_HOST, LIVEKIT_HOST))


@cache
def source(folder: Path) -> SourceTree:
    return read_source_tree(folder)[0]


def secret_values() -> SecretValues:
    return SecretValues("APIexamplekey", LIVEKIT_SECRET, METRICS_TOKEN, origin_key_pem=pki().key_pem)


def secrets() -> dict[str, str]:
    """Every test release has the origin certificate."""
    return render_secret_files(secret_values(), ReleaseShape(origin_certificate=True))


@dataclass
class Host:
    root: Path
    machine: Vm
    # Each release's variant (its socket server's FLOWSPACE_TEST_VARIANT), by release id.
    variants: dict[str, str] = field(default_factory=dict)

    @property
    def app(self) -> Path:
        return self.root / "home" / "ubuntu" / "flowspace"

    @property
    def standin_dir(self) -> Path:
        return self.root / "standin"

    @property
    def apt_conf_dir(self) -> Path:
        """An apt host's (testbed.release_host.host_paths); this test host has no needrestart."""
        return self.root / "apt" / "apt.conf.d"

    def env(self) -> dict[str, str]:
        return standin_env(self.standin_dir, self.machine.engine.env)

    def upload(
        self,
        variant: int,
        stack: str = "prod",
        ssh_cidrs: tuple[str, ...] = ("0.0.0.0/0",),
        meter: bool = False,
        registry: Registry | None = None,
        secrets: SecretValues | None = None,
        fails: str | None = None,
        image: str | None = None,
    ) -> str:
        """What the CopyToRemote resources do: one release directory of plain files. `fails`: the
        failing fixture's way to fail (`gate`: 503 through Caddy; `container`: never healthy)."""
        server = SocketServer(
            image=image or (f"{registry.host}/flowcoder/socket@sha256:{'a' * 64}" if registry else None),
            source=None if registry else source(FAILING_SERVER if fails else REFERENCE_SERVER),
            health_gate_seconds=3,
            registry=registry,
            environment=((VARIANT, str(variant)), *((("SOCKET_SERVER_FAILS", fails),) if fails else ())),
        )
        settings = ReleaseSettings(
            stack=stack,
            public_ip="203.0.113.10",
            socket_hostname=SOCKET_HOST,
            livekit_hostname=LIVEKIT_HOST,
            certificate_pem=pki().certificate_pem,
            ingress=Ingress(ssh_cidrs),
            instance=InstanceSpec(ocpus=2, memory_gb=12, boot_volume_gb=50, availability_domain=0, image_id=None),
            socket_server=server,
            egress_meter=meter,
            **host_paths(self.root),
            gate_interval_seconds=1,
            health_interval_seconds=1,
            # This machine's hard limit, which dockerd here cannot raise (no CAP_SYS_RESOURCE).
            open_files=container_open_files(),
        )
        identifier = self.release_host.upload(build_release(settings, secrets or secret_values()))
        self.variants[identifier] = str(variant)
        return identifier

    @cached_property
    def release_host(self) -> ReleaseHost:
        return ReleaseHost(self.root / "home" / "ubuntu", self.env(), prefix=self.machine.prefix, timeout=240)

    def run(self, identifier: str, action: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        return self.release_host.run(identifier, action, stdin)

    def retire(self, identifier: str) -> subprocess.CompletedProcess[str]:
        """What deleting an activation runs (the release may be pruned already)."""
        return self.release_host.retire(identifier)

    def deploy(self, identifier: str, sent: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        received = self.run(identifier, "receive-secrets", secrets_stdin(sent or secrets()))
        assert received.returncode == 0, received.stderr
        return self.run(identifier, "activate")

    def popen(self, identifier: str, action: str) -> subprocess.Popen[str]:
        return self.release_host.popen(identifier, action)

    def current(self) -> str:
        return Path(os.readlink(self.app / "current")).name

    def containers(self) -> dict[str, str]:
        """Running service -> container id."""
        return self.machine.engine.services()

    def running(self) -> str:
        """The release whose socket server serves (its live slot's variant), "" when nothing runs."""
        live = self.app / layout.LIVE_SLOT_FILE
        container = self.containers().get(f"socket-server-{live.read_text().strip()}") if live.exists() else None
        if container is None:
            return ""
        environment = json.loads(
            self.machine.engine.docker("inspect", "--format", "{{json .Config.Env}}", container).stdout
        )
        variant = next(item.split("=", 1)[1] for item in environment if item.startswith(f"{VARIANT}="))
        serving = [identifier for identifier, known in self.variants.items() if known == variant]
        assert len(serving) == 1, f"variant {variant} is {serving}"
        return serving[0]

    def releases(self) -> set[str]:
        return {path.name for path in (self.app / "releases").iterdir()}

    def sudo_log(self) -> str:
        """What the sudo, systemctl and sysctl stand-ins were asked."""
        log = self.standin_dir / "argv.log"
        return log.read_text() if log.exists() else ""


@pytest.fixture
def host(tmp_path: Path, machine: Vm) -> Host:
    """A new host folder on the module's VM, with nothing of an earlier test running."""
    engine = machine.engine
    # An activation an earlier failing test left running would hold its host's lock: stopped.
    for worker in _activation_workers(tmp_path.parent):
        os.kill(worker, 9)
    leftovers = engine.docker("ps", "-aq").stdout.split()
    if leftovers:
        engine.docker("rm", "--force", *leftovers, timeout=120)
    engine.docker("network", "prune", "--force")
    created = Host(tmp_path, machine)
    created.app.mkdir(parents=True)
    created.standin_dir.mkdir()
    return created


def test_activation_starts_the_release_and_passes_the_gate(host: Host) -> None:
    first = host.upload(1)
    result = host.deploy(first)
    assert result.returncode == 0, result.stderr
    assert host.current() == first and host.running() == first
    assert f"healthy: https://{SOCKET_HOST}/healthz" in result.stderr
    assert f"healthy: https://{LIVEKIT_HOST}/healthz" in result.stderr
    assert set(host.containers()) == {"livekit", "caddy", "socket-server-blue"}
    assert (host.root / "sbin" / "flowspace-firewall").exists(), "the release's firewall was not installed"


def test_the_source_archive_is_unpacked_for_the_build_as_shipped(host: Host) -> None:
    """Once per source: an image built before (by an earlier test) is removed first."""
    engine = host.machine.engine
    built = engine.docker("images", "--quiet", layout.SOCKET_SERVER_BUILT_IMAGE).stdout.split()
    if built:
        engine.docker("rmi", "--force", *built)
    first = host.upload(1)
    result = host.deploy(first)
    assert result.returncode == 0, result.stderr
    assert "building the socket server image" in result.stderr
    folder = host.app / "releases" / first / "socket-server"
    shipped = source(REFERENCE_SERVER)
    for file in shipped.files:
        assert (folder / file.path).read_bytes() == file.content, file.path
        assert os.access(folder / file.path, os.X_OK) == file.executable, file.path
    assert sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()) == sorted(
        f.path for f in shipped.files
    )


def test_secret_files_are_written_0600_from_stdin(host: Host) -> None:
    first = host.upload(1)
    assert host.deploy(first).returncode == 0
    for name, content in secrets().items():
        path = host.app / "releases" / first / "secrets" / name
        assert path.read_text() == content, name
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, f"{name} is not mode 0600"
    assert stat.S_IMODE((host.app / "releases" / first / "secrets").stat().st_mode) == 0o700


def test_unexpected_secret_names_are_refused(host: Host) -> None:
    first = host.upload(1)
    result = host.run(first, "receive-secrets", "../../etc/passwd cm9vdA==\n")
    assert result.returncode != 0 and "refusing unexpected secret file name" in result.stderr


def test_missing_secret_fails_before_anything_starts(host: Host) -> None:
    first = host.upload(1)
    result = host.run(first, "receive-secrets", secrets_stdin({"origin.key": pki().key_pem}))
    assert result.returncode != 0 and "livekit-keys.yaml was not received" in result.stderr
    assert host.containers() == {}


def test_failing_health_gate_restores_the_previous_release(host: Host) -> None:
    good, bad = host.upload(1), host.upload(2, fails="gate")
    assert host.deploy(good).returncode == 0
    before = host.containers()
    result = host.deploy(bad)
    assert result.returncode != 0, "a release that fails its health gate must fail the rollout"
    assert f"health gate: https://{SOCKET_HOST}/healthz did not answer" in result.stderr
    assert "last log lines of socket-server" in result.stderr
    assert f"restoring the previous release {good}" in result.stderr
    assert host.current() == good and host.running() == good
    # Back to the good release's container (never stopped), the failed release's slot removed.
    assert host.containers() == before, "the services that ran before are the ones running"


def test_service_that_never_gets_healthy_names_itself_and_rolls_back(host: Host) -> None:
    good, bad = host.upload(1), host.upload(2, fails="container")
    assert host.deploy(good).returncode == 0
    before = host.containers()
    result = host.deploy(bad)
    assert result.returncode != 0
    assert "docker compose up --wait: socket-server-green did not become healthy" in result.stderr, result.stderr
    assert "last log lines of socket-server-green" in result.stderr
    assert host.current() == good and host.running() == good
    assert host.containers() == before


def test_first_release_failing_says_there_is_nothing_to_restore(host: Host) -> None:
    bad = host.upload(1, fails="gate")
    result = host.deploy(bad)
    assert result.returncode != 0 and "no previous release to restore" in result.stderr
    assert host.containers() == {}


def test_old_releases_are_pruned_keeping_the_newest_three(host: Host) -> None:
    ids = [host.upload(n) for n in range(1, 6)]
    for identifier in ids:
        assert host.deploy(identifier).returncode == 0
    assert host.releases() == set(ids[-3:])
    assert (host.app / "releases.log").read_text().split() == ids[-3:]


def test_redeploying_an_older_release_keeps_it(host: Host) -> None:
    first, second = host.upload(1), host.upload(2)
    for identifier in (first, second, first):
        assert host.deploy(identifier).returncode == 0
    assert host.current() == first and host.running() == first and host.releases() == {first, second}


def test_retire_stops_only_the_current_release(host: Host) -> None:
    first, second = host.upload(1), host.upload(2)
    assert host.deploy(first).returncode == 0
    assert host.deploy(second).returncode == 0
    assert host.run(first, "retire").returncode == 0, "retiring a replaced release must not stop the stack"
    assert host.running() == second
    result = host.run(second, "retire")
    assert result.returncode == 0, result.stderr
    assert host.containers() == {}
    assert not (host.app / "releases").exists() and not (host.app / "current").exists()


def test_a_replaced_server_keeps_the_release_its_replacement_got(host: Host) -> None:
    """The reserved address moves to the new instance, which gets the same release; the delete of
    the old instance's activation then reaches the new one, and must leave it running."""
    release = host.upload(1)
    replaced = dataclasses.replace(host.release_host, server="ocid1.instance.oc1.ap-chuncheon-1.replacement")
    assert replaced.run(release, "receive-secrets", secrets_stdin(secrets())).returncode == 0
    assert replaced.run(release, "activate").returncode == 0
    old = host.retire(release)
    assert old.returncode == 0 and "nothing to retire" in old.stderr, old.stderr
    assert host.current() == release and host.running() == release
    assert replaced.retire(release).returncode == 0
    assert not (host.app / "current").exists() and host.containers() == {}


def retire_with_output(host: Host, release: str, created_output: str) -> subprocess.CompletedProcess[str]:
    """The delete of the activation that printed `created_output` (empty: sshd dropped it)."""
    releases = host.release_host
    script = str(releases.release_dir(release) / layout.RELEASE_SCRIPT)
    env = {"PULUMI_COMMAND_STDOUT": created_output} if created_output else {}
    return releases.command(["sh", "-c", retire_command(script, releases.server)], env=env)


def test_a_replaced_activation_of_the_same_release_leaves_the_stack_running(host: Host) -> None:
    """`pulumi up --replace` of the activation (or a renamed Rollout) creates the new activation
    first, for the same release; the old one's delete then comes with the old activation's output,
    and must leave the stack. A later delete of the newest one (a destroy) takes it down."""
    release = host.upload(1)
    assert host.deploy(release).returncode == 0
    replaced = host.release_host.activations[(host.release_host.server, release)]
    again = host.run(release, "activate")
    assert again.returncode == 0, again.stderr
    newest = again.stdout.strip()
    assert newest.startswith("activation ") and newest != replaced, (replaced, newest)
    old = retire_with_output(host, release, replaced)
    assert old.returncode == 0 and "was activated again" in old.stderr, old.stderr
    assert host.current() == release and host.running() == release
    assert host.retire(release).returncode == 0
    assert not host.app.exists() and host.containers() == {}


def test_an_activation_id_that_never_reached_the_host_leaves_the_stack_and_names_the_fix(host: Host) -> None:
    """A host whose sshd refuses PULUMI_COMMAND_STDOUT: no delete can tell a destroy from a
    replacement, so none takes the stack down; the message names the sshd setting."""
    release = host.upload(1)
    assert host.deploy(release).returncode == 0
    blind = retire_with_output(host, release, "")
    assert blind.returncode == 1 and "AcceptEnv PULUMI_COMMAND_STDOUT" in blind.stderr, blind.stderr
    assert host.current() == release and host.running() == release


def test_an_operators_reactivation_keeps_the_programs_activation(host: Host) -> None:
    """`scripts/ops forward` (reactivate) is not an activation of the program's: the state's
    activation stays the one a destroy must match."""
    release = host.upload(1)
    assert host.deploy(release).returncode == 0
    forward = host.run(release, "reactivate")
    assert forward.returncode == 0 and forward.stdout == "", forward
    assert host.retire(release).returncode == 0
    assert not host.app.exists() and host.containers() == {}


def test_no_secret_reaches_a_command_line_or_any_output(host: Host) -> None:
    """Nothing of the LiveKit secret or the origin key in any output, in the containers' command
    lines, environment or labels, or in what the stand-ins were asked."""
    good, bad = host.upload(1), host.upload(2, fails="gate")
    outputs = [host.deploy(good)]
    described = host.machine.engine.docker("inspect", *host.containers().values()).stdout
    outputs.append(host.deploy(bad))
    outputs.append(host.run(good, "retire"))
    seen = described + host.sudo_log() + "".join(result.stdout + result.stderr for result in outputs)
    key_body = "".join(pki().key_pem.splitlines()[1:-1])
    for secret in (LIVEKIT_SECRET, key_body[:40]):
        assert secret not in seen, "a secret appeared in a command line or the output"


def test_failed_attempts_never_push_a_live_release_out_of_the_kept_set(host: Host) -> None:
    good = [host.upload(n) for n in (1, 2, 3)]
    for identifier in good:
        assert host.deploy(identifier).returncode == 0
    failures = [host.upload(n, fails="gate") for n in (4, 5)]
    for identifier in failures:
        assert host.deploy(identifier).returncode != 0
        assert host.current() == good[-1] and host.running() == good[-1]
        assert set(good) <= host.releases(), "a failed attempt pruned a kept release"
    last = host.upload(6)
    assert host.deploy(last).returncode == 0
    assert host.releases() == {good[1], good[2], last}, "failed attempts are pruned once a release is live"
    assert (host.app / "releases.log").read_text().split() == [good[1], good[2], last]


def test_retiring_a_pruned_release_succeeds_and_changes_nothing(host: Host) -> None:
    ids = [host.upload(n) for n in range(1, 5)]
    for identifier in ids:
        assert host.deploy(identifier).returncode == 0
    assert ids[0] not in host.releases()
    for _ in range(2):
        result = host.retire(ids[0])
        assert result.returncode == 0, result.stderr
    assert host.current() == ids[-1] and host.running() == ids[-1]


def test_failing_first_release_leaves_nothing_running_and_destroy_leaves_the_host_clean(host: Host) -> None:
    bad = host.upload(1, fails="container")
    assert host.deploy(bad).returncode != 0
    assert host.containers() == {}, "a failed first release must not keep running"
    assert not (host.app / "current").exists()
    good = host.upload(2)
    assert host.deploy(good).returncode == 0
    assert host.retire(good).returncode == 0
    assert not host.app.exists(), f"left on the host: {list(host.app.rglob('*')) if host.app.exists() else []}"
    assert host.containers() == {}


def test_rollback_restores_the_previous_firewall(host: Host) -> None:
    good = host.upload(1, ssh_cidrs=("198.51.100.0/24",))
    bad = host.upload(2, ssh_cidrs=("203.0.113.0/24",), fails="gate")
    installed = host.root / "sbin" / "flowspace-firewall"
    assert host.deploy(good).returncode == 0
    good_rules = installed.read_text()
    assert host.deploy(bad).returncode != 0
    assert "203.0.113.0/24" not in installed.read_text()
    assert installed.read_text() == good_rules, "the failed release's firewall stayed in force"


def test_concurrent_activations_take_turns(host: Host) -> None:
    first, second = host.upload(1), host.upload(2)
    for identifier in (first, second):
        assert host.run(identifier, "receive-secrets", secrets_stdin(secrets())).returncode == 0
    runs = {identifier: host.popen(identifier, "activate") for identifier in (first, second)}
    # Interleaved: both past "starting services" and neither "release active", seen twice in a row
    # (once could be a handoff between two reads).
    overlapping = 0
    deadline = time.monotonic() + 240
    while any(run.poll() is None for run in runs.values()):
        assert time.monotonic() < deadline, "the activations did not finish"
        started = [_said(host, i, "starting services") and not _said(host, i, "release active") for i in runs]
        overlapping = overlapping + 1 if all(started) else 0
        assert overlapping < 2, "activations interleaved"
        time.sleep(0.05)
    assert [run.returncode for run in runs.values()] == [0, 0], [_log(host, identifier) for identifier in runs]
    (last,) = (host.app / "releases.log").read_text().split()[-1:]
    assert host.current() == last and host.running() == last
    assert set((host.app / "releases.log").read_text().split()) == {first, second}


def _log(host: Host, identifier: str) -> str:
    log = host.app / "releases" / identifier / "activation.log"
    return log.read_text()[-2000:] if log.exists() else ""


def test_a_host_serves_one_stack(host: Host) -> None:
    prod = host.upload(1, stack="prod")
    assert host.deploy(prod).returncode == 0
    dev = host.upload(2, stack="dev")
    result = host.deploy(dev)
    assert result.returncode != 0
    assert "this host serves stack 'prod'; refusing to roll stack 'dev' onto it" in result.stderr
    assert host.current() == prod and host.running() == prod


def _boot_wait(tmp_path: Path, machine: Vm, cloud_init: str | None) -> subprocess.CompletedProcess[str]:
    """The rollout's first step on the VM whose cloud-init says `cloud_init` (a shell body), or has none."""
    from components.rollout import WAIT_FOR_BOOT

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("docker", "timeout", "basename", "grep", "cat"):
        (bin_dir / tool).symlink_to(shutil.which(tool) or f"/usr/bin/{tool}")
    if cloud_init is not None:
        (bin_dir / "cloud-init").write_text(f"#!/bin/sh\n{cloud_init}\n")
        (bin_dir / "cloud-init").chmod(0o755)
    # Only these tools: the machine's own cloud-init (if any) must not be found.
    env = {**machine.engine.env, "PATH": str(bin_dir)}
    enter, *into = machine.prefix
    return subprocess.run(
        [shutil.which(enter) or enter, *into, "/bin/sh", "-c", WAIT_FOR_BOOT],
        capture_output=True,
        text=True,
        env=env,
        timeout=30,
    )


def test_a_cloud_init_error_stops_the_rollout_with_a_clear_message(tmp_path: Path, machine: Vm) -> None:
    result = _boot_wait(tmp_path, machine, "exit 1")
    assert result.returncode != 0
    assert "cloud-init reported an error (status 1): see /var/log/cloud-init-output.log" in result.stderr


def test_a_host_without_cloud_init_does_not_wait(tmp_path: Path, machine: Vm) -> None:
    result = _boot_wait(tmp_path, machine, None)
    assert result.returncode == 0, result.stderr
    assert "no cloud-init on this host" in result.stderr


def test_a_finished_first_boot_passes(tmp_path: Path, machine: Vm) -> None:
    result = _boot_wait(tmp_path, machine, "exit 2")
    assert result.returncode == 0, result.stderr


def test_the_release_installs_the_firewall_boot_unit_on_any_host(host: Host) -> None:
    first = host.upload(1)
    assert host.deploy(first).returncode == 0
    unit = (host.root / "sbin" / "flowspace-firewall.service").read_text()
    assert f"ExecStart={host.root / 'sbin' / 'flowspace-firewall'}" in unit
    assert "sudo -n systemctl enable flowspace-firewall.service" in host.sudo_log()


def test_the_gate_verifies_the_served_certificate(host: Host) -> None:
    """The gate checks what Caddy serves against a CA (the release's origin certificate), never
    with --insecure: pointed at another CA, the same release fails its gate."""
    good = host.upload(1)
    assert host.deploy(good).returncode == 0
    bad = host.upload(2)
    release = host.app / "releases" / bad
    (release / "other-ca.pem").write_text(make_pki((SOCKET_HOST, LIVEKIT_HOST)).ca_pem)
    env_file = release / layout.RELEASE_ENV
    env_file.write_text(
        env_file.read_text().replace(f"GATE_CA_FILE={layout.ORIGIN_CERTIFICATE}", "GATE_CA_FILE=other-ca.pem")
    )
    result = host.deploy(bad)
    assert result.returncode != 0 and f"health gate: https://{SOCKET_HOST}/healthz did not answer" in result.stderr
    assert host.current() == good and host.running() == good


def test_a_release_with_the_meter_installs_it_and_starts_its_timer(host: Host) -> None:
    release = host.upload(1, meter=True)
    assert host.deploy(release).returncode == 0
    assert (host.root / "sbin" / "flowspace-egress-meter").exists()
    assert (host.root / "sbin" / "flowspace-egress.timer").exists()
    locked = (host.root / "share" / "oci-cli-requirements.txt").read_text()
    assert "oci-cli==" in locked and "--hash=sha256:" in locked
    assert (host.root / "etc" / "meter.env").read_text() == f"FLOWSPACE_APP_DIR={host.app}\n", "its health checks"
    log = host.sudo_log()
    assert "sudo -n systemctl enable --now flowspace-egress.timer" in log
    plain = host.upload(2)
    assert host.deploy(plain).returncode == 0
    assert host.sudo_log().count("flowspace-egress") == log.count("flowspace-egress"), (
        "a release without it installs nothing"
    )


REGISTRY_TOKEN = "ghp_RegistryTokenThatMustNeverBeSeen0123456789"


def test_a_failed_registry_login_changes_nothing_and_never_shows_the_password(host: Host) -> None:
    """The registry is out of reach here: the login fails, with its password given on stdin only."""
    first = host.upload(1)
    assert host.deploy(first).returncode == 0
    with_password = dataclasses.replace(secret_values(), registry_password=REGISTRY_TOKEN)
    second = host.upload(2, registry=Registry("ghcr.io", "flowcoder-bot"), secrets=with_password)
    sent = render_secret_files(with_password, ReleaseShape(origin_certificate=True, registry=True))
    result = host.deploy(second, sent)
    assert result.returncode == 1 and "docker login to ghcr.io as flowcoder-bot failed" in result.stderr
    assert REGISTRY_TOKEN not in result.stdout + result.stderr + host.sudo_log()
    assert host.current() == first and host.running() == first


@contextmanager
def registry(host: Host, user: str, password: str) -> Iterator[str]:
    """Debian's docker-registry (distribution) on the VM's loopback, behind a password: the engine
    takes a loopback registry over plain HTTP, as it takes a TLS one elsewhere."""
    require_tool("docker-registry")
    folder = host.root / "registry"
    folder.mkdir()
    hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=5)).decode()
    (folder / "htpasswd").write_text(f"{user}:{hashed}\n")
    config = {
        "version": 0.1,
        "storage": {"filesystem": {"rootdirectory": str(folder / "data")}},
        "http": {"addr": f"{REGISTRY_ADDRESS}"},
        "auth": {"htpasswd": {"realm": "flowspace-test", "path": str(folder / "htpasswd")}},
    }
    (folder / "config.yml").write_text(yaml.safe_dump(config))
    with (folder / "registry.log").open("wb") as log:
        served = subprocess.Popen(
            [*host.machine.prefix, "docker-registry", "serve", str(folder / "config.yml")], stdout=log, stderr=log
        )
    try:
        _wait_for(
            lambda: (
                host.machine.pair.run(
                    host.machine.pair.server, "curl", "-s", f"http://{REGISTRY_ADDRESS}/v2/", check=False
                ).returncode
                == 0
            ),
            20,
        )
        yield REGISTRY_ADDRESS
    finally:
        served.terminate()
        served.wait(timeout=10)


REGISTRY_ADDRESS = "127.0.0.1:5000"


def test_a_private_image_is_pulled_after_a_login_whose_password_came_on_stdin(host: Host) -> None:
    engine = host.machine.engine
    good = host.upload(1)
    assert host.deploy(good).returncode == 0
    (built,) = engine.docker("images", "--quiet", layout.SOCKET_SERVER_BUILT_IMAGE).stdout.split()
    with registry(host, "flowcoder-bot", REGISTRY_TOKEN) as address:
        # The app's image, pushed as its CI would.
        engine.docker("login", "--username", "flowcoder-bot", "--password-stdin", address, input_text=REGISTRY_TOKEN)
        engine.docker("tag", built, f"{address}/flowcoder/socket:1")
        engine.docker("push", "--quiet", f"{address}/flowcoder/socket:1")
        engine.docker("logout", address)
        digest = engine.docker("inspect", "--format", "{{index .RepoDigests 0}}", f"{address}/flowcoder/socket:1")
        pinned = digest.stdout.strip()
        engine.docker("rmi", f"{address}/flowcoder/socket:1")
        with_password = dataclasses.replace(secret_values(), registry_password=REGISTRY_TOKEN)
        pulled = host.upload(2, registry=Registry(address, "flowcoder-bot"), secrets=with_password, image=pinned)
        sent = render_secret_files(with_password, ReleaseShape(origin_certificate=True, registry=True))
        result = host.deploy(pulled, sent)
    assert result.returncode == 0, result.stderr
    assert f"pulling the socket server image from {address} as flowcoder-bot" in result.stderr
    assert host.current() == pulled and host.running() == pulled
    live = host.containers()[f"socket-server-{(host.app / layout.LIVE_SLOT_FILE).read_text().strip()}"]
    assert engine.docker("inspect", "--format", "{{.Config.Image}}", live).stdout.strip() == pinned
    # Logged out again: no credential stays on the host.
    assert address not in (Path(engine.env["DOCKER_CONFIG"]) / "config.json").read_text()
    assert REGISTRY_TOKEN not in result.stdout + result.stderr + host.sudo_log()
    # The manifest was fetched by its digest, by the release's login.
    served = (host.root / "registry" / "registry.log").read_text()
    assert f'uri="/v2/flowcoder/socket/manifests/{pinned.split("@")[1]}"' in served


def test_the_release_raises_udp_buffers_for_livekit_and_never_lowers_them(host: Host) -> None:
    (host.standin_dir / "sysctl").mkdir()
    # One already above what LiveKit asks for (left alone), one at the kernel default (raised).
    (host.standin_dir / "sysctl" / "net.core.wmem_max").write_text("26214400\n")
    first = host.upload(1)
    assert host.deploy(first).returncode == 0, "activation failed"
    commands = host.sudo_log().splitlines()
    assert "sudo -n sysctl -q -w net.core.rmem_max=5000000" in commands
    assert not [line for line in commands if "sysctl -q -w net.core.wmem_max" in line], "a higher value was lowered"
    kept = (host.root / "sbin" / "60-flowspace.conf").read_text()
    assert kept == "net.core.rmem_max=5000000\nnet.core.wmem_max=5000000\n"


def _activation_workers(under: Path) -> list[int]:
    """The detached activations (their own sessions) of the releases under a folder, by their
    command lines."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        scripts = [arg for arg in argv if arg.endswith(b"/release.sh") and arg.startswith(str(under).encode() + b"/")]
        if proc.name.isdigit() and scripts and b"activate-detached" in argv:
            found.append(int(proc.name))
    return found


def _start_activation(host: Host, identifier: str) -> subprocess.Popen[str]:
    assert host.run(identifier, "receive-secrets", secrets_stdin(secrets())).returncode == 0
    return host.popen(identifier, "activate")


def _wait_for(condition: Callable[[], bool], seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def _said(host: Host, identifier: str, words: str) -> bool:
    log = host.app / "releases" / identifier / "activation.log"
    return log.exists() and words in log.read_text()


def test_a_dropped_session_leaves_the_activation_running_to_the_end(host: Host) -> None:
    first = host.upload(1)
    session = _start_activation(host, first)
    release = host.app / "releases" / first
    _wait_for(lambda: _said(host, first, "starting services"))
    session.kill()  # the SSH channel drops: the command that followed the log is gone
    session.wait()
    _wait_for(lambda: not _activation_workers(release))
    assert host.current() == first and host.running() == first
    assert "release active" in (release / "activation.log").read_text()
    retry = host.run(first, "activate")
    assert retry.returncode == 0, retry.stderr
    assert host.current() == first and (host.app / "releases.log").read_text().split() == [first]


@pytest.mark.parametrize("step", ["starting services", "reloading Caddy"])
def test_a_killed_activation_is_finished_by_a_retry(host: Host, step: str) -> None:
    """Killed at a step: one of the two releases still serves, and the retry converges on the new one."""
    good, second = host.upload(1), host.upload(2)
    assert host.deploy(good).returncode == 0
    session = _start_activation(host, second)
    release = host.app / "releases" / second
    _wait_for(lambda: _said(host, second, step))
    workers = _activation_workers(release)
    assert workers and not _said(host, second, "release active"), "the activation ended before the kill"
    for worker in workers:
        os.kill(worker, 9)
    session.wait(timeout=60)
    assert host.running() in (good, second), "an interrupted activation must leave a good release serving"
    retry = host.run(second, "activate")
    assert retry.returncode == 0, retry.stderr
    assert host.current() == second and host.running() == second
    assert (host.app / "releases.log").read_text().split() == [good, second]


def test_a_retried_failing_activation_still_restores_the_last_good_release(host: Host) -> None:
    good, bad = host.upload(1), host.upload(2, fails="gate")
    assert host.deploy(good).returncode == 0
    session = _start_activation(host, bad)
    release = host.app / "releases" / bad
    _wait_for(lambda: _said(host, bad, "waiting for https://"))
    for worker in _activation_workers(release):
        os.kill(worker, 9)
    session.wait(timeout=60)
    retry = host.run(bad, "activate")
    assert retry.returncode != 0
    assert f"restoring the previous release {good}" in retry.stderr, retry.stderr
    assert "no previous release" not in retry.stderr
    assert host.current() == good and host.running() == good


def test_a_failing_first_release_never_becomes_the_boot_firewall(host: Host) -> None:
    bad = host.upload(1, fails="gate")
    assert host.deploy(bad).returncode != 0
    assert not (host.root / "sbin" / "flowspace-firewall").exists(), "an unproven firewall was installed for boot"


def test_a_rollback_restores_even_when_its_bookkeeping_cannot_be_written(host: Host) -> None:
    good, bad = host.upload(1), host.upload(2, fails="gate")
    assert host.deploy(good).returncode == 0
    (host.app / "failed.log").mkdir()  # writing the failure down fails, as on a full disk
    result = host.deploy(bad)
    assert result.returncode == 1
    assert "previous release restored" in result.stderr
    assert host.current() == good and host.running() == good


def test_a_good_release_installs_the_upkeep_that_its_host_can_read(host: Host) -> None:
    """Docker's packages held back from unattended upgrades and a reboot only in the window; a host
    without needrestart gets no configuration for it."""
    result = host.deploy(host.upload(1))
    assert result.returncode == 0, result.stderr
    installed = (host.apt_conf_dir / "52flowspace-upgrades").read_text()
    assert '"docker.io";' in installed and 'Automatic-Reboot-Time "19:00"' in installed
    assert not (host.root / "needrestart").exists()
