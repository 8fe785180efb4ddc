"""The GitHub workflows: pinned where they hold secrets, the CLI the project tests with, no silent backend."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
SETUP = yaml.safe_load((ROOT / ".github" / "actions" / "pulumi-setup" / "action.yml").read_text())


def steps(workflow: Path) -> list[dict[str, Any]]:
    document = yaml.safe_load(workflow.read_text())
    return [step for job in document["jobs"].values() for step in job.get("steps", [])]


def pulumi_steps(workflow: Path) -> list[dict[str, Any]]:
    return [step for step in steps(workflow) if str(step.get("uses", "")).startswith("pulumi/actions@")]


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
def test_the_cli_is_the_version_the_project_tests_with_and_the_backend_is_explicit(workflow: Path) -> None:
    for step in pulumi_steps(workflow):
        assert step["with"]["pulumi-version"] == "${{ env.PULUMI_VERSION }}", workflow.name
        assert step["with"]["cloud-url"] == "${{ secrets.PULUMI_BACKEND_URL }}", workflow.name
    setup = " ".join(str(step.get("run", "")) for step in SETUP["runs"]["steps"])
    assert "PULUMI_VERSION=$(tr -d '[:space:]' < .pulumi-version)" in setup
    assert 'if [ -z "$BACKEND_URL" ]' in setup and "exit 1" in setup, "a missing backend secret must fail"
    assert (ROOT / ".pulumi-version").read_text().strip() == "3.259.0"


def test_deploy_refreshes_before_it_updates() -> None:
    (up,) = pulumi_steps(ROOT / ".github" / "workflows" / "up.yml")
    assert up["with"]["command"] == "up" and up["with"]["refresh"] is True


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
    assert jobs["preview"]["if"] == same_repository
    assert jobs["fork"]["if"] == same_repository.replace("==", "!=")
    assert "no pulumi preview for a pull request from a fork" in jobs["fork"]["steps"][0]["run"]
    (comment,) = [step for step in jobs["preview"]["steps"] if step.get("name") == "Comment the host changes"]
    assert "--method PATCH" in comment["run"] and "marker" in comment["run"]


def test_the_dev_preview_runs_only_with_devs_own_credentials() -> None:
    document = yaml.safe_load((ROOT / ".github" / "workflows" / "preview.yml").read_text())
    matrix = {entry["stack"]: entry for entry in document["jobs"]["preview"]["strategy"]["matrix"]["include"]}
    assert matrix["dev"]["oci-key"] == "DEV_OCI_PRIVATE_KEY"
    guarded = [step for step in document["jobs"]["preview"]["steps"] if step.get("uses", "").startswith("pulumi/")]
    assert all(step["if"] == "steps.credentials.outputs.ready == 'true'" for step in guarded)
