"""The deploy workflow on a real runner: nektos/act (scripts/build-act) runs `.github/workflows/up.yml`
as a push to main calls it, on the self-hosted platform, in the operator's network namespace, with
the pinned actions from their snapshots (`--local-repository`), the secrets named as the docs name
them, the state in a versioned S3 bucket and the existing-server host as prod. The runner has
Python 3.11 in its tool cache, the tested `pulumi` on PATH and a local package mirror (a wheel
folder), as a self-hosted runner without internet would.

It shows what the workflow does with production's credentials: one backend for every pulumi call
(the deploy and the mirror's publish), `scripts/deploy` (the preview with the policy pack, then up),
the release serving on the host, the preview mirror published, and no secret in the log."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from testbed.engine import (
    APP_DIR,
    PASSPHRASE,
    ROOT,
    SshHost,
    existing_server_config,
    install_engine,
    plugin_home,
    ssh_host,
)
from testbed.s3_state import BUCKET, S3State, s3_state
from testbed.tools import require, require_root, require_tool

ACTIONS = ROOT.parent / "shared" / "third_party" / "actions"
MIRROR_BUCKET = "flowspace-preview-mirror"
MIRROR_PASSPHRASE = "the-mirrors-own-passphrase"


@dataclass
class Runner:
    host: SshHost
    s3: S3State
    engine: Path
    work: Path
    repository: Path
    act: Path


def pinned_actions() -> dict[str, str]:
    """owner/name@sha -> the action's unpacked snapshot, for every action the workflows pin."""
    pinned: dict[str, str] = {}
    for workflow in [*(ROOT / ".github").rglob("*.yml")]:
        for line in workflow.read_text().splitlines():
            uses = line.strip().removeprefix("- ").removeprefix("uses: ").split(" #")[0]
            if line.strip().startswith(("uses:", "- uses:")) and "@" in uses and not uses.startswith("./"):
                pinned[uses] = uses.replace("/", "-", 1).replace("@", "-")
    return pinned


def unpack_actions(destination: Path) -> list[str]:
    arguments = []
    for uses, stem in pinned_actions().items():
        archive = ACTIONS / f"{stem}.tar.gz"
        if not archive.exists():
            continue  # an action the deploy does not use, or one the journey cannot serve: named by its failure
        subprocess.run(["tar", "xzf", str(archive), "-C", str(destination)], check=True)
        arguments += ["--local-repository", f"{uses}={destination / stem.rsplit('-', 1)[0]}"]
    return arguments


@pytest.fixture(scope="module")
def runner(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runner]:
    require_root()
    for tool in ("ssh-keygen", "unshare", "nsenter", "flock", "git", "tar"):
        require_tool(tool)
    act = Path(os.environ.get("ACT", ""))
    versitygw = Path(os.environ.get("VERSITYGW", ""))
    require(act.is_file(), "act not built: scripts/build-act")
    require(versitygw.is_file(), "versitygw not built: scripts/build-versitygw")
    require(ACTIONS.is_dir(), f"the pinned actions' snapshots are not at {ACTIONS}")
    engine = install_engine()
    work = tmp_path_factory.mktemp("push-deploy")
    repository = work / "repository"
    # The checkout as it is now (committed or not), as a repository of one commit on main.
    files = (
        subprocess.run(
            ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
            cwd=ROOT,
            capture_output=True,
            check=True,
        )
        .stdout.decode()
        .split("\0")
    )
    for name in filter(None, files):
        if (ROOT / name).is_file():
            (repository / name).parent.mkdir(parents=True, exist_ok=True)
            (repository / name).write_bytes((ROOT / name).read_bytes())
            (repository / name).chmod((ROOT / name).stat().st_mode)
    with (
        ssh_host(work / "host", tag="jd") as host,
        s3_state(versitygw, host.pair.client, work / "s3") as s3,
    ):
        s3.s3("create_bucket", Bucket=MIRROR_BUCKET)
        yield Runner(host, s3, engine, work, repository, act)


def pulumi_env(runner: Runner) -> dict[str, str]:
    """The runner's own environment: the tested CLI on PATH with its plugins, and no network use."""
    pulumi_home = runner.work / "pulumi-home"
    if not pulumi_home.exists():
        plugin_home(runner.engine, pulumi_home)
    return {
        "PATH": f"{runner.engine / 'bin'}:{os.environ['PATH']}",
        "HOME": str(runner.work / "runner-home"),
        "PULUMI_HOME": str(pulumi_home),
        "PULUMI_SKIP_UPDATE_CHECK": "true",
        "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
        "PULUMI_DIY_BACKEND_NO_LEGACY_WARNING": "true",
    }


def make_prod(runner: Runner) -> None:
    """The README's first day for prod, here the existing-server host: the stack file committed."""
    env = {**pulumi_env(runner), **runner.s3.env(), "PULUMI_CONFIG_PASSPHRASE": PASSPHRASE}
    settings = {f"flowspace:{key}": value for key, value in existing_server_config(runner.host).items()}
    (runner.repository / "Pulumi.prod.yaml").write_text(yaml.safe_dump({"config": settings}, sort_keys=False))

    def pulumi(*arguments: str, stdin: str | None = None) -> None:
        subprocess.run(
            ["ip", "netns", "exec", runner.s3.namespace, "pulumi", *arguments, "--non-interactive"],
            cwd=runner.repository,
            env=env,
            input=stdin,
            text=True,
            capture_output=True,
            check=True,
        )

    pulumi("stack", "init", "prod")
    pulumi(
        "config",
        "set",
        "--secret",
        "flowspace:targetPrivateKey",
        "--stack",
        "prod",
        stdin=runner.host.login_key.read_text(),
    )
    for command in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-qm", "the stack file, committed"]):
        subprocess.run(
            ["git", "-c", "user.name=op", "-c", "user.email=op@example.com", *command],
            cwd=runner.repository,
            check=True,
        )


def wheelhouse(runner: Runner) -> Path:
    """The runner's package mirror: every pinned package of the program and the policy pack."""
    wheels = runner.work / "wheels"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--quiet",
            "--dest",
            str(wheels),
            "-r",
            str(ROOT / "requirements.txt"),
            "-r",
            str(ROOT / "policy" / "requirements.txt"),
        ],
        check=True,
    )
    return wheels


def test_a_push_deploys_prod_through_the_workflow(runner: Runner) -> None:
    make_prod(runner)
    wheels = wheelhouse(runner)
    home = runner.work / "runner-home"
    python = home / ".cache" / "act" / "tool_cache" / "Python" / ".".join(map(str, sys.version_info[:3]))
    python.mkdir(parents=True)
    (python / "x64").symlink_to(sys.base_prefix)
    (python / "x64.complete").touch()
    actions = runner.work / "actions"
    actions.mkdir()
    mirror_url = runner.s3.backend_url.replace(f"s3://{BUCKET}?", f"s3://{MIRROR_BUCKET}?", 1)
    secrets = {
        "PULUMI_BACKEND_URL": runner.s3.backend_url,
        "PULUMI_CONFIG_PASSPHRASE": PASSPHRASE,
        "STATE_ACCESS_KEY_ID": runner.s3.access_key,
        "STATE_SECRET_ACCESS_KEY": runner.s3.secret_key,
        "PREVIEW_BACKEND_URL": mirror_url,
        "PREVIEW_CONFIG_PASSPHRASE": MIRROR_PASSPHRASE,
        "OCI_PRIVATE_KEY": "-----BEGIN PRIVATE KEY-----\nnot used by an existing server\n-----END PRIVATE KEY-----",
        "OCI_CONFIG": "\n".join(
            (
                "user=ocid1.user.oc1..unused",
                "fingerprint=00:00",
                "tenancy=ocid1.tenancy.oc1..x",
                "region=ap-chuncheon-1",
            )
        ),
    }
    secret_file = runner.work / "secrets.env"
    # dotenv: double quotes, with newlines escaped.
    quoted = {
        name: value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") for name, value in secrets.items()
    }
    secret_file.write_text("".join(f'{name}="{value}"\n' for name, value in quoted.items()))
    act = subprocess.run(
        [
            "ip",
            "netns",
            "exec",
            runner.s3.namespace,
            str(runner.act),
            "workflow_call",
            "-W",
            ".github/workflows/up.yml",
            "--input",
            "environment=production",
            "-P",
            "ubuntu-24.04=-self-hosted",
            "--action-offline-mode",
            *unpack_actions(actions),
            "--secret-file",
            str(secret_file),
            "--no-cache-server",
            "--env",
            "PIP_NO_INDEX=1",
            "--env",
            f"PIP_FIND_LINKS={wheels}",
        ],
        cwd=runner.repository,
        env=pulumi_env(runner),
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    log = act.stdout + act.stderr
    assert act.returncode == 0, log[-6000:]
    assert "pulumi v3.259.0 is on this runner" in log
    assert "flowspace-always-free" in log and "[deploy] done" in log, log[-6000:]
    for name in ("PULUMI_CONFIG_PASSPHRASE", "STATE_SECRET_ACCESS_KEY", "PREVIEW_CONFIG_PASSPHRASE"):
        assert secrets[name] not in log, f"{name} appeared in the run's log"
    serving = runner.host.inside("readlink", f"{APP_DIR}/current").stdout.strip().rsplit("/", 1)[-1]
    assert serving and len(runner.host.containers()) == 3, runner.host.containers()
    objects = runner.s3.s3("list_objects_v2", Bucket=MIRROR_BUCKET).get("Contents", [])
    assert any(item["Key"].endswith("/prod.json") for item in objects), f"the mirror was not published: {objects}"
