"""The VM as the release lands on it: a network namespace with Oracle's stock rules, a real dockerd
and Compose v2, and the images the compose file names (built here and cached). The e2e site and the
host suite run `release.sh` on it."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from testbed.docker_host import DockerEngine, compose_plugin_dir, docker_engine, require_docker
from testbed.images import import_images
from testbed.netns import ORACLE_RULES, Pair, namespace_pair
from testbed.tools import require, require_root, require_tool

ROOT = Path(__file__).resolve().parents[1]
REFERENCE_SERVER = ROOT / "reference-socket-server"
TS_SERVER = ROOT / "tests/fixtures/ts-socket-server"
FAILING_SERVER = ROOT / "tests/fixtures/failing-socket-server"
# The Node projects whose dependencies the node image's npm cache holds (one image for all).
NODE_PROJECTS = (REFERENCE_SERVER, TS_SERVER)


@dataclass(frozen=True)
class Vm:
    pair: Pair
    engine: DockerEngine

    @property
    def prefix(self) -> tuple[str, ...]:
        """Runs a command in the VM's network namespace."""
        return ("nsenter", f"--net=/var/run/netns/{self.pair.server}")


@contextmanager
def vm(scratch: Path, tag: str, client_ips: tuple[str, ...] = ("192.0.2.2",)) -> Iterator[Vm]:
    require_root()
    require_docker()
    for tool in ("iptables-restore", "nsenter", "curl", "flock"):
        require_tool(tool)
    livekit_server = os.environ.get("LIVEKIT_SERVER", "")
    require(bool(livekit_server) and Path(livekit_server).exists(), "livekit-server not built")
    caddy = ROOT / ".venv/bin/caddy"
    with namespace_pair(tag, client_ips=client_ips) as pair:
        # The VM's own rules are there before dockerd starts, as at a boot.
        pair.run(pair.server, "iptables-restore", input_text=ORACLE_RULES.read_text())
        with docker_engine(pair.server, scratch, compose_plugin_dir()) as engine:
            caddy_program = str(caddy if caddy.exists() else require_tool("caddy"))
            import_images(engine, livekit_server, caddy_program, list(NODE_PROJECTS))
            yield Vm(pair, engine)
