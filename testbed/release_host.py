"""A host as the rollout drives it: each release's plain files uploaded into `releases/<id>/` (what
the CopyToRemote resources do), its secret files on the stdin of `release.sh receive-secrets`, then
`release.sh activate` (and `retire` on delete). Used by the host suite and the e2e site.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from model import layout
from render.release import Release, retire_command, secrets_stdin

STANDINS = Path(__file__).resolve().parent / "standins"
# The actions that name the server the host is (an instance id on OCI).
FOR_A_SERVER = ("activate", "retire")


@dataclass
class ReleaseHost:
    # The user's home on the host: the app folder is under it, and commands run in it.
    home: Path
    # The environment release.sh runs with (the engine's DOCKER_HOST, the stand-ins' folder).
    env: Mapping[str, str]
    # Runs a command on the host: a prefix such as nsenter into the VM's network namespace.
    prefix: Sequence[str] = ()
    timeout: float = 600
    server: str = "ocid1.instance.oc1.ap-chuncheon-1.testserver"
    uploaded: dict[str, Release] = field(default_factory=dict)
    # What each release's last activation printed, by server: pulumi-command hands a delete the
    # create's output as PULUMI_COMMAND_STDOUT.
    activations: dict[tuple[str, str], str] = field(default_factory=dict)

    @property
    def app(self) -> Path:
        return self.home / layout.APP_DIR_NAME

    def release_dir(self, identifier: str) -> Path:
        return self.app / layout.RELEASES_DIR / identifier

    def upload(self, release: Release) -> str:
        for name, content in release.plain.items():
            path = self.release_dir(release.id) / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(content)
        self.uploaded[release.id] = release
        return release.id

    def command(
        self, argv: Sequence[str], stdin: str = "", timeout: float | None = None, env: Mapping[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        # In the user's home, as a login shell would be: never in the checkout.
        return subprocess.run(
            [*self.prefix, *argv],
            input=stdin,
            capture_output=True,
            text=True,
            env={**self.env, **(env or {})},
            timeout=timeout or self.timeout,
            cwd=self.home,
        )

    def created_output(self, identifier: str) -> dict[str, str]:
        """What a delete gets of its create: the activation's output, as pulumi-command sends it."""
        printed = self.activations.get((self.server, identifier))
        return {"PULUMI_COMMAND_STDOUT": printed} if printed else {}

    def argv(self, identifier: str, action: str) -> list[str]:
        script = str(self.release_dir(identifier) / layout.RELEASE_SCRIPT)
        return ["sh", script, action, *([self.server] if action in FOR_A_SERVER else [])]

    def run(self, identifier: str, action: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        extra = self.created_output(identifier) if action == "retire" else {}
        result = self.command(self.argv(identifier, action), stdin, env=extra)
        if action == "activate" and result.returncode == 0:
            self.activations[(self.server, identifier)] = result.stdout.strip()
        return result

    def popen(self, identifier: str, action: str) -> subprocess.Popen[str]:
        """A session left running; what it prints is in the release's activation log, so nothing is
        piped (an unread pipe would block the session once full)."""
        return subprocess.Popen(
            [*self.prefix, *self.argv(identifier, action)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            text=True,
            env=dict(self.env),
            cwd=self.home,
            start_new_session=True,
        )

    def receive_secrets(self, identifier: str) -> None:
        received = self.run(identifier, "receive-secrets", secrets_stdin(self.uploaded[identifier].secret))
        assert received.returncode == 0, received.stderr

    def deploy(self, release: Release) -> subprocess.CompletedProcess[str]:
        identifier = self.upload(release)
        self.receive_secrets(identifier)
        return self.run(identifier, "activate")

    def retire(self, identifier: str) -> subprocess.CompletedProcess[str]:
        """What deleting an activation runs (the release may be pruned already)."""
        script = str(self.release_dir(identifier) / layout.RELEASE_SCRIPT)
        return self.command(["sh", "-c", retire_command(script, self.server)], env=self.created_output(identifier))

    def current(self) -> str:
        return Path(os.readlink(self.app / "current")).name

    def releases(self) -> set[str]:
        return {path.name for path in (self.app / layout.RELEASES_DIR).iterdir()}


def standin_env(standin_dir: Path, base: Mapping[str, str], sudo_runs: bool = False) -> dict[str, str]:
    """PATH with the stand-ins for sudo, sysctl, systemctl (and, on a test host, curl) first."""
    standin_dir.mkdir(parents=True, exist_ok=True)
    env = {**base, "PATH": f"{STANDINS}:{base.get('PATH', os.environ['PATH'])}", "STANDIN_DIR": str(standin_dir)}
    if sudo_runs:
        env["STANDIN_SUDO"] = "run"
    return env


def host_paths(root: Path) -> dict[str, str]:
    """Where a test host's release puts what a real host keeps under /etc and /usr/local: all under
    `root` (its folders made here), with apt's configuration folder and without needrestart."""
    for folder in ("sbin", "share", "etc", "apt/apt.conf.d"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    return {
        "firewall_script": str(root / "sbin" / "flowspace-firewall"),
        "unit_dir": str(root / "sbin"),
        "sysctl_path": str(root / "sbin" / "60-flowspace.conf"),
        "upkeep_apt_conf_path": str(root / "apt" / "apt.conf.d" / "52flowspace-upgrades"),
        "upkeep_needrestart_path": str(root / "needrestart" / "conf.d" / "60-flowspace.conf"),
        "egress_meter_path": str(root / "sbin" / "flowspace-egress-meter"),
        "egress_cli_requirements_path": str(root / "share" / "oci-cli-requirements.txt"),
        "egress_host_env_path": str(root / "etc" / "meter.env"),
    }
