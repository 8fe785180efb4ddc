"""A real single-node cluster: the node becomes Ready, a pod from a locally built image runs, and a
ClusterIP Service routes to it (kube-proxy) from the node, from a hostNetwork pod and from a pod;
when the cluster is gone, nothing of it is left on the machine."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Mapping
from pathlib import Path

import pytest

from model.versions import REDIS_IMAGE
from testbed.cluster import Cluster, read_sysctls, single_node_cluster
from testbed.images import oci_archive, redis_recipe

pytestmark = pytest.mark.root

# A raw RESP PING from the node namespace: no redis-cli needed.
PING = """
import socket, sys
with socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5) as connection:
    connection.sendall(b"PING\\r\\n")
    print(connection.recv(64).decode().strip())
"""
# Programs of the cluster and its pod: none may outlive it.
PROGRAMS = {"etcd", "kube-apiserver", "kube-controller", "kube-scheduler", "kubelet", "kube-proxy", "redis-server"}


def _pod(name: str, *, command: list[str] | None = None, host_network: bool = False) -> dict[str, object]:
    container: dict[str, object] = {"name": name, "image": REDIS_IMAGE, "imagePullPolicy": "Never"}
    if command:
        container["command"] = command
    else:
        container["ports"] = [{"containerPort": 6379}]
    spec: dict[str, object] = {"containers": [container], "hostNetwork": host_network}
    if command:
        spec["restartPolicy"] = "Never"
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": {"app": name}}, "spec": spec}


SERVICE = {
    "apiVersion": "v1",
    "kind": "Service",
    "metadata": {"name": "redis"},
    "spec": {"selector": {"app": "redis"}, "ports": [{"port": 6379, "targetPort": 6379}]},
}


def _apply(cluster: Cluster, *objects: Mapping[str, object]) -> None:
    document = json.dumps({"apiVersion": "v1", "kind": "List", "items": list(objects)})
    manifest = cluster.root / f"manifest-{time.monotonic_ns()}.json"
    manifest.write_text(document)
    cluster.kubectl("apply", "-f", str(manifest))


def _start_redis(cluster: Cluster) -> str:
    """The redis pod Ready behind a ClusterIP Service; the Service's IP."""
    _apply(cluster, _pod("redis"), SERVICE)
    cluster.kubectl("wait", "--for=condition=Ready", "pod/redis", "--timeout=120s", timeout=150)
    return cluster.kubectl("get", "service", "redis", "-o", "jsonpath={.spec.clusterIP}").stdout.strip()


def _ping_from_node(cluster: Cluster, address: str, timeout: float = 30) -> str:
    """The reply to a PING from the node namespace; retried until kube-proxy has the Service's endpoint."""
    deadline = time.monotonic() + timeout
    while True:
        result = cluster.node_run(sys.executable, "-c", PING, address, "6379", check=False)
        if result.returncode == 0 or time.monotonic() > deadline:
            return result.stdout.strip() or result.stderr.strip()[-400:]
        time.sleep(0.5)


def _client_pod_output(cluster: Cluster, name: str, address: str, host_network: bool) -> str:
    """What busybox nc in a pod reads back after a PING to the address."""
    script = f"printf 'PING\\r\\n' | nc -w 3 {address} 6379"
    _apply(cluster, _pod(name, command=["sh", "-c", script], host_network=host_network))
    jsonpath = "jsonpath={.status.phase}"
    deadline = time.monotonic() + 120
    while (phase := cluster.kubectl("get", "pod", name, "-o", jsonpath).stdout.strip()) not in {"Succeeded", "Failed"}:
        assert time.monotonic() < deadline, f"pod {name} still {phase}"
        time.sleep(1)
    return cluster.kubectl("logs", name).stdout.strip()


def test_teardown_leaves_nothing(tmp_path: Path) -> None:
    """Runs before the module's cluster exists: a cluster with a pod running, then nothing of it."""
    before = read_sysctls()
    programs_before = _program_pids()
    with single_node_cluster(tmp_path, tag="kt", images=[oci_archive(redis_recipe())]) as cluster:
        _start_redis(cluster)
        assert cluster.processes(), "the cluster's processes are not found"
        assert cluster.mounts(), "the cluster's mounts are not found"
    assert cluster.remnants() == []
    assert read_sysctls() == before
    assert _program_pids() - programs_before == set()


def _program_pids() -> set[int]:
    found: set[int] = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() in PROGRAMS:
                    found.add(int(entry.name))
            except OSError:
                continue
    return found


def test_node_ready(cluster: Cluster) -> None:
    ready = "jsonpath={.status.conditions[?(@.type=='Ready')].status}"
    assert cluster.kubectl("get", "node", cluster.node_name, "-o", ready).stdout.strip() == "True"
    addresses = json.loads(
        cluster.kubectl("get", "node", cluster.node_name, "-o", "jsonpath={.status.addresses}").stdout
    )
    assert {"type": "InternalIP", "address": "192.0.2.1"} in addresses


def test_redis_answers_through_its_cluster_ip(cluster: Cluster) -> None:
    address = _start_redis(cluster)
    assert address.startswith("10.96.0.")
    # The API server reaches the kubelet (its client certificate): logs work.
    assert "Ready to accept connections" in cluster.kubectl("logs", "redis").stdout
    # kube-proxy's rules route the ClusterIP from the node's namespace (once it has seen the endpoint) ...
    assert _ping_from_node(cluster, address) == "+PONG"
    # ... from a pod on the node's network ...
    assert _client_pod_output(cluster, "ping-host", address, host_network=True) == "+PONG"
    # ... and from a pod on the pod network.
    assert _client_pod_output(cluster, "ping-pod", address, host_network=False) == "+PONG"
