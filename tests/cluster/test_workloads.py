"""The cluster kind's workloads (components/workloads.py) driven by the real Pulumi engine and the
pulumi-kubernetes provider against the real single-node cluster: up, a no-op up, clients through
Caddy on the node, a socket server roll that keeps a LiveKit call, Redis routing a room between two
LiveKit pods, destroy. The module's tests run in order, on one stack."""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from model import cluster as model
from model.cluster import WorkloadSettings
from render import kubernetes as manifests
from testbed.cluster import Cluster
from testbed.engine import Operator, install_engine, plugin_home, program_operator
from testbed.images import caddy_recipe, livekit_recipe, oci_archive, redis_recipe, socket_server_recipe
from testbed.pki import make_pki
from testbed.tools import require, require_tool

ROOT = Path(__file__).resolve().parents[2]
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


@pytest.fixture(scope="module")
def stack(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    workdir = tmp_path_factory.mktemp("workloads")
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


def test_every_workload_is_ready_behind_its_policies(stack: Stack) -> None:
    pods = json.loads(stack.cluster.kubectl("get", "pods", "-n", model.NAMESPACE, "-o", "json").stdout)["items"]
    ready = {
        pod["metadata"]["name"]: all(status["ready"] for status in pod["status"].get("containerStatuses", []))
        for pod in pods
    }
    assert all(ready.values()) and len(ready) == 5, stack.pods()
    assert len(stack.pod_names(model.SOCKET_SERVER)) == 2
    policies = stack.cluster.kubectl("get", "networkpolicy", "-n", model.NAMESPACE, "-o", "name").stdout.split()
    assert len(policies) == 3, policies
    state = "".join(path.read_text(errors="replace") for path in stack.operator.state_files())
    body = "".join(stack.key_pem.strip().splitlines()[1:-1])
    assert body[:40] not in state, "the origin key is in the state in plain text"
    assert "first-token" not in state


def test_a_second_up_changes_nothing(stack: Stack) -> None:
    stack.operator.must("preview", "--expect-no-changes", "--non-interactive")
    again = stack.operator.must("up", "--yes", "--skip-preview").stdout
    assert re.search(r"\d+ unchanged", again) and not re.search(r"\d+ (created|updated|replaced|deleted)", again), again


def test_a_real_client_reaches_both_hostnames_through_caddy_on_the_node(stack: Stack) -> None:
    node_path = {"NODE_PATH": str(ROOT / "tests/tools/node_modules")}
    socketio = stack.client(
        "node", str(ROOT / "tests/tools/socketio-client.js"), f"https://{SOCKET_HOST}", "websocket", env=node_path
    )
    assert socketio["connected"] and socketio["echoed"] == {"hello": "websocket"}, socketio
    health = stack.client(sys.executable, str(HERE / "client.py"), "get", f"https://{LIVEKIT_HOST}/")
    assert health.get("status") == 200, health
    call = stack.livekit_call()
    assert call["ok"], f"{call}\n{stack.pods()}"


def test_a_socket_server_change_rolls_while_livekit_keeps_its_participants(stack: Stack) -> None:
    out = stack.outputs()
    before_sockets, before_livekit = stack.pod_names(model.SOCKET_SERVER), stack.pod_names(model.LIVEKIT)
    held = stack.holding(
        sys.executable,
        str(HERE / "livekit_hold.py"),
        f"wss://{LIVEKIT_HOST}",
        out["livekit_api_key"],
        out["livekit_api_secret"],
        ready="flowing",
    )
    changed = SETTINGS.__dict__ | {"environment": (("RELEASE", "second"),)}
    stack.operator.must("config", "set", "settings", json.dumps(changed))
    rolled = stack.operator.pulumi("up", "--yes", "--skip-preview", timeout=600)
    call = finish(held)
    assert rolled.returncode == 0, rolled.output[-4000:]
    after_sockets = stack.pod_names(model.SOCKET_SERVER)
    assert len(after_sockets) == 2 and not after_sockets & before_sockets, (before_sockets, after_sockets)
    assert stack.pod_names(model.LIVEKIT) == before_livekit
    assert call["ok"] and call["disconnected"] == [], call
    assert int(call["longest_gap_ms"]) < 1000, call  # type: ignore[call-overload]


def test_redis_routes_a_room_between_two_livekit_pods(stack: Stack) -> None:
    """A second LiveKit on the node (other ports), from the deployed config: two participants join
    through different pods and one room on one of them carries the call."""
    require_tool("redis-cli")
    encoded = stack.cluster.kubectl(
        "get", "secret", manifests.LIVEKIT_CONFIG, "-n", model.NAMESPACE, "-o", "jsonpath={.data.livekit\\.yaml}"
    ).stdout
    second = yaml.safe_load(base64.b64decode(encoded))
    second |= {"port": 7890, "bind_addresses": ["0.0.0.0"], "turn": {"enabled": False}}
    second["rtc"] = second["rtc"] | {"tcp_port": 7891, "port_range_start": 40000, "port_range_end": 40100}
    manifest = stack.operator.project.parent / "livekit-second.yaml"
    manifest.write_text(livekit_pod(yaml.safe_dump(second)))
    stack.cluster.kubectl("apply", "-f", str(manifest))
    stack.cluster.kubectl("wait", "--for=condition=Ready", "pod/livekit-second", "-n", model.NAMESPACE, "--timeout=90s")
    redis = second["redis"]
    nodes = redis_cli(stack, redis, "HKEYS", "nodes").split()
    assert len(nodes) == 2, f"LiveKit nodes registered in Redis: {nodes}"
    call = stack.livekit_call(listener_url=f"ws://{NODE}:7890")
    assert call["ok"], f"{call}\n{stack.pods()}"
    room_node = redis_cli(stack, redis, "HGET", "room_node_map", "e2e-room").strip()
    assert room_node in nodes, (room_node, nodes)
    stack.cluster.kubectl("delete", "-f", str(manifest), "--wait=true")


def redis_cli(stack: Stack, redis: dict[str, str], *command: str) -> str:
    host, _, port = redis["address"].rpartition(":")
    result = stack.cluster.node_run(
        "env", f"REDISCLI_AUTH={redis['password']}", "redis-cli", "-h", host, "-p", port, *command
    )
    return result.stdout


def livekit_pod(config: str) -> str:
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "livekit-second", "namespace": model.NAMESPACE},
        "stringData": {"livekit.yaml": config},
    }
    daemon = manifests.livekit(SETTINGS)["spec"]["template"]["spec"]
    container = daemon["containers"][0] | {
        "readinessProbe": {"httpGet": {"path": "/", "port": 7890}, "periodSeconds": 2},
        "volumeMounts": [
            {"name": "second", "mountPath": "/etc/livekit/livekit.yaml", "subPath": "livekit.yaml"},
            *daemon["containers"][0]["volumeMounts"][1:],
        ],
    }
    spec = daemon | {
        "containers": [container],
        "terminationGracePeriodSeconds": 5,
        "volumes": [*daemon["volumes"], {"name": "second", "secret": {"secretName": "livekit-second"}}],
    }
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "livekit-second", "namespace": model.NAMESPACE, "labels": {"app": "livekit-second"}},
        "spec": spec,
    }
    return yaml.safe_dump_all([secret, pod])


def test_destroy_removes_every_object(stack: Stack) -> None:
    stack.operator.must("destroy", "--yes", "--skip-preview")
    deadline = time.monotonic() + 120
    while stack.cluster.kubectl("get", "namespace", model.NAMESPACE, check=False).returncode == 0:
        assert time.monotonic() < deadline, stack.pods()
        time.sleep(2)
    assert not stack.outputs()
