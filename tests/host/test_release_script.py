"""release.sh as it runs on the host: activate, health gate, rollback, pruning, retire.

Docker, curl and sudo are stand-ins (testbed/standins*): these are the script's own decisions; the
e2e suite runs the same script on a real engine. Every file is the program's.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import shutil
import stat
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from model.app import Registry, SocketServer
from model.compute import InstanceSpec
from model.layout import ReleaseShape
from model.ports import Ingress
from model.source_tree import SourceFile, SourceTree
from render.release import (
    ReleaseSettings,
    SecretValues,
    build_release,
    render_secret_files,
    secrets_stdin,
)
from testbed.release_host import ReleaseHost, host_paths

STANDINS = Path(__file__).resolve().parents[2] / "testbed" / "standins"
NO_ENGINE = STANDINS.with_name("standins-no-engine")
LIVEKIT_SECRET = "Zq8sSecretThatMustNeverBeSeen0123456789abcdefgh"
ORIGIN_KEY = "-----BEGIN PRIVATE KEY-----\nORIGINKEYMATERIALneverprinted\n-----END PRIVATE KEY-----\n"
METRICS_TOKEN = "MetricsTokenThatMustNeverBeSeen0123456789abcdef"
SECRET_VALUES = SecretValues("APIexamplekey", LIVEKIT_SECRET, METRICS_TOKEN, origin_key_pem=ORIGIN_KEY)
# Every test release has the origin certificate.
SECRETS = render_secret_files(SECRET_VALUES, ReleaseShape(origin_certificate=True))

SOURCE = SourceTree(
    (
        SourceFile("Dockerfile", b"FROM scratch\n"),
        SourceFile("package.json", b"{}"),
        SourceFile("src/server.ts", b"export {};\n"),
        SourceFile("scripts/start.sh", b"#!/bin/sh\n", executable=True),
    )
)


@dataclass
class Host:
    root: Path

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
        return {
            **os.environ,
            "PATH": f"{NO_ENGINE}:{STANDINS}:{os.environ['PATH']}",
            "STANDIN_DIR": str(self.standin_dir),
        }

    def upload(
        self,
        variant: int,
        stack: str = "prod",
        ssh_cidrs: tuple[str, ...] = ("0.0.0.0/0",),
        meter: bool = False,
        registry: Registry | None = None,
        secrets: SecretValues = SECRET_VALUES,
    ) -> str:
        """What the CopyToRemote resources do: one release directory of plain files."""
        settings = ReleaseSettings(
            stack=stack,
            public_ip="203.0.113.10",
            socket_hostname="space-socket.flow-coder.com",
            livekit_hostname="space-livekit.flow-coder.com",
            certificate_pem=f"-----BEGIN CERTIFICATE-----\nvariant {variant}\n-----END CERTIFICATE-----\n",
            ingress=Ingress(ssh_cidrs),
            instance=InstanceSpec(ocpus=4, memory_gb=24, boot_volume_gb=50, availability_domain=0, image_id=None),
            socket_server=SocketServer(
                image=f"{registry.host}/flowcoder/socket@sha256:{'a' * 64}" if registry else None,
                source=None if registry else SOURCE,
                health_gate_seconds=2,
                registry=registry,
            ),
            egress_meter=meter,
            **host_paths(self.root),
            gate_interval_seconds=0,
        )
        return self.release_host.upload(build_release(settings, secrets))

    @property
    def release_host(self) -> ReleaseHost:
        return ReleaseHost(self.root / "home" / "ubuntu", self.env(), timeout=60)

    def run(self, identifier: str, action: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        return self.release_host.run(identifier, action, stdin)

    def retire(self, identifier: str) -> subprocess.CompletedProcess[str]:
        """What deleting an activation runs (the release may be pruned already)."""
        return self.release_host.retire(identifier)

    def deploy(self, identifier: str, secrets: dict[str, str] = SECRETS) -> subprocess.CompletedProcess[str]:
        received = self.run(identifier, "receive-secrets", secrets_stdin(secrets))
        assert received.returncode == 0, received.stderr
        return self.run(identifier, "activate")

    def mark(self, identifier: str, behaviour: str) -> None:
        with (self.standin_dir / "behaviour").open("a") as handle:
            handle.write(f"{identifier} {behaviour}\n")

    def current(self) -> str:
        return Path(os.readlink(self.app / "current")).name

    def running(self) -> str:
        return (self.standin_dir / "running").read_text().strip()

    def releases(self) -> set[str]:
        return {path.name for path in (self.app / "releases").iterdir()}


@pytest.fixture
def host(tmp_path: Path) -> Host:
    created = Host(tmp_path)
    created.app.mkdir(parents=True)
    created.standin_dir.mkdir()
    return created


def test_activation_starts_the_release_and_passes_the_gate(host: Host) -> None:
    first = host.upload(1)
    result = host.deploy(first)
    assert result.returncode == 0, result.stderr
    assert host.current() == first and host.running() == first
    assert "healthy: https://space-socket.flow-coder.com/healthz" in result.stderr
    assert "healthy: https://space-livekit.flow-coder.com/healthz" in result.stderr
    assert (host.root / "sbin" / "flowspace-firewall").exists(), "the release's firewall was not installed"


def test_the_source_archive_is_unpacked_for_the_build_as_shipped(host: Host) -> None:
    first = host.upload(1)
    assert host.deploy(first).returncode == 0
    folder = host.app / "releases" / first / "socket-server"
    for file in SOURCE.files:
        assert (folder / file.path).read_bytes() == file.content, file.path
        assert os.access(folder / file.path, os.X_OK) == file.executable, file.path
    assert sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()) == sorted(
        f.path for f in SOURCE.files
    )


def test_secret_files_are_written_0600_from_stdin(host: Host) -> None:
    first = host.upload(1)
    assert host.deploy(first).returncode == 0
    for name, content in SECRETS.items():
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
    result = host.run(first, "receive-secrets", secrets_stdin({"origin.key": ORIGIN_KEY}))
    assert result.returncode != 0 and "livekit-keys.yaml was not received" in result.stderr


def test_failing_health_gate_restores_the_previous_release(host: Host) -> None:
    good, bad = host.upload(1), host.upload(2)
    assert host.deploy(good).returncode == 0
    host.mark(bad, "fail-health")
    result = host.deploy(bad)
    assert result.returncode != 0, "a release that fails its health gate must fail the rollout"
    assert "health gate: https://space-socket.flow-coder.com/healthz did not answer" in result.stderr
    assert "last log lines of socket-server" in result.stderr
    assert f"stand-in log line of release {bad}" in result.stderr
    assert f"restoring the previous release {good}" in result.stderr
    assert host.current() == good and host.running() == good
    restore = [line for line in (host.standin_dir / "argv.log").read_text().splitlines() if f"/{good} " in line]
    # Back to the good release's slot, and the failed release's slot stopped.
    assert any("up --detach --wait --remove-orphans livekit caddy socket-server-blue" in line for line in restore)
    assert restore[-1].endswith("rm --stop --force socket-server-green"), restore[-1]


def test_service_that_never_gets_healthy_names_itself_and_rolls_back(host: Host) -> None:
    good, bad = host.upload(1), host.upload(2)
    assert host.deploy(good).returncode == 0
    host.mark(bad, "fail-start")
    result = host.deploy(bad)
    assert result.returncode != 0
    assert "docker compose up --wait: livekit did not become healthy" in result.stderr
    assert "last log lines of livekit" in result.stderr
    assert host.current() == good and host.running() == good


def test_first_release_failing_says_there_is_nothing_to_restore(host: Host) -> None:
    bad = host.upload(1)
    host.mark(bad, "fail-health")
    result = host.deploy(bad)
    assert result.returncode != 0 and "no previous release to restore" in result.stderr


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
    assert host.current() == first and host.releases() == {first, second}


def test_retire_stops_only_the_current_release(host: Host) -> None:
    first, second = host.upload(1), host.upload(2)
    assert host.deploy(first).returncode == 0
    assert host.deploy(second).returncode == 0
    assert host.run(first, "retire").returncode == 0, "retiring a replaced release must not stop the stack"
    assert host.running() == second
    result = host.run(second, "retire")
    assert result.returncode == 0, result.stderr
    assert not (host.standin_dir / "running").exists()
    assert not (host.app / "releases").exists() and not (host.app / "current").exists()


def test_a_replaced_server_keeps_the_release_its_replacement_got(host: Host) -> None:
    """The reserved address moves to the new instance, which gets the same release; the delete of
    the old instance's activation then reaches the new one, and must leave it running."""
    release = host.upload(1)
    replaced = dataclasses.replace(host.release_host, server="ocid1.instance.oc1.ap-chuncheon-1.replacement")
    assert replaced.run(release, "receive-secrets", secrets_stdin(SECRETS)).returncode == 0
    assert replaced.run(release, "activate").returncode == 0
    old = host.retire(release)
    assert old.returncode == 0 and "nothing to retire" in old.stderr, old.stderr
    assert host.current() == release and host.running() == release
    assert replaced.retire(release).returncode == 0
    assert not (host.app / "current").exists()


def test_no_secret_reaches_a_command_line_or_any_output(host: Host) -> None:
    good, bad = host.upload(1), host.upload(2)
    outputs = [host.deploy(good)]
    host.mark(bad, "fail-health")
    outputs.append(host.deploy(bad))
    outputs.append(host.run(good, "retire"))
    argv = (host.standin_dir / "argv.log").read_text()
    seen = argv + "".join(result.stdout + result.stderr for result in outputs)
    for secret in (LIVEKIT_SECRET, "ORIGINKEYMATERIALneverprinted"):
        assert secret not in seen, "a secret appeared in a command line or the output"


def test_failed_attempts_never_push_a_live_release_out_of_the_kept_set(host: Host) -> None:
    good = [host.upload(n) for n in (1, 2, 3)]
    for identifier in good:
        assert host.deploy(identifier).returncode == 0
    failures = [host.upload(n) for n in (4, 5)]
    for identifier in failures:
        host.mark(identifier, "fail-health")
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
    bad = host.upload(1)
    host.mark(bad, "fail-start")
    assert host.deploy(bad).returncode != 0
    assert not (host.standin_dir / "running").exists(), "a failed first release must not keep running"
    assert not (host.app / "current").exists()
    good = host.upload(2)
    assert host.deploy(good).returncode == 0
    assert host.retire(good).returncode == 0
    assert not host.app.exists(), f"left on the host: {list(host.app.rglob('*')) if host.app.exists() else []}"


def test_rollback_restores_the_previous_firewall(host: Host) -> None:
    good = host.upload(1, ssh_cidrs=("198.51.100.0/24",))
    bad = host.upload(2, ssh_cidrs=("203.0.113.0/24",))
    installed = host.root / "sbin" / "flowspace-firewall"
    assert host.deploy(good).returncode == 0
    good_rules = installed.read_text()
    host.mark(bad, "fail-health")
    assert host.deploy(bad).returncode != 0
    assert "203.0.113.0/24" not in installed.read_text()
    assert installed.read_text() == good_rules, "the failed release's firewall stayed in force"


def test_concurrent_activations_take_turns(host: Host) -> None:
    first, second = host.upload(1), host.upload(2)
    for identifier in (first, second):
        assert host.run(identifier, "receive-secrets", secrets_stdin(SECRETS)).returncode == 0
    env = {**host.env(), "STANDIN_UP_SECONDS": "1"}
    runs = [
        subprocess.Popen(
            host.release_host.argv(identifier, "activate"),
            env=env,
            stderr=subprocess.PIPE,
            text=True,
            cwd=host.root,
        )
        for identifier in (first, second)
    ]
    for run in runs:
        assert run.wait(timeout=60) == 0, run.stderr.read() if run.stderr else ""
    order = [line for line in (host.standin_dir / "argv.log").read_text().splitlines() if line.startswith("docker")]
    owners = [first if f"/{first} " in line else second for line in order if "compose" in line]
    assert owners == sorted(owners, key=owners.index), f"activations interleaved: {owners}"
    assert host.current() == owners[-1] and host.running() == owners[-1]
    assert set((host.app / "releases.log").read_text().split()) == {first, second}


def test_a_host_serves_one_stack(host: Host) -> None:
    prod = host.upload(1, stack="prod")
    assert host.deploy(prod).returncode == 0
    dev = host.upload(2, stack="dev")
    result = host.deploy(dev)
    assert result.returncode != 0
    assert "this host serves stack 'prod'; refusing to roll stack 'dev' onto it" in result.stderr
    assert host.current() == prod and host.running() == prod


def _boot_wait(tmp_path: Path, cloud_init: str | None) -> subprocess.CompletedProcess[str]:
    """The rollout's first step against a host whose cloud-init says `cloud_init` (a shell body), or has none."""
    from components.rollout import WAIT_FOR_BOOT

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "docker").symlink_to(NO_ENGINE / "docker")
    for tool in ("timeout", "basename", "grep", "cat"):
        (bin_dir / tool).symlink_to(shutil.which(tool) or f"/usr/bin/{tool}")
    if cloud_init is not None:
        (bin_dir / "cloud-init").write_text(f"#!/bin/sh\n{cloud_init}\n")
        (bin_dir / "cloud-init").chmod(0o755)
    (tmp_path / "standin").mkdir()
    # Only these tools: the machine's own cloud-init (if any) must not be found.
    env = {"PATH": str(bin_dir), "STANDIN_DIR": str(tmp_path / "standin")}
    return subprocess.run(["/bin/sh", "-c", WAIT_FOR_BOOT], capture_output=True, text=True, env=env, timeout=30)


def test_a_cloud_init_error_stops_the_rollout_with_a_clear_message(tmp_path: Path) -> None:
    result = _boot_wait(tmp_path, "exit 1")
    assert result.returncode != 0
    assert "cloud-init reported an error (status 1): see /var/log/cloud-init-output.log" in result.stderr


def test_a_host_without_cloud_init_does_not_wait(tmp_path: Path) -> None:
    result = _boot_wait(tmp_path, None)
    assert result.returncode == 0, result.stderr
    assert "no cloud-init on this host" in result.stderr


def test_a_finished_first_boot_passes(tmp_path: Path) -> None:
    result = _boot_wait(tmp_path, "exit 2")
    assert result.returncode == 0, result.stderr


def test_the_release_installs_the_firewall_boot_unit_on_any_host(host: Host) -> None:
    first = host.upload(1)
    assert host.deploy(first).returncode == 0
    unit = (host.root / "sbin" / "flowspace-firewall.service").read_text()
    assert f"ExecStart={host.root / 'sbin' / 'flowspace-firewall'}" in unit
    log = (host.standin_dir / "argv.log").read_text()
    assert "sudo -n systemctl enable flowspace-firewall.service" in log


def test_the_gate_verifies_the_served_certificate_against_the_releases_own(host: Host) -> None:
    first = host.upload(1)
    assert host.deploy(first).returncode == 0
    gate_calls = [line for line in (host.standin_dir / "argv.log").read_text().splitlines() if line.startswith("curl")]
    assert gate_calls, "the gate ran no curl"
    for call in gate_calls:
        assert "--insecure" not in call and " -k " not in call, call
        assert f"--cacert {host.app / 'releases' / first / 'origin.pem'}" in call, call


def test_a_release_with_the_meter_installs_it_and_starts_its_timer(host: Host) -> None:
    release = host.upload(1, meter=True)
    assert host.deploy(release).returncode == 0
    assert (host.root / "sbin" / "flowspace-egress-meter").exists()
    assert (host.root / "sbin" / "flowspace-egress.timer").exists()
    locked = (host.root / "share" / "oci-cli-requirements.txt").read_text()
    assert "oci-cli==" in locked and "--hash=sha256:" in locked
    assert (host.root / "etc" / "meter.env").read_text() == f"FLOWSPACE_APP_DIR={host.app}\n", "its health checks"
    log = (host.standin_dir / "argv.log").read_text()
    assert "sudo -n systemctl enable --now flowspace-egress.timer" in log
    plain = host.upload(2)
    assert host.deploy(plain).returncode == 0
    after = (host.standin_dir / "argv.log").read_text()
    assert after.count("flowspace-egress") == log.count("flowspace-egress"), "a release without it installs nothing"


REGISTRY_TOKEN = "ghp_RegistryTokenThatMustNeverBeSeen0123456789"


def test_a_private_image_is_pulled_after_a_login_whose_password_came_on_stdin(host: Host) -> None:
    registry = Registry("ghcr.io", "flowcoder-bot")
    secrets = dataclasses.replace(SECRET_VALUES, registry_password=REGISTRY_TOKEN)
    first = host.upload(1, registry=registry, secrets=secrets)
    result = host.deploy(first, render_secret_files(secrets, ReleaseShape(origin_certificate=True, registry=True)))
    assert result.returncode == 0, result.stderr
    log = (host.standin_dir / "registry.log").read_text().splitlines()
    digest = hashlib.sha256(REGISTRY_TOKEN.encode()).hexdigest()
    login = "login login --username flowcoder-bot --password-stdin ghcr.io"
    assert log[0] == f"{login} stdin-bytes={len(REGISTRY_TOKEN)} stdin-sha256={digest}"
    assert log[1] == f"pull pull --quiet ghcr.io/flowcoder/socket@sha256:{'a' * 64}" and log[2] == "logout ghcr.io", log
    everything = result.stdout + result.stderr + (host.standin_dir / "argv.log").read_text() + "\n".join(log)
    assert REGISTRY_TOKEN not in everything
    assert host.running() == first


def test_a_failed_registry_login_changes_nothing(host: Host) -> None:
    first = host.upload(1)
    assert host.deploy(first).returncode == 0
    secrets = dataclasses.replace(SECRET_VALUES, registry_password="wrong")
    (host.standin_dir / "behaviour").write_text("* fail-login\n")
    second = host.upload(2, registry=Registry("ghcr.io", "flowcoder-bot"), secrets=secrets)
    result = host.deploy(second, render_secret_files(secrets, ReleaseShape(origin_certificate=True, registry=True)))
    assert result.returncode == 1 and "docker login to ghcr.io as flowcoder-bot failed" in result.stderr
    assert host.current() == first and host.running() == first


def test_the_release_raises_udp_buffers_for_livekit_and_never_lowers_them(host: Host) -> None:
    (host.standin_dir / "sysctl").mkdir()
    # One already above what LiveKit asks for (left alone), one at the kernel default (raised).
    (host.standin_dir / "sysctl" / "net.core.wmem_max").write_text("26214400\n")
    first = host.upload(1)
    assert host.deploy(first).returncode == 0, "activation failed"
    commands = (host.standin_dir / "argv.log").read_text().splitlines()
    assert "sudo -n sysctl -q -w net.core.rmem_max=5000000" in commands
    assert not [line for line in commands if "sysctl -q -w net.core.wmem_max" in line], "a higher value was lowered"
    kept = (host.root / "sbin" / "60-flowspace.conf").read_text()
    assert kept == "net.core.rmem_max=5000000\nnet.core.wmem_max=5000000\n"


def _activation_workers(release: Path) -> list[int]:
    """The detached activations of one release (their own sessions), by their command lines."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if proc.name.isdigit() and str(release / "release.sh").encode() in argv and b"activate-detached" in argv:
            found.append(int(proc.name))
    return found


def _start_activation(host: Host, identifier: str, up_seconds: str) -> subprocess.Popen[str]:
    assert host.run(identifier, "receive-secrets", secrets_stdin(SECRETS)).returncode == 0
    return subprocess.Popen(
        host.release_host.argv(identifier, "activate"),
        env={**host.env(), "STANDIN_UP_SECONDS": up_seconds},
        stderr=subprocess.PIPE,
        text=True,
        cwd=host.root,
    )


def _wait_for(condition: Callable[[], bool], seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def test_a_dropped_session_leaves_the_activation_running_to_the_end(host: Host) -> None:
    first = host.upload(1)
    session = _start_activation(host, first, up_seconds="2")
    release = host.app / "releases" / first
    _wait_for(lambda: bool(_activation_workers(release)))
    session.kill()  # the SSH channel drops: the command that followed the log is gone
    session.wait()
    _wait_for(lambda: not _activation_workers(release))
    assert host.current() == first and host.running() == first
    assert "release active" in (release / "activation.log").read_text()
    retry = host.run(first, "activate")
    assert retry.returncode == 0, retry.stderr
    assert host.current() == first and (host.app / "releases.log").read_text().split() == [first]


def test_a_killed_activation_is_finished_by_a_retry(host: Host) -> None:
    good, second = host.upload(1), host.upload(2)
    assert host.deploy(good).returncode == 0
    session = _start_activation(host, second, up_seconds="5")
    release = host.app / "releases" / second
    _wait_for(
        lambda: any(
            f"/{second} " in line and " up --detach" in line
            for line in (host.standin_dir / "argv.log").read_text().splitlines()
        )
    )
    for worker in _activation_workers(release):
        os.kill(worker, 9)
    session.wait(timeout=30)
    assert host.current() == good, "an interrupted activation must leave the last good release in place"
    retry = host.run(second, "activate")
    assert retry.returncode == 0, retry.stderr
    assert host.current() == second and host.running() == second
    assert (host.app / "releases.log").read_text().split() == [good, second]


def test_a_retried_failing_activation_still_restores_the_last_good_release(host: Host) -> None:
    good, bad = host.upload(1), host.upload(2)
    assert host.deploy(good).returncode == 0
    host.mark(bad, "fail-health")
    session = _start_activation(host, bad, up_seconds="5")
    release = host.app / "releases" / bad
    _wait_for(lambda: bool(_activation_workers(release)))
    time.sleep(1)
    for worker in _activation_workers(release):
        os.kill(worker, 9)
    session.wait(timeout=30)
    retry = host.run(bad, "activate")
    assert retry.returncode != 0
    assert f"restoring the previous release {good}" in retry.stderr, retry.stderr
    assert "no previous release" not in retry.stderr
    assert host.current() == good and host.running() == good


def test_a_failing_first_release_never_becomes_the_boot_firewall(host: Host) -> None:
    bad = host.upload(1)
    host.mark(bad, "fail-health")
    assert host.deploy(bad).returncode != 0
    assert not (host.root / "sbin" / "flowspace-firewall").exists(), "an unproven firewall was installed for boot"


def test_a_rollback_restores_even_when_its_bookkeeping_cannot_be_written(host: Host) -> None:
    good, bad = host.upload(1), host.upload(2)
    assert host.deploy(good).returncode == 0
    host.mark(bad, "fail-health")
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
