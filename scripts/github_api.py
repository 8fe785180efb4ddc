"""The GitHub REST calls the workflows make, with the run's own token and the standard library only
(no `gh` on the runner, and the same calls run against any GitHub Enterprise or a recorder):

    python -m scripts.github_api comment --pr 12 --marker '<!-- … -->' --body-file host-diff.md
    python -m scripts.github_api deployed-commit --workflow deploy.yml --branch main
    python -m scripts.github_api pull-request --head app-release/… --base main --title … --body …

`GITHUB_API_URL` and `GITHUB_REPOSITORY` come from the runner; the token from `GITHUB_TOKEN`.

- comment: one comment per marker on a pull request, edited in place when it is there already
  (the marker is its first line), so every push updates the same comment.
- deployed-commit: the head commit of the newest successful push run of the workflow on the branch
  (only a push to that branch makes one; a pull request cannot forge it).
- pull-request: opens one, or names the open one for that branch.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

NEXT_PAGE = re.compile(r'<([^>]+)>;\s*rel="next"')
Opener = Callable[[urllib.request.Request], Any]


class GitHubRefused(Exception):
    """A call GitHub answered with an error; the message names the call and GitHub's reason."""


class GitHub:
    def __init__(self, api_url: str, repository: str, token: str, opener: Opener | None = None) -> None:
        self.api_url, self.repository, self.token = api_url.rstrip("/"), repository, token
        self.opener: Opener = opener or (lambda request: urllib.request.urlopen(request, timeout=60))

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> tuple[Any, str | None]:
        """GitHub's answer and the next page's address, if any. `path` is relative to the repository
        or a full address (a next page)."""
        url = path if path.startswith(("https://", "http://")) else f"{self.api_url}/repos/{self.repository}/{path}"
        request = urllib.request.Request(
            url,
            method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={
                "Accept": "application/vnd.github+json",
                "Authorization": f"Bearer {self.token}",
                "X-GitHub-Api-Version": "2022-11-28",
                **({"Content-Type": "application/json"} if body is not None else {}),
            },
        )
        try:
            with self.opener(request) as response:
                text = response.read().decode()
                following = NEXT_PAGE.search(response.headers.get("Link") or "")
        except urllib.error.HTTPError as error:
            reason = error.read().decode(errors="replace")[:500]
            raise GitHubRefused(f"{method} {url.split('?')[0]}: HTTP {error.code} {reason}") from None
        except urllib.error.URLError as error:
            raise GitHubRefused(f"{method} {url.split('?')[0]}: {error.reason}") from None
        return (json.loads(text) if text else None), (following.group(1) if following else None)

    def items(self, path: str) -> Iterator[Any]:
        page: str | None = path
        while page:
            data, page = self.call("GET", page)
            yield from data

    def upsert_comment(self, pull_request: int, marker: str, body: str) -> str:
        text = f"{marker}\n{body}"
        mine = [
            comment["id"]
            for comment in self.items(f"issues/{pull_request}/comments?per_page=100")
            if str(comment.get("body", "")).startswith(marker)
        ]
        if mine:
            self.call("PATCH", f"issues/comments/{mine[-1]}", {"body": text})
            return f"edited comment {mine[-1]}"
        created, _ = self.call("POST", f"issues/{pull_request}/comments", {"body": text})
        return f"added comment {created['id']}"

    def deployed_commit(self, workflow: str, branch: str) -> str:
        query = f"branch={branch}&event=push&status=success&per_page=1"
        data, _ = self.call("GET", f"actions/workflows/{workflow}/runs?{query}")
        runs = data.get("workflow_runs") or []
        if not runs:
            raise GitHubRefused(f"no successful push run of {workflow} on {branch}: nothing was deployed from it")
        return str(runs[0]["head_sha"])

    def open_pull_request(self, head: str, base: str, title: str, body: str) -> str:
        owner = self.repository.split("/", 1)[0]
        existing, _ = self.call("GET", f"pulls?state=open&head={owner}:{head}&base={base}")
        if existing:
            return str(existing[0]["html_url"])
        created, _ = self.call("POST", "pulls", {"head": head, "base": base, "title": title, "body": body})
        return str(created["html_url"])


def from_environment() -> GitHub:
    missing = [name for name in ("GITHUB_REPOSITORY", "GITHUB_TOKEN") if not os.environ.get(name)]
    if missing:
        raise GitHubRefused(f"{' and '.join(missing)} not set: the step's env gives GITHUB_TOKEN (the run's token)")
    return GitHub(
        os.environ.get("GITHUB_API_URL", "https://api.github.com"),
        os.environ["GITHUB_REPOSITORY"],
        os.environ["GITHUB_TOKEN"],
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    comment = commands.add_parser("comment", help="add or edit the pull request's comment that starts with --marker")
    comment.add_argument("--pr", type=int, required=True)
    comment.add_argument("--marker", required=True)
    comment.add_argument("--body-file", type=Path, required=True)
    deployed = commands.add_parser("deployed-commit", help="the commit of the newest successful push run")
    deployed.add_argument("--workflow", required=True)
    deployed.add_argument("--branch", default="main")
    pull = commands.add_parser("pull-request", help="open a pull request (or name the open one)")
    for name in ("--head", "--title", "--body"):
        pull.add_argument(name, required=True)
    pull.add_argument("--base", default="main")
    args = parser.parse_args(argv)
    try:
        github = from_environment()
        if args.command == "comment":
            print(github.upsert_comment(args.pr, args.marker, args.body_file.read_text()))
        elif args.command == "deployed-commit":
            print(github.deployed_commit(args.workflow, args.branch))
        else:
            print(github.open_pull_request(args.head, args.base, args.title, args.body))
    except GitHubRefused as error:
        print(f"github_api {args.command}: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
