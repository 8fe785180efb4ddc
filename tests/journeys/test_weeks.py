"""Weeks of operation, as an operator runs them, on the real engine: the existing-server host (real
sshd, dockerd, Compose, Caddy, LiveKit), the state in a real S3 server with versioning (versitygw),
and a steady stream of HTTPS requests through Caddy all along, which must never fail.

Deploys with `scripts/deploy` (the preview and the policy pack, then `up`), a rollback with
`scripts/ops` and the next deploy, `up --replace` of the activation, and a backend lost and
restored from `scripts/backup-state`. At the end the host and the state agree (`ops status`
against the stack's outputs), the host kept its release history, and the bucket kept every version
of the state.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from render.caddy import HEALTH_ROUTE
from testbed.engine import (
    ROOT,
    Operator,
    SshHost,
    existing_server_config,
    install_engine,
    operator_for,
    project_copy,
    ssh_host,
)
from testbed.s3_state import BUCKET, S3State, s3_state
from testbed.tools import require, require_root, require_tool

SOCKET_HOST = "space-socket.flow-coder.com"


@dataclass
class Site:
    host: SshHost
    operator: Operator
    s3: S3State
    work: Path


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    require_root()
    for tool in ("ssh-keygen", "unshare", "nsenter", "flock", "curl"):
        require_tool(tool)
    require(Path("/usr/sbin/sshd").exists(), "openssh-server is not installed")
    versitygw = Path(os.environ.get("VERSITYGW", ""))
    require(versitygw.is_file(), "versitygw not built: scripts/build-versitygw")
    engine = install_engine()
    work = tmp_path_factory.mktemp("weeks")
    config = existing_server_config
    with (
        ssh_host(work / "host", tag="jw") as host,
        s3_state(versitygw, host.pair.client, work / "s3") as s3,
        operator_for(host, engine, work / "operator", config(host), "weeks", s3.env()) as operator,
    ):
        yield Site(host, operator, s3, work)


class SteadyRequests:
    """curl after curl of the socket server's health route through Caddy, from the operator's
    namespace, each a new connection, until stopped; counts the requests and the failures."""

    def __init__(self, site: Site) -> None:
        ca = site.work / "ca.pem"
        ca.write_text(site.host.pki.ca_pem)
        self.stop_file = site.work / "steady.stop"
        loop = (
            "requests=0 failed=0; "
            f'while [ ! -e "{self.stop_file}" ]; do requests=$((requests + 1)); '
            f"curl -fsS -o /dev/null --max-time 10 --cacert {ca} "
            f"--resolve {SOCKET_HOST}:443:{site.host.pair.server_ip} https://{SOCKET_HOST}{HEALTH_ROUTE} "
            "2>> " + str(site.work / "steady.errors") + " || failed=$((failed + 1)); sleep 0.2; done; "
            'echo "$requests $failed"'
        )
        self.process = subprocess.Popen(
            ["ip", "netns", "exec", site.operator.namespace, "bash", "-c", loop], stdout=subprocess.PIPE, text=True
        )
        self.errors = site.work / "steady.errors"

    def stop(self) -> tuple[int, int, str]:
        self.stop_file.touch()
        out, _ = self.process.communicate(timeout=60)
        requests, failed = (int(number) for number in out.split())
        return requests, failed, self.errors.read_text() if self.errors.exists() else ""


def run(
    site: Site, *command: str, cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """An operator's command, in the operator's namespace, with its backend and keys (or `env`)."""
    return subprocess.run(
        ["ip", "netns", "exec", site.operator.namespace, *command],
        cwd=cwd,
        env=site.operator.env() if env is None else env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )


def script(site: Site, name: str, *arguments: str) -> subprocess.CompletedProcess[str]:
    project = ("--project-dir", str(site.operator.project))
    result = run(site, str(ROOT / "scripts" / name), "-s", site.operator.stack, *project, *arguments)
    assert result.returncode == 0, f"scripts/{name} {' '.join(arguments)}:\n{(result.stdout + result.stderr)[-4000:]}"
    return result


def declared(site: Site) -> str:
    return str(site.operator.outputs()["release_id"])


def running(site: Site) -> str:
    status = script(site, "ops", "status").stdout
    return next(line.split(": ", 1)[1] for line in status.splitlines() if line.startswith("release: "))


def second_operator(site: Site) -> None:
    """Another operator: a fresh checkout with the committed stack file, the backend's address and
    keys, and the passphrase in a file of their own (README, first day): nothing to change."""
    checkout = project_copy(site.work / "second-operator")
    stack_file = f"Pulumi.{site.operator.stack}.yaml"
    (checkout / stack_file).write_text((site.operator.project / stack_file).read_text())
    passphrase = site.work / "passphrase"
    passphrase.write_text(site.operator.passphrase)
    passphrase.chmod(0o600)
    env = {
        **{name: value for name, value in site.operator.env().items() if name != "PULUMI_CONFIG_PASSPHRASE"},
        "PULUMI_CONFIG_PASSPHRASE_FILE": str(passphrase),
    }
    pulumi = str(site.operator.engine / "bin" / "pulumi")
    preview = run(
        site,
        pulumi,
        "preview",
        "--stack",
        site.operator.stack,
        "--expect-no-changes",
        "--non-interactive",
        cwd=checkout,
        env=env,
    )
    assert preview.returncode == 0, (preview.stdout + preview.stderr)[-3000:]


def test_weeks_of_operation_never_fail_a_request_and_lose_nothing(site: Site) -> None:
    timings: dict[str, float] = {}

    def timed(step: str, started: float) -> None:
        timings[step] = round(time.monotonic() - started, 1)

    # The policy pack's virtualenv comes from PyPI, out of the namespace's reach: made first.
    subprocess.run([str(site.operator.project / "scripts" / "ensure-venv"), "--policy"], check=True)
    started = time.monotonic()
    first = script(site, "deploy", "--yes")
    assert "flowspace-always-free" in first.stdout and "[deploy] done" in first.stdout, first.stdout[-3000:]
    timed("first deploy", started)
    first_release = declared(site)
    assert running(site) == first_release
    steady = SteadyRequests(site)
    try:
        started = time.monotonic()
        site.operator.set_config({"healthGateSeconds": "7"})
        script(site, "deploy", "--yes")
        second_release = declared(site)
        assert second_release != first_release and running(site) == second_release
        timed("a new release", started)

        started = time.monotonic()
        script(site, "ops", "rollback")
        assert running(site) == first_release, "the operator's rollback holds"
        script(site, "deploy", "--yes")
        assert running(site) == second_release, "the next deploy brings the declared release back"
        timed("rollback, then the next deploy", started)

        started = time.monotonic()
        exported = json.loads(site.operator.must("stack", "export").stdout)["deployment"]["resources"]
        (activation,) = [str(r["urn"]) for r in exported if str(r["urn"]).endswith("::rollout-activate")]
        replaced = site.operator.must("up", "--yes", "--skip-preview", "--non-interactive", "--replace", activation)
        assert "was activated again" in replaced.output and "stopping the stack" not in replaced.output
        assert running(site) == second_release
        timed("up --replace of the activation", started)

        started = time.monotonic()
        backups = site.work / "backups"
        backups.mkdir()
        script(site, "backup-state", "--out", str(backups))
        (backup,) = backups.iterdir()
        lost = {**site.s3.env(), "PULUMI_BACKEND_URL": site.s3.backend_url.replace(BUCKET, f"{BUCKET}-new", 1)}
        site.s3.s3("create_bucket", Bucket=f"{BUCKET}-new")
        site.operator.extra_env.update(lost)
        script(site, "backup-state", "--restore", str(backup))
        site.operator.must("preview", "--expect-no-changes", "--non-interactive")
        assert declared(site) == second_release and running(site) == second_release
        timed("backend lost, restored", started)

        started = time.monotonic()
        second_operator(site)
        timed("a second operator's preview", started)
    finally:
        requests, failed, errors = steady.stop()
    assert requests > 100 and failed == 0, f"{failed} of {requests} requests failed:\n{errors[-2000:]}"

    releases = script(site, "ops", "releases").stdout
    assert f"{second_release}  running" in releases and first_release in releases, releases
    versions = {key: count for key, count in site.s3.state_versions().items() if key.endswith("/weeks.json")}
    assert versions and max(versions.values()) > 5, f"the bucket kept too few versions of the state: {versions}"
    print(f"journey steps (s): {timings}; {requests} requests, 0 failed; state versions kept: {versions}")
