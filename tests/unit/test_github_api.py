"""scripts/github_api.py against a local stand-in of GitHub's REST API (testbed/github_recorder.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from scripts import github_api
from scripts.github_api import GitHub, GitHubRefused
from testbed.github_recorder import Repository, github_recorder

TOKEN = "ghs_the-runs-own-token"
MARKER = "<!-- flowspace host changes: prod -->"


@pytest.fixture
def repository() -> Repository:
    return Repository("flow/space", TOKEN)


@pytest.fixture
def api(repository: Repository) -> Iterator[str]:
    with github_recorder(repository) as address:
        yield address


def test_a_comment_is_added_once_then_edited_in_place_across_pages(repository: Repository, api: str) -> None:
    repository.page_size = 2
    repository.comments[7] = [{"id": n, "body": f"a reviewer's comment {n}"} for n in range(1, 4)]
    github = GitHub(api, repository.name, TOKEN)
    assert github.upsert_comment(7, MARKER, "first").startswith("added")
    repository.comments[7].append({"id": 50, "body": "another comment, after ours"})
    assert github.upsert_comment(7, MARKER, "second") == "edited comment 1001"
    ours = [comment for comment in repository.comments[7] if comment["body"].startswith(MARKER)]
    assert ours == [{"id": 1001, "body": f"{MARKER}\nsecond"}]
    assert all(call.authorized for call in repository.calls)
    assert [call.method for call in repository.calls].count("PATCH") == 1


def test_the_deployed_commit_is_the_newest_successful_push_run_on_the_branch(repository: Repository, api: str) -> None:
    repository.runs["deploy.yml"] = [
        {"head_sha": "a" * 40, "branch": "main", "event": "push", "status": "completed", "conclusion": "success"},
        {"head_sha": "b" * 40, "branch": "main", "event": "push", "status": "completed", "conclusion": "success"},
        {"head_sha": "c" * 40, "branch": "main", "event": "push", "status": "completed", "conclusion": "failure"},
        {
            "head_sha": "d" * 40,
            "branch": "main",
            "event": "pull_request",
            "status": "completed",
            "conclusion": "success",
        },
    ]
    assert GitHub(api, repository.name, TOKEN).deployed_commit("deploy.yml", "main") == "b" * 40
    with pytest.raises(GitHubRefused, match=r"no successful push run of deploy\.yml on release"):
        GitHub(api, repository.name, TOKEN).deployed_commit("deploy.yml", "release")


def test_a_pull_request_is_opened_once(repository: Repository, api: str) -> None:
    github = GitHub(api, repository.name, TOKEN)
    first = github.open_pull_request("app-release/0123456789ab", "main", "socket server", "body")
    assert github.open_pull_request("app-release/0123456789ab", "main", "socket server", "body") == first
    assert len(repository.pulls) == 1 and repository.pulls[0]["head"] == "app-release/0123456789ab"


def test_the_command_reads_the_runners_environment_and_never_prints_the_token(
    repository: Repository,
    api: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    body = tmp_path / "host-diff.md"
    body.write_text("| file | change |\n")
    monkeypatch.setenv("GITHUB_API_URL", api)
    monkeypatch.setenv("GITHUB_REPOSITORY", repository.name)
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    assert github_api.main(["comment", "--pr", "3", "--marker", MARKER, "--body-file", str(body)]) == 0
    assert repository.comments[3][0]["body"] == f"{MARKER}\n| file | change |\n"

    monkeypatch.setenv("GITHUB_TOKEN", "a-token-github-refuses")
    assert github_api.main(["deployed-commit", "--workflow", "deploy.yml"]) == 1
    monkeypatch.delenv("GITHUB_TOKEN")
    assert github_api.main(["deployed-commit", "--workflow", "deploy.yml"]) == 1
    out, err = capsys.readouterr()
    assert "HTTP 401 " in err and "GITHUB_TOKEN not set" in err
    assert TOKEN not in out + err and "a-token-github-refuses" not in out + err
