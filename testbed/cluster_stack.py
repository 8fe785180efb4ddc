"""The cluster kind's workloads deployed on a test cluster (testbed/cluster.py) by the real Pulumi
engine and the pulumi-kubernetes provider, and what clients outside the node see of them. Shared by
the cluster suite and the capacity benchmark's cluster mode."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from model import cluster as model
from model.cluster import WorkloadSettings
from testbed.cluster import Cluster
from testbed.engine import Operator, install_engine, plugin_home, program_operator
from testbed.images import caddy_recipe, livekit_recipe, oci_archive, redis_recipe, socket_server_recipe
from testbed.pki import make_pki
from testbed.tools import require, require_tool
from testbed.voice_load import LoadTarget

ROOT = Path(__file__).resolve().parents[1]
HERE = ROOT / "testbed"
SOCKET_HOST, LIVEKIT_HOST = "space-socket.flow-coder.com", "space-livekit.flow-coder.com"
SOCKET_IMAGE = "flowspace.local/socket-server:reference"
NODE = "192.0.2.1"
# The program: the workloads component on a provider for the cluster, its settings from config.
PROGRAM = f"""\
import json
import sys

sys.path.insert(0, {str(ROOT)!r})

import pulumi
import pulumi_kubernetes as k8s

from components.workloads import Workloads, WorkloadsArgs
from model.cluster import WorkloadSettings

config = pulumi.Config()
fields = json.loads(config.require("settings"))


def frozen(value):
    return tuple(frozen(item) for item in value) if isinstance(value, list) else value


settings = WorkloadSettings(**{{key: frozen(value) for key, value in fields.items()}})
provider = k8s.Provider("cluster", kubeconfig=config.require_secret("kubeconfig"))
args = WorkloadsArgs(
    settings,
    provider,
    origin_certificate=config.require("certificate"),
    origin_key=config.require_secret("key"),
    app_secret_environment=config.require_secret("appSecretEnv"),
)
workloads = Workloads("workloads", args)
pulumi.export("livekit_api_key", workloads.livekit_api_key)
pulumi.export("livekit_api_secret", workloads.livekit_api_secret)
pulumi.export("redis_ip", workloads.redis_service_ip)
"""
SETTINGS = WorkloadSettings(
    socket_hostname=SOCKET_HOST,
    livekit_hostname=LIVEKIT_HOST,
    socket_server_image=SOCKET_IMAGE,
    socket_server_replicas=2,
    # The node is reached at the address the cluster knows it by.
    node_address="node",
    node_cidrs=(f"{NODE}/32",),
    environment=(("RELEASE", "first"),),
    image_pull_policy="Never",
)


@dataclass
class Stack:
    cluster: Cluster
    operator: Operator
    ca_file: Path
    key_pem: str

    def outputs(self) -> dict[str, str]:
        shown = self.operator.must("stack", "output", "--json", "--show-secrets").stdout
        return {key: str(value) for key, value in json.loads(shown).items()}

    def ca_env(self) -> dict[str, str]:
        """Each client's way to trust the test CA."""
        ca = str(self.ca_file)
        return {"SSL_CERT_FILE": ca, "NODE_EXTRA_CA_CERTS": ca, "TEST_CA_FILE": ca}

    def client(self, *args: str, env: dict[str, str] | None = None, timeout: int = 120) -> dict[str, object]:
        """A command in the outside namespace (the hostnames lead to the node); its last line is JSON."""
        result = subprocess.run(
            ["ip", "netns", "exec", self.cluster.pair.client, *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            env={**os.environ, **self.ca_env(), **(env or {})},
        )
        lines = result.stdout.strip().splitlines()
        assert lines, f"{' '.join(args[:3])} printed nothing:\n{result.stderr[-3000:]}\n{self.pods()}"
        parsed: dict[str, object] = json.loads(lines[-1])
        return parsed

    def holding(self, *args: str, ready: str) -> subprocess.Popen[str]:
        process = subprocess.Popen(
            ["ip", "netns", "exec", self.cluster.pair.client, *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, **self.ca_env()},
        )
        assert process.stdout is not None
        first = process.stdout.readline().strip()
        if first != ready:
            process.kill()
            raise AssertionError(f"{args[1]} did not start: {first}{process.communicate()[1][-2000:]}\n{self.pods()}")
        return process

    def pods(self) -> str:
        return self.cluster.kubectl("get", "pods", "-n", model.NAMESPACE, "-o", "wide", check=False).stdout

    def pod_names(self, app: str) -> set[str]:
        listing = self.cluster.kubectl("get", "pods", "-n", model.NAMESPACE, "-l", f"app={app}", "-o", "json").stdout
        # A replaced pod may still be stopping: it serves nothing any more.
        return {
            pod["metadata"]["name"]
            for pod in json.loads(listing)["items"]
            if "deletionTimestamp" not in pod["metadata"]
        }

    def load_target(self) -> LoadTarget:
        """The voice load generator's target: LiveKit through Caddy on the node, as a browser joins."""
        out = self.outputs()
        servers = [pid for pid in self.cluster.processes() if _comm(pid) == "livekit-server"]
        assert len(servers) == 1, f"livekit-server processes: {servers}"
        url = f"wss://{LIVEKIT_HOST}"
        return LoadTarget(
            self.cluster.pair.client, self.ca_file, url, out["livekit_api_key"], out["livekit_api_secret"], servers[0]
        )

    def livekit_call(self, listener_url: str | None = None) -> dict[str, object]:
        out = self.outputs()
        extra = [listener_url] if listener_url else []
        return self.client(
            sys.executable,
            str(HERE / "livekit_call.py"),
            f"wss://{LIVEKIT_HOST}",
            out["livekit_api_key"],
            out["livekit_api_secret"],
            *extra,
        )


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def finish(process: subprocess.Popen[str]) -> dict[str, object]:
    out, err = process.communicate(input="", timeout=90)
    lines = out.strip().splitlines()
    assert lines, f"printed nothing: {err[-2000:]}"
    parsed: dict[str, object] = json.loads(lines[-1])
    return parsed


def k8s_plugin() -> Path:
    built = subprocess.run([str(ROOT / "scripts" / "build-pulumi-kubernetes")], capture_output=True, text=True)
    require(built.returncode == 0, f"scripts/build-pulumi-kubernetes failed:\n{built.stderr[-3000:]}")
    return Path(built.stdout.strip().splitlines()[-1])


def import_images(cluster: Cluster) -> None:
    livekit_server = os.environ.get("LIVEKIT_SERVER", "")
    require(bool(livekit_server) and Path(livekit_server).exists(), "livekit-server not built")
    caddy = ROOT / ".venv/bin/caddy"
    recipes = [
        livekit_recipe(Path(livekit_server)),
        caddy_recipe(caddy if caddy.exists() else Path(require_tool("caddy"))),
        redis_recipe(),
        socket_server_recipe(ROOT / "reference-socket-server", SOCKET_IMAGE),
    ]
    for recipe in recipes:
        cluster.import_image(oci_archive(recipe))


@contextmanager
def deployed_workloads(cluster: Cluster, workdir: Path) -> Iterator[Stack]:
    """The workloads up on the cluster (SETTINGS), the hostnames leading to the node for the outside
    namespace; destroyed afterwards."""
    workdir.mkdir(parents=True, exist_ok=True)
    import_images(cluster)
    pki = make_pki([SOCKET_HOST, LIVEKIT_HOST])
    ca_file = workdir / "ca.pem"
    ca_file.write_text(pki.ca_pem)
    engine = install_engine()
    home = plugin_home(engine, workdir / "home", k8s_plugin())
    operator = program_operator(workdir / "stack", engine, "cluster", PROGRAM, home=home)
    # The engine reaches the API server from outside the node, as an operator's machine would.
    operator.namespace = cluster.pair.client
    operator.must("stack", "init")
    operator.must("config", "set", "settings", json.dumps(SETTINGS.__dict__))
    operator.must("config", "set", "certificate", stdin=pki.certificate_pem)
    for key, value in (
        ("kubeconfig", cluster.kubeconfig.read_text()),
        ("key", pki.key_pem),
        ("appSecretEnv", "APP_TOKEN=first-token\n"),
    ):
        operator.must("config", "set", "--secret", key, stdin=value)
    hosts = Path("/etc/netns") / cluster.pair.client
    hosts.mkdir(parents=True, exist_ok=True)
    (hosts / "hosts").write_text(f"127.0.0.1 localhost\n{NODE} {SOCKET_HOST} {LIVEKIT_HOST}\n")
    try:
        up = operator.pulumi("up", "--yes", "--skip-preview", timeout=900)
        assert up.returncode == 0, (
            f"up failed:\n{up.output[-6000:]}\n{cluster.kubectl('get', 'pods', '-A', '-o', 'wide', check=False).stdout}"
        )
        print(f"up took {up.seconds:.0f}s")
        yield Stack(cluster, operator, ca_file, pki.key_pem)
    finally:
        operator.pulumi("destroy", "--yes", "--skip-preview", timeout=600)
        for leftover in (hosts / "hosts", hosts):
            if leftover.is_file():
                leftover.unlink()
            elif leftover.is_dir():
                leftover.rmdir()
