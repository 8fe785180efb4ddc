"""The cluster kind's workloads (components/workloads.py) driven by the real Pulumi engine and the
pulumi-kubernetes provider against the real single-node cluster: up, a no-op up, clients through
Caddy on the node, a socket server roll that keeps a LiveKit call, Redis routing a room between two
LiveKit pods, destroy. The module's tests run in order, on one stack."""

from __future__ import annotations

import base64
import json
import re
import sys
import time
from collections.abc import Iterator

import pytest
import yaml

from model import cluster as model
from render import kubernetes as manifests
from testbed.cluster import Cluster
from testbed.cluster_stack import (
    HERE,
    LIVEKIT_HOST,
    NODE,
    ROOT,
    SETTINGS,
    SOCKET_HOST,
    Stack,
    deployed_workloads,
    finish,
)
from testbed.tools import require_tool


@pytest.fixture(scope="module")
def stack(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with deployed_workloads(cluster, tmp_path_factory.mktemp("workloads")) as deployed:
        yield deployed


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
    # The generated ones, as the cluster holds them.
    redis_password = secret_file(stack, manifests.REDIS_CONFIG, "redis.conf").split("requirepass ")[1].split()[0]
    metrics_token = secret_file(stack, manifests.CADDY_ENVIRONMENT, "METRICS_TOKEN")
    for name, value in (("Redis's password", redis_password), ("the metrics token", metrics_token)):
        assert len(value) >= 32 and value not in state, f"{name} is in the state in plain text"
    assert stack.outputs()["livekit_api_secret"] not in state


def secret_file(stack: Stack, secret: str, key: str) -> str:
    escaped = key.replace(".", "\\.")
    encoded = stack.cluster.kubectl(
        "get", "secret", secret, "-n", model.NAMESPACE, "-o", f"jsonpath={{.data.{escaped}}}"
    ).stdout
    return base64.b64decode(encoded).decode()


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
    second = yaml.safe_load(secret_file(stack, manifests.LIVEKIT_CONFIG, "livekit.yaml"))
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
