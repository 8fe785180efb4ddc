"""The workflows on a real runner: nektos/act (scripts/build-act) runs them on the self-hosted
platform, in the operator's network namespace, with the pinned actions from their snapshots
(`--local-repository`), the secrets named as the docs name them, the state in a versioned S3 bucket
and the existing-server host as prod. The runner has Python 3.11 in its tool cache, the tested
`pulumi` on PATH and a local package mirror (a wheel folder), as a self-hosted runner without
internet would; a recorder stands in for GitHub's API, and local endpoints for OCI's.

- a push deploy (`up.yml`): one backend for every pulumi call, `scripts/deploy` (the preview with
  the policy pack, then up), the release serving, the preview mirror published, no secret in the log;
- a pull request's preview (`preview-stacks.yml`): the comment a reviewer reads, quiet for a change
  of nothing, then the change, one comment edited in place;
- the watch (`watch.yml`): one blip retried, not paged; an outage paged; a heartbeat every run.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

from model.versions import OCI_CLI_VERSION
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
from testbed.github_recorder import Repository, github_recorder
from testbed.netns import hosts_file
from testbed.oci_endpoints import OciCalls, oci_endpoints
from testbed.pki import make_pki
from testbed.s3_state import BUCKET, S3State, s3_state
from testbed.tools import require, require_root, require_tool

ACTIONS = ROOT.parent / "shared" / "third_party" / "actions"
MIRROR_BUCKET = "flowspace-preview-mirror"
MIRROR_PASSPHRASE = "the-mirrors-own-passphrase"
REPOSITORY = "flowspace/infrastructure"
SECRET_NAMES = ("PULUMI_CONFIG_PASSPHRASE", "STATE_SECRET_ACCESS_KEY", "PREVIEW_CONFIG_PASSPHRASE", "GITHUB_TOKEN")
UNUSED_OCI_KEY = "-----BEGIN PRIVATE KEY-----\nnot used by an existing server\n-----END PRIVATE KEY-----"
# The profile's lines as the docs give them (no `[DEFAULT]` header: scripts/oci-profile adds it).
UNUSED_OCI_CONFIG = "\n".join(
    (
        "user=ocid1.user.oc1..unused",
        "fingerprint=" + ":".join(["00"] * 16),
        "tenancy=ocid1.tenancy.oc1..unused",
        "region=ap-chuncheon-1",
    )
)


@dataclass
class Runner:
    host: SshHost
    s3: S3State
    engine: Path
    work: Path
    repository: Path
    act: Path


def pinned_actions() -> dict[str, str]:
    """owner/name@sha -> the action's snapshot's name, for every action the workflows pin."""
    pinned: dict[str, str] = {}
    for path in (ROOT / ".github").rglob("*.yml"):
        document = yaml.safe_load(path.read_text())
        jobs = document.get("jobs", {}).values() if "jobs" in document else [document.get("runs", {})]
        for uses in (str(step.get("uses", "")) for job in jobs for step in job.get("steps", [])):
            if "@" in uses and not uses.startswith("./"):
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
    tools = runner.work / "runner-bin"
    if not pulumi_home.exists():
        plugin_home(runner.engine, pulumi_home)
        # The runner's python3: the Python the package mirror holds wheels for.
        tools.mkdir()
        (tools / "python3").symlink_to(Path(sys.base_prefix) / "bin" / "python3")
    return {
        "PATH": f"{runner.engine / 'bin'}:{tools}:{os.environ['PATH']}",
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
    commit(runner, "the stack file, committed", "init", "-q", "-b", "main")


def wheelhouse(runner: Runner) -> Path:
    """The runner's package mirror: every pinned package of the program and the policy pack, and
    the OCI CLI the watch pages with (apart: it pins its own SDK)."""
    wheels = runner.work / "wheels"
    if not wheels.exists():
        download = [sys.executable, "-m", "pip", "download", "--quiet", "--dest", str(wheels)]
        requirements = ("-r", str(ROOT / "requirements.txt"), "-r", str(ROOT / "policy" / "requirements.txt"))
        subprocess.run([*download, *requirements], check=True)
        subprocess.run([*download, f"oci-cli=={OCI_CLI_VERSION}"], check=True)
    return wheels


def runner_home(runner: Runner) -> list[str]:
    """The self-hosted runner's tool cache (Python 3.11 for setup-python), the pinned actions and
    the package mirror; act's arguments for them."""
    python = runner.work / "runner-home" / ".cache" / "act" / "tool_cache" / "Python"
    python /= ".".join(map(str, sys.version_info[:3]))
    actions = runner.work / "actions"
    if not actions.exists():
        python.mkdir(parents=True)
        (python / "x64").symlink_to(sys.base_prefix)
        (python / "x64.complete").touch()
        actions.mkdir()
    wheels = wheelhouse(runner)
    return [
        *unpack_actions(actions),
        "--env",
        "PIP_NO_INDEX=1",
        "--env",
        f"PIP_FIND_LINKS={wheels}",
        "--env",
        f"GITHUB_REPOSITORY={REPOSITORY}",
    ]


def act(
    runner: Runner, event: str, workflow: str, secrets: dict[str, str], *arguments: str, succeeds: bool = True
) -> str:
    """The workflow run by act as `event`, with these secrets (a file, never a command line); its log."""
    secret_file = runner.work / "secrets.env"
    # dotenv: double quotes, with newlines escaped.
    quoted = {
        name: value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") for name, value in secrets.items()
    }
    secret_file.write_text("".join(f'{name}="{value}"\n' for name, value in quoted.items()))
    run = subprocess.run(
        [
            "ip",
            "netns",
            "exec",
            runner.s3.namespace,
            str(runner.act),
            event,
            "-W",
            f".github/workflows/{workflow}",
            "-P",
            "ubuntu-24.04=-self-hosted",
            "--action-offline-mode",
            "--no-cache-server",
            "--secret-file",
            str(secret_file),
            *runner_home(runner),
            *arguments,
        ],
        cwd=runner.repository,
        env=pulumi_env(runner),
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    log = run.stdout + run.stderr
    assert (run.returncode == 0) == succeeds, log[-6000:]
    for name in SECRET_NAMES:
        if secrets.get(name):
            assert secrets[name] not in log, f"{name} appeared in the run's log"
    return log


def deploy_secrets(runner: Runner) -> dict[str, str]:
    return {
        "PULUMI_BACKEND_URL": runner.s3.backend_url,
        "PULUMI_CONFIG_PASSPHRASE": PASSPHRASE,
        "STATE_ACCESS_KEY_ID": runner.s3.access_key,
        "STATE_SECRET_ACCESS_KEY": runner.s3.secret_key,
        "PREVIEW_BACKEND_URL": mirror_url(runner),
        "PREVIEW_CONFIG_PASSPHRASE": MIRROR_PASSPHRASE,
        "OCI_PRIVATE_KEY": UNUSED_OCI_KEY,
        "OCI_CONFIG": UNUSED_OCI_CONFIG,
    }


def mirror_url(runner: Runner) -> str:
    return runner.s3.backend_url.replace(f"s3://{BUCKET}?", f"s3://{MIRROR_BUCKET}?", 1)


def commit(runner: Runner, message: str, *git: str, allow_empty: bool = False) -> None:
    for command in (git, ["add", "-A"], ["commit", "-qm", message, *(["--allow-empty"] if allow_empty else [])]):
        if command:
            subprocess.run(
                ["git", "-c", "user.name=op", "-c", "user.email=op@example.com", *command],
                cwd=runner.repository,
                check=True,
                capture_output=True,
            )


def test_a_push_deploys_prod_through_the_workflow(runner: Runner) -> None:
    make_prod(runner)
    log = act(runner, "workflow_call", "up.yml", deploy_secrets(runner), "--input", "environment=production")
    assert "pulumi v3.259.0 is on this runner" in log
    assert "flowspace-always-free" in log and "[deploy] done" in log, log[-6000:]
    serving = runner.host.inside("readlink", f"{APP_DIR}/current").stdout.strip().rsplit("/", 1)[-1]
    assert serving and len(runner.host.containers()) == 3, runner.host.containers()
    objects = runner.s3.s3("list_objects_v2", Bucket=MIRROR_BUCKET).get("Contents", [])
    assert any(item["Key"].endswith("/prod.json") for item in objects), f"the mirror was not published: {objects}"


def test_b_a_pull_requests_preview_comments_the_host_changes_once_and_edits_it(runner: Runner) -> None:
    """preview-stacks.yml (what preview.yml runs after the tests) on a pull request's branch: the
    mirror the push published, with the preview environment's secrets only; the comment goes to
    the recorder standing in for GitHub's API, and the next push edits the same comment."""
    github = Repository(REPOSITORY, "ghs_the-runs-token")
    stack_file = runner.repository / "Pulumi.prod.yaml"
    settings = yaml.safe_load(stack_file.read_text())
    secrets = {
        "GITHUB_TOKEN": github.token,
        "PREVIEW_BACKEND_URL": mirror_url(runner),
        "PREVIEW_CONFIG_PASSPHRASE": MIRROR_PASSPHRASE,
        "PREVIEW_STATE_ACCESS_KEY_ID": runner.s3.access_key,
        "PREVIEW_STATE_SECRET_ACCESS_KEY": runner.s3.secret_key,
        "PREVIEW_OCI_PRIVATE_KEY": UNUSED_OCI_KEY,
        "PREVIEW_OCI_CONFIG": UNUSED_OCI_CONFIG,
    }
    event = runner.work / "pull_request.json"
    event.write_text(json.dumps({"pull_request": {"number": 7, "head": {"repo": {"full_name": REPOSITORY}}}}))
    before = runner.host.inside("readlink", f"{APP_DIR}/current").stdout
    bodies = []
    with github_recorder(github, runner.s3.namespace) as api:
        for push, seconds in enumerate((None, "7")):
            if seconds is not None:
                settings["config"]["flowspace:healthGateSeconds"] = seconds
                stack_file.write_text(yaml.safe_dump(settings, sort_keys=False))
            step = ["switch", "-qc", "change"] if push == 0 else []
            commit(runner, f"push {push}: a health gate of {seconds or 'as it was'}", *step, allow_empty=True)
            log = act(
                runner,
                "workflow_call",
                "preview-stacks.yml",
                secrets,
                "-e",
                str(event),
                "--env",
                f"GITHUB_API_URL={api}",
            )
            assert "no preview mirror of dev yet" in log, log[-4000:]
            bodies.append(github.comments[7][0]["body"])
    # What the reviewer reads: nothing for a pull request that changes nothing, then the change.
    assert "no changes on the host" in bodies[0] and " to replace" not in bodies[0], bodies[0][-3000:]
    assert " to update" not in bodies[0] and " to create" not in bodies[0], bodies[0][-3000:]
    (comment,) = github.comments[7]
    body = comment["body"]
    assert body.startswith("<!-- flowspace host changes: prod -->\n"), body[:500]
    assert "pulumi preview of prod" in body and "release.env: +1 -1 lines" in body, body[-3000:]
    assert [call.method for call in github.calls if call.method != "GET"] == ["POST", "PATCH"]
    assert all(call.authorized for call in github.calls)
    assert runner.host.inside("readlink", f"{APP_DIR}/current").stdout == before, "a preview changed the host"
    subprocess.run(["git", "switch", "-q", "main"], cwd=runner.repository, check=True)


WATCH_COMPARTMENT = "ocid1.compartment.oc1..watched"
TOPIC = "ocid1.onstopic.oc1.ap-chuncheon-1.alerts"
OCI_HOSTS = ("telemetry-ingestion.ap-chuncheon-1.oraclecloud.com", "notification.ap-chuncheon-1.oraclecloud.com")


def watch(runner: Runner, calls: OciCalls, caddy_back_after: float | None) -> str:
    """watch.yml on a schedule, with Caddy stopped on the host first and started again after
    `caddy_back_after` seconds (None: after the run); the run's log."""
    oci_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    secrets = {
        "OCI_PRIVATE_KEY": oci_key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()).decode(),
        "OCI_CONFIG": UNUSED_OCI_CONFIG,
    }
    settings = existing_server_config(runner.host)
    oci_pki = make_pki(OCI_HOSTS, authority="OCI endpoints' stand-in CA")
    bundle = runner.work / "ca-bundle.pem"
    bundle.write_text(runner.host.pki.ca_pem + oci_pki.ca_pem)
    names = dict.fromkeys((settings["socketHostname"], settings["livekitHostname"]), runner.host.pair.server_ip)
    names |= dict.fromkeys(OCI_HOSTS, "127.0.0.1")
    engine, caddy = runner.host.docker(), runner.host.containers()["caddy"]
    engine.docker("stop", caddy)
    back = None if caddy_back_after is None else threading.Timer(caddy_back_after, engine.docker, ("start", caddy))
    try:
        with hosts_file(runner.s3.namespace, names), oci_endpoints(calls, runner.s3.namespace, oci_pki, runner.work):
            if back is not None:
                back.start()
            return act(
                runner,
                "schedule",
                "watch.yml",
                secrets,
                "--var",
                f"ALERT_TOPIC_ID={TOPIC}",
                "--env",
                f"SSL_CERT_FILE={bundle}",
                "--env",
                f"REQUESTS_CA_BUNDLE={bundle}",
                succeeds=back is not None,
            )
    finally:
        if back is not None:
            back.cancel()
        engine.docker("start", caddy)


def test_c_the_watch_retries_a_blip_and_pages_an_outage_with_a_heartbeat_each_run(runner: Runner) -> None:
    """watch.yml: a check through the edge (here the host's Caddy, by the hostnames, verified) tried
    up to three times a minute apart; the heartbeat every run; a page only when a check kept failing."""
    stack_file = runner.repository / "Pulumi.prod.yaml"
    committed = stack_file.read_text()
    document = yaml.safe_load(committed)
    document["config"]["flowspace:compartmentId"] = WATCH_COMPARTMENT  # prod's, an OCI stack's
    stack_file.write_text(yaml.safe_dump(document, sort_keys=False))
    calls = OciCalls()
    try:
        blip = watch(runner, calls, caddy_back_after=20)
        assert "attempt 1 of 3" in blip and "again in 60 s" in blip, blip[-4000:]
        assert len(calls.metrics) == 1 and not calls.messages, "one blip is a heartbeat, not a page"
        outage = watch(runner, calls, caddy_back_after=None)
        assert "attempt 2 of 3" in outage, outage[-4000:]
    finally:
        stack_file.write_text(committed)
    assert len(calls.metrics) == 2, "every run posts its heartbeat, a failing one too"
    ((reading,),) = [calls.metrics[-1].body["metricData"]]
    assert reading["compartmentId"] == WATCH_COMPARTMENT and reading["dimensions"] == {"stack": "prod"}
    (page,) = calls.messages
    assert page.path == f"/20181201/topics/{TOPIC}/messages"
    assert "a check through the edge failed" in page.body["title"] and "FAILED" in page.body["body"]
    assert runner.host.containers().get("caddy"), "Caddy is serving again"
