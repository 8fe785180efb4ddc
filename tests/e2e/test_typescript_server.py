"""The team's kind of socket server — TypeScript, several modules, a build step, a multi-stage
Dockerfile — shipped by the release path (the source archive, unpacked on the host), built from its
own Dockerfile, and reached through Caddy by a real Socket.io client and by the dashboard."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from testbed.site import METRICS_TOKEN, SOCKET_HOST, Site, running_site

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "tests/fixtures/ts-socket-server"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    with running_site(tmp_path_factory.mktemp("ts"), source=FIXTURE) as booted:
        yield booted


def test_the_release_ships_the_source_and_the_host_builds_what_the_dockerfile_says(site: Site) -> None:
    shipped = site.release / "socket-server"
    assert (shipped / "src/game/rooms.ts").is_file() and (shipped / "tsconfig.json").is_file()
    assert not (shipped / "node_modules").exists() and not (shipped / "dist").exists(), "ignored files were shipped"
    image = site.settings.socket_server_image_name
    # The final stage holds the compiled output and the runtime dependencies only.
    present = "const fs = require('fs'); console.log(JSON.stringify(process.argv.slice(1).map(fs.existsSync)))"
    listing = site.engine.docker(
        "run",
        "--rm",
        "--entrypoint",
        "node",
        image,
        "-e",
        present,
        "dist/game/rooms.js",
        "src",
        "node_modules/typescript",
    ).stdout
    assert json.loads(listing) == [True, False, False], listing
    command = site.engine.docker("image", "inspect", "--format", "{{json .Config.Cmd}}", image).stdout
    assert json.loads(command) == ["node", "dist/server.js"]


def test_the_typescript_server_answers_through_caddy(site: Site) -> None:
    health = site.python("client.py", "get", f"https://{SOCKET_HOST}/healthz")
    assert health["status"] == 200 and "typescript" in str(health["body"]), health
    node_env = {"NODE_EXTRA_CA_CERTS": str(site.ca_file), "NODE_PATH": str(ROOT / "tests/tools/node_modules")}
    for transport in ("polling", "websocket"):
        answer = site.client(
            "node", str(ROOT / "tests/tools/socketio-client.js"), f"https://{SOCKET_HOST}", transport, env=node_env
        )
        assert answer["connected"] and answer["usedTransport"] == transport, answer
        assert answer["echoed"] == {"hello": transport}, answer


def test_the_dashboard_reads_its_metrics_with_the_token_only(site: Site) -> None:
    url = f"https://{SOCKET_HOST}/metrics"
    assert site.python("client.py", "get", url)["status"] == 404
    metrics = site.python("client.py", "get", url, env={"BEARER_TOKEN": METRICS_TOKEN})
    assert metrics["status"] == 200 and "typescript socket server" in str(metrics["body"]), metrics
