"""The GitHub workflows: pinned where they hold secrets, the CLI the project tests with, no silent backend."""

from __future__ import annotations

import fnmatch
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from scripts.renew import certificate
from testbed.mocks import run_program
from tests.unit.test_turn_tls import TURN

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
SETUP = yaml.safe_load((ROOT / ".github" / "actions" / "pulumi-setup" / "action.yml").read_text())


def steps(workflow: Path) -> list[dict[str, Any]]:
    document = yaml.safe_load(workflow.read_text())
    return [step for job in document["jobs"].values() for step in job.get("steps", [])]


def named(job: dict[str, Any], name: str) -> dict[str, Any]:
    (step,) = [step for step in job["steps"] if step.get("name", "").startswith(name)]
    return step


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda path: path.name)
def test_every_action_is_pinned_by_commit(workflow: Path) -> None:
    """GitHub's own actions too: a tag can be moved, a commit cannot."""
    for step in steps(workflow):
        uses = str(step.get("uses", ""))
        if not uses or uses.startswith("./"):
            continue
        assert re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}", uses), f"{workflow.name}: {uses} is not pinned by SHA"


def test_the_shared_setup_pins_its_actions_by_commit() -> None:
    for step in SETUP["runs"]["steps"]:
        uses = str(step.get("uses", ""))
        assert not uses or re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}", uses), f"pulumi-setup: {uses}"


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda path: path.name)
def test_no_third_party_action_runs_pulumi_and_the_backend_is_named_in_one_place(workflow: Path) -> None:
    """Pulumi takes PULUMI_BACKEND_URL over Pulumi.yaml's local backend.url: a `pulumi login` (what
    pulumi/actions' cloud-url does) left the deploy planning against an empty state. The shared
    setup puts the variable in GITHUB_ENV for the whole job; nothing else names it."""
    for step in steps(workflow):
        assert not str(step.get("uses", "")).startswith("pulumi/actions@"), f"{workflow.name}: {step}"
    assert "PULUMI_BACKEND_URL:" not in workflow.read_text(), f"{workflow.name} names the backend itself"
    for job in yaml.safe_load(workflow.read_text())["jobs"].values():
        runs = " ".join(str(step.get("run", "")) for step in job.get("steps", []))
        if re.search(r"(^|\n|\$\()\s*pulumi |scripts/(deploy|preview-mirror|host-diff)", runs):
            uses = [str(step.get("uses", "")) for step in job["steps"]]
            assert "./.github/actions/pulumi-setup" in uses, f"{workflow.name}: a job runs pulumi without the setup"


def test_the_setup_gives_the_backend_and_the_tested_cli_to_every_later_step() -> None:
    setup = " ".join(str(step.get("run", "")) for step in SETUP["runs"]["steps"])
    assert 'echo "PULUMI_BACKEND_URL=$BACKEND_URL" >> "$GITHUB_ENV"' in setup
    assert 'if [ -z "$BACKEND_URL" ]' in setup and "exit 1" in setup, "a missing backend secret must fail"
    assert "PULUMI_VERSION=$(tr -d '[:space:]' < .pulumi-version)" in setup
    assert '--version "$PULUMI_VERSION" --no-edit-path' in setup and "GITHUB_PATH" in setup
    assert (ROOT / ".pulumi-version").read_text().strip() == "3.259.0"


def test_a_push_deploys_through_scripts_deploy_with_a_refresh_first() -> None:
    up = named(workflow("up.yml")["jobs"]["up"], "pulumi up")
    assert "scripts/deploy -s prod --yes --refresh" in up["run"]


def workflow(name: str) -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((ROOT / ".github" / "workflows" / name).read_text())
    return document


def test_a_push_deploys_only_after_the_tests_and_a_reviewer_and_the_renewal_waits_for_nobody() -> None:
    jobs = workflow("deploy.yml")["jobs"]
    assert jobs["test"]["uses"] == "./.github/workflows/test.yml"
    assert jobs["up"]["needs"] == "test" and jobs["up"]["with"]["environment"] == "production"
    assert jobs["renew"]["if"] == "github.event_name == 'schedule'" and "needs" not in jobs["renew"]
    assert jobs["renew"]["with"]["environment"] == "renewal"
    assert jobs["up"]["if"] == jobs["test"]["if"] == "github.event_name != 'schedule'"
    assert workflow("preview.yml")["jobs"]["test"]["uses"] == "./.github/workflows/test.yml"


def test_forks_are_told_why_there_is_no_preview_and_the_host_comment_is_edited_in_place() -> None:
    jobs = workflow("preview.yml")["jobs"]
    same_repository = "github.event.pull_request.head.repo.full_name == github.repository"
    assert jobs["preview"]["if"] == same_repository and jobs["preview"]["needs"] == "test"
    assert jobs["preview"]["uses"] == "./.github/workflows/preview-stacks.yml"
    assert jobs["fork"]["if"] == same_repository.replace("==", "!=")
    assert "no pulumi preview for a pull request from a fork" in jobs["fork"]["steps"][0]["run"]
    comment = named(workflow("preview-stacks.yml")["jobs"]["preview"], "Comment the host changes")
    assert "-m scripts.github_api comment --pr" in comment["run"] and "--marker" in comment["run"]
    assert comment["env"]["GITHUB_TOKEN"] == "${{ github.token }}"


def test_a_pull_requests_preview_holds_no_credential_of_a_stack() -> None:
    """Its program is the pull request's: only the preview environment's secrets, on the mirror."""
    job = workflow("preview-stacks.yml")["jobs"]["preview"]
    assert job["environment"] == "preview"
    text = yaml.safe_dump(job)
    used = set(re.findall(r"secrets\.([A-Z_]+)", text)) | set(re.findall(r"secrets\[", text))
    assert used and all(name.startswith("PREVIEW_") or name == "GITHUB_TOKEN" for name in used), used
    assert (
        "PULUMI_CONFIG_PASSPHRASE: ${{ secrets.PREVIEW_CONFIG_PASSPHRASE }}"
        in (ROOT / ".github" / "workflows" / "preview-stacks.yml").read_text()
    )
    names = [step.get("name", step.get("uses", "")) for step in job["steps"]]
    mirror = next(index for index, step in enumerate(job["steps"]) if "preview-mirror config" in step.get("run", ""))
    preview = named(job, "pulumi preview")
    assert mirror < job["steps"].index(preview), names
    assert "--refresh" not in preview["run"], "a refresh would compare the placeholders with the cloud"
    assert "--policy-pack policy" in preview["run"] and "preview.txt" in preview["run"]
    comment = named(job, "Comment the host changes")
    assert 'scripts/host-diff -s "$STACK" --mirror' in comment["run"] and "preview.txt" in comment["run"]


def test_every_up_publishes_the_mirror_with_the_mirrors_passphrase() -> None:
    steps_of_up = workflow("up.yml")["jobs"]["up"]["steps"]
    up = next(index for index, step in enumerate(steps_of_up) if step.get("name") == "pulumi up")
    publish = next(index for index, step in enumerate(steps_of_up) if "preview-mirror publish" in step.get("run", ""))
    assert publish > up
    env = steps_of_up[publish]["env"]
    assert env["PREVIEW_CONFIG_PASSPHRASE"] == "${{ secrets.PREVIEW_CONFIG_PASSPHRASE }}"
    assert env["PREVIEW_BACKEND_URL"] == "${{ secrets.PREVIEW_BACKEND_URL }}"


def test_the_renewal_runs_the_deployed_commit_and_targets_only_the_turn_certificate() -> None:
    document = workflow("up.yml")
    job = document["jobs"]["up"]
    assert workflow("deploy.yml")["jobs"]["renew"]["with"] == {"environment": "renewal", "renewal": True}
    assert workflow("deploy.yml")["permissions"]["actions"] == "read", "a called workflow gets no more than its caller"
    (checkout,) = [step for step in job["steps"] if str(step.get("uses", "")).startswith("actions/checkout@")]
    assert checkout["with"] == {"fetch-depth": "${{ inputs.renewal && '0' || '1' }}"}, "the renewal needs the history"
    deployed = named(job, "The commit production runs")
    assert deployed["if"] == "inputs.renewal" and job["steps"].index(deployed) == job["steps"].index(checkout) + 1
    assert "-m scripts.github_api deployed-commit --workflow deploy.yml --branch main" in deployed["run"]
    assert 'git checkout -q --detach "$sha"' in deployed["run"]
    up = named(job, "pulumi up")
    assert up["env"]["RENEWAL"] == "${{ inputs.renewal }}"
    assert "scripts/renew -s prod" in up["run"]
    run = run_program(overrides=TURN)
    chosen = certificate([{"urn": resource.urn, "type": resource.typ} for resource in run.resources])
    assert chosen["type"] == "acme:index/certificate:Certificate" and "TurnCertificate$" in chosen["urn"]


def test_the_watch_checks_prod_through_the_edge_and_tells_the_alarms_topic_only_on_failure() -> None:
    document = workflow("watch.yml")
    triggers = document[True]  # YAML 1.1 reads the key `on` as true
    assert triggers["schedule"] == [{"cron": "*/30 * * * *"}]
    job = document["jobs"]["edge"]
    assert job["environment"] == "watch"
    install, check, profile, heartbeat, tell = job["steps"][1:6]
    assert "-m scripts.edge_check -s prod --attempts 3" in check["run"] and check["id"] == "check"
    assert profile["if"] == heartbeat["if"] == "always()", "every run is a heartbeat, whatever the check found"
    assert "-m scripts.watch_heartbeat -s prod" in heartbeat["run"]
    assert "grep -x 'oci==[0-9.]*' requirements.txt" in heartbeat["run"], "the SDK the project pins"
    assert "grep -x 'pyyaml==[0-9.]*' requirements.txt" in install["run"], "only the check's package, pinned"
    assert "-r requirements.txt" not in install["run"] and "ensure-venv" not in check["run"]
    assert document["defaults"]["run"]["shell"] == "bash", "pipefail: the check's failure survives `| tee`"
    assert tell["if"] == "failure() && steps.check.outcome == 'failure'"
    assert '/page/bin/oci" ons message publish --topic-id "$TOPIC_ID"' in tell["run"]
    assert tell["env"]["TOPIC_ID"] == "${{ vars.ALERT_TOPIC_ID }}"


def test_the_watchs_check_needs_no_package_but_the_one_it_installs() -> None:
    """The watch runs every 30 minutes: it installs PyYAML alone, so edge_check imports nothing else."""
    # What importing the check adds to what the interpreter starts with (site hooks and all).
    imported = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; before = set(sys.modules); import scripts.edge_check; print(*set(sys.modules) - before)",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    # PyYAML's C extension brings Cython's runtime modules (underscored) with it.
    outside = {name.split(".")[0] for name in imported} - set(sys.stdlib_module_names) - {"cython_runtime"}
    assert {name for name in outside if not name.startswith("_")} == {"yaml", "model", "render", "scripts"}
    local = {name for name in imported if name.split(".")[0] in {"model", "render"}}
    for module in local:
        source = (ROOT / module.replace(".", "/")).with_suffix(".py")
        if source.exists():
            imports = re.findall(r"^(?:from|import) (\w+)", source.read_text(), re.MULTILINE)
            assert set(imports) <= {*sys.stdlib_module_names, "model", "render", "yaml", "__future__"}, module


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda path: path.name)
def test_every_job_on_a_runner_has_a_time_limit(workflow: Path) -> None:
    """GitHub's default is 6 hours of a hung job."""
    for name, job in yaml.safe_load(workflow.read_text())["jobs"].items():
        if "runs-on" in job:
            assert 0 < job.get("timeout-minutes", 0) <= 90, f"{workflow.name}: job {name} has no timeout-minutes"


def test_the_tools_cache_key_covers_every_build_input() -> None:
    """A build script, a version or a source of a built tool changed: the key changes (and the prefix
    restores the rest: each tool's folder is keyed by its own digest)."""
    (cache,) = (step for step in steps(ROOT / ".github/workflows/test.yml") if "actions/cache@" in step.get("uses", ""))
    key = cache["with"]["key"]
    patterns = re.findall(r"'([^']+)'", key)
    assert cache["with"]["restore-keys"] == "flowspace-tools-"
    built_by = [path for path in (ROOT / "scripts").iterdir() if path.name.startswith(("build-", "install-"))]
    inputs = [
        *built_by,
        *(ROOT / "scripts/lib").iterdir(),
        ROOT / ".pulumi-version",
        ROOT / "requirements.txt",
        ROOT / "model/versions.py",
        ROOT / "testbed/images.py",
        *(ROOT / "tests/tools/livekit-client").iterdir(),
        *(ROOT / "tests/fixtures/record-provider").iterdir(),
    ]
    for path in inputs:
        relative = path.relative_to(ROOT).as_posix()
        assert any(fnmatch.fnmatch(relative, pattern) for pattern in patterns), f"the cache key leaves out {relative}"


def test_an_app_release_opens_a_pull_request_with_a_token_that_starts_its_preview() -> None:
    document = workflow("app-release.yml")
    triggers = document[True]  # YAML 1.1 reads the key `on` as true
    assert triggers["repository_dispatch"] == {"types": ["socket-server-image"]}
    assert triggers["workflow_dispatch"]["inputs"]["image"]["required"] is True
    job = document["jobs"]["bump"]
    checkout, bump, pull_request = job["steps"]
    assert checkout["with"]["token"] == "${{ secrets.APP_RELEASE_TOKEN }}"
    assert '-m scripts.app_release -s prod --image "$IMAGE"' in bump["run"]
    assert bump["env"]["IMAGE"] == "${{ github.event.client_payload.image || inputs.image }}"
    assert '-m scripts.github_api pull-request --head "$BRANCH" --base main' in pull_request["run"]
    assert pull_request["env"]["GITHUB_TOKEN"] == "${{ secrets.APP_RELEASE_TOKEN }}", "GITHUB_TOKEN's PRs start nothing"
    assert document["permissions"] == {"contents": "read"}, "the token carries the rights, not the workflow's"
