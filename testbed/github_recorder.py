"""A local stand-in for the part of GitHub's REST API the workflows call (scripts/github_api.py):
a pull request's comments, a workflow's runs, pull requests. It keeps what it is given, answers as
GitHub does (pages with a `Link` header, 401 without the token), and records every call.

Served under /api/v3, as a GitHub Enterprise host is; a workflow run by act reaches it through
`--env GITHUB_API_URL=…`, which act gives every step as the runner's own."""

from __future__ import annotations

import json
import threading
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from testbed.netns import made_in

PREFIX = "/api/v3"


@dataclass
class Call:
    method: str
    path: str
    body: Any
    authorized: bool


@dataclass
class Repository:
    name: str
    token: str
    page_size: int = 100
    comments: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    runs: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    pulls: list[dict[str, Any]] = field(default_factory=list)
    calls: list[Call] = field(default_factory=list)
    next_id: int = 1000

    def new_id(self) -> int:
        self.next_id += 1
        return self.next_id


class Handler(BaseHTTPRequestHandler):
    server: RecorderServer

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def answer(self, status: int, data: Any, link: str | None = None) -> None:
        body = json.dumps(data).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        if link:
            self.send_header("Link", f'<{link}>; rel="next"')
        self.end_headers()
        self.wfile.write(body)

    def handle_call(self) -> None:
        repo = self.server.repository
        url = urllib.parse.urlsplit(self.path)
        query = dict(urllib.parse.parse_qsl(url.query))
        length = int(self.headers.get("Content-Length") or 0)
        body: Any = json.loads(self.rfile.read(length)) if length else {}
        authorized = self.headers.get("Authorization") == f"Bearer {repo.token}"
        repo.calls.append(Call(self.command, url.path, body, authorized))
        if not authorized:
            return self.answer(401, {"message": "Bad credentials"})
        base = f"{PREFIX}/repos/{repo.name}/"
        if not url.path.startswith(base):
            return self.answer(404, {"message": "Not Found"})
        parts = url.path.removeprefix(base).split("/")
        match (self.command, parts):
            case ("GET", ["issues", number, "comments"]):
                everything = repo.comments.get(int(number), [])
                page = int(query.get("page", "1"))
                size = min(int(query.get("per_page", "30")), repo.page_size)
                following = None
                if page * size < len(everything):
                    following = (
                        self.server.address + url.path + "?" + urllib.parse.urlencode({**query, "page": page + 1})
                    )
                return self.answer(200, everything[(page - 1) * size : page * size], following)
            case ("POST", ["issues", number, "comments"]):
                comment = {"id": repo.new_id(), "body": body["body"]}
                repo.comments.setdefault(int(number), []).append(comment)
                return self.answer(201, comment)
            case ("PATCH", ["issues", "comments", comment_id]):
                for comment in (c for comments in repo.comments.values() for c in comments):
                    if comment["id"] == int(comment_id):
                        comment["body"] = body["body"]
                        return self.answer(200, comment)
                return self.answer(404, {"message": "Not Found"})
            case ("GET", ["actions", "workflows", workflow, "runs"]):
                runs = [
                    run
                    for run in reversed(repo.runs.get(workflow, []))
                    if all(run.get(key) == query[key] for key in ("branch", "event") if key in query)
                    and query.get("status") in (None, run.get("status"), run.get("conclusion"))
                ]
                return self.answer(
                    200, {"total_count": len(runs), "workflow_runs": runs[: int(query.get("per_page", "30"))]}
                )
            case ("GET", ["pulls"]):
                head = query.get("head", "").split(":", 1)[-1]
                return self.answer(
                    200, [pull for pull in repo.pulls if pull["head"] == head and pull["state"] == "open"]
                )
            case ("POST", ["pulls"]):
                opened = len(repo.pulls) + 1
                pull = {
                    **body,
                    "number": opened,
                    "state": "open",
                    "html_url": f"https://github.invalid/{repo.name}/pull/{opened}",
                }
                repo.pulls.append(pull)
                return self.answer(201, pull)
        return self.answer(404, {"message": "Not Found"})

    do_GET = do_POST = do_PATCH = handle_call


class RecorderServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, repository: Repository, address: tuple[str, int]) -> None:
        super().__init__(address, Handler)
        self.repository = repository
        self.address = ""


@contextmanager
def github_recorder(repository: Repository, namespace: str | None = None, host: str = "127.0.0.1") -> Iterator[str]:
    """Serves the repository (on `host` in `namespace`, or here); yields the API's address (what
    GITHUB_API_URL holds)."""
    address = (host, 0)
    server = (
        RecorderServer(repository, address)
        if namespace is None
        else made_in(namespace, lambda: RecorderServer(repository, address))
    )
    server.address = f"http://{host}:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.address + PREFIX
    finally:
        server.shutdown()
        server.server_close()
