"""Cluster: the same services on an OKE Basic cluster of A1 nodes instead of one server."""

from __future__ import annotations

from dataclasses import dataclass

from config.keys import Key
from config.reader import Reader
from model.cluster import ClusterShape
from model.compute import InstanceSpec

CLUSTER_NODES = Key(
    "clusterNodes",
    "integer",
    "int",
    "run on an OKE Basic cluster of this many A1 nodes, each of `ocpus` / `memoryGb` / `bootVolumeGb` (all of them "
    "within the allowance together); docs/cluster.md",
    "2",
    default_doc="none: one server",
)
SOCKET_SERVER_REPLICAS = Key(
    "socketServerReplicas",
    "integer",
    "int",
    "socket server processes on a cluster; more than one needs the app's Redis adapter and WebSocket-only "
    "clients (docs/cluster.md)",
    "2",
    default=2,
)
KEYS = (CLUSTER_NODES, SOCKET_SERVER_REPLICAS)
# Beyond this a stack is not a free-tier plan (the allowance refuses far earlier anyway).
MAX_NODES = 16
MAX_SOCKET_SERVER_REPLICAS = 32


@dataclass(frozen=True)
class ClusterConfig:
    shape: ClusterShape
    socket_server_replicas: int


def read_cluster(reader: Reader, instance: InstanceSpec) -> ClusterConfig | None:
    replicas = reader.integer(SOCKET_SERVER_REPLICAS)
    if reader.raw(CLUSTER_NODES) is None:
        if replicas != SOCKET_SERVER_REPLICAS.default:
            reader.ignored(SOCKET_SERVER_REPLICAS, "one server runs one socket server", CLUSTER_NODES.set_command())
        return None
    nodes = reader.integer(CLUSTER_NODES, default=0)
    if not 1 <= nodes <= MAX_NODES:
        reader.problem(CLUSTER_NODES, f"{nodes} is outside 1-{MAX_NODES} nodes")
    if not 1 <= replicas <= MAX_SOCKET_SERVER_REPLICAS:
        reader.problem(SOCKET_SERVER_REPLICAS, f"{replicas} is outside 1-{MAX_SOCKET_SERVER_REPLICAS}")
    return ClusterConfig(ClusterShape(max(nodes, 1), instance), replicas)
