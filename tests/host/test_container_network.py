"""Containers' own traffic on a real Docker engine behind the release's firewall: TURN/TLS's redirect
of 443 never captures it, and the instance metadata service stays out of its reach, also after
dockerd restarts as at a boot.

The host is the server namespace of a pair; the client namespace plays the internet (a web server
on 443) and the metadata service (169.254.169.254), and is where a browser outside the edge sits.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from model import ports, versions
from model.ports import Ingress
from render.firewall import render_firewall_script
from testbed.docker_host import DockerEngine, compose_plugin_dir, docker_engine, require_docker
from testbed.images import import_images
from testbed.netns import Pair, namespace_pair
from testbed.tools import require, require_root

ROOT = Path(__file__).resolve().parents[2]
SERVER, INTERNET = "192.0.2.1", "192.0.2.2"
EDGE = "192.0.2.3"
METADATA = "169.254.169.254"
# Node's fetch, from the socket server's base image: what the team's own code would use.
FETCH = (
    "fetch(process.argv[1], { signal: AbortSignal.timeout(5000) }).then(r => r.text())"
    ".then(t => process.stdout.write(t), e => { console.error(String(e.cause ?? e)); process.exit(1) })"
)


@dataclass
class NetworkSite:
    pair: Pair
    engine: DockerEngine
    scratch: Path

    def apply_firewall(self) -> None:
        script = self.scratch / "firewall.sh"
        script.write_text(render_firewall_script(Ingress(("0.0.0.0/0",), (f"{EDGE}/32",), turn_tls=True)))
        self.pair.run(self.pair.server, "sh", str(script))

    def from_container(self, url: str) -> subprocess.CompletedProcess[str]:
        return self.engine.docker(
            "run", "--rm", "--entrypoint", "node", versions.NODE_IMAGE, "-e", FETCH, url, check=False, timeout=60
        )


def _serve(pair: Pair, namespace: str, address: str, port: int, body: str, folder: Path) -> subprocess.Popen[bytes]:
    folder.mkdir(parents=True)
    (folder / "index.html").write_text(body)
    server = pair.popen(
        namespace,
        [sys.executable, "-m", "http.server", str(port), "--bind", address, "--directory", str(folder)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    pair.run(namespace, "sh", "-c", f"for i in $(seq 50); do ss -ltn | grep -q ':{port} ' && exit 0; sleep 0.1; done")
    return server


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NetworkSite]:
    require_root()
    require_docker()
    livekit_server = os.environ.get("LIVEKIT_SERVER", "")
    require(bool(livekit_server) and Path(livekit_server).exists(), "livekit-server not built")
    scratch = tmp_path_factory.mktemp("container-network")
    with namespace_pair("cn", client_ips=(INTERNET,)) as pair:
        pair.run(pair.client, "ip", "addr", "add", f"{METADATA}/32", "dev", "lo")
        pair.run(pair.server, "ip", "route", "add", f"{METADATA}/32", "via", INTERNET)
        servers = [
            _serve(pair, pair.client, INTERNET, ports.HTTPS.first, "the internet", scratch / "internet"),
            _serve(pair, pair.client, METADATA, 80, "instance credentials", scratch / "metadata"),
            _serve(pair, pair.server, "0.0.0.0", ports.TURN_TLS_LISTENER.port, "turn", scratch / "turn"),
        ]
        try:
            (scratch / "engine").mkdir()
            with docker_engine(pair.server, scratch / "engine", compose_plugin_dir()) as engine:
                import_images(engine, livekit_server, str(ROOT / ".venv/bin/caddy"), [])
                built = NetworkSite(pair, engine, scratch)
                built.apply_firewall()
                yield built
        finally:
            for server in servers:
                server.kill()
                server.wait()


def test_containers_reach_the_internet_on_443_not_turns_listener(site: NetworkSite) -> None:
    fetched = site.from_container(f"http://{INTERNET}:{ports.HTTPS.first}/")
    assert fetched.returncode == 0, f"a container's outbound 443 failed: {fetched.stderr}"
    assert fetched.stdout == "the internet", f"a container's outbound 443 was redirected: got {fetched.stdout!r}"


def test_the_redirect_still_takes_browsers_outside_the_edge_to_turn(site: NetworkSite) -> None:
    fetched = site.pair.run(
        site.pair.client, "curl", "-s", "--max-time", "5", f"http://{SERVER}:{ports.HTTPS.first}/", check=False
    )
    assert fetched.stdout == "turn", f"443 from outside the edge did not reach TURN's listener: {fetched.stdout!r}"


def test_containers_cannot_reach_the_metadata_service_but_the_host_can(site: NetworkSite) -> None:
    host = site.pair.run(site.pair.server, "curl", "-s", "--max-time", "5", f"http://{METADATA}/", check=False)
    assert host.stdout == "instance credentials", "the stand-in metadata service is not reachable from the host"
    fetched = site.from_container(f"http://{METADATA}/")
    assert fetched.returncode != 0 and "credentials" not in fetched.stdout, "a container reached the metadata service"


def test_the_metadata_block_survives_dockerd_restarting(site: NetworkSite) -> None:
    site.engine.restart()
    fetched = site.from_container(f"http://{METADATA}/")
    assert fetched.returncode != 0 and "credentials" not in fetched.stdout, "after a restart a container reached it"
    assert site.from_container(f"http://{INTERNET}:{ports.HTTPS.first}/").stdout == "the internet"
