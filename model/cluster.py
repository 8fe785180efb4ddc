"""The cluster kind: the same services on Kubernetes (an OKE Basic cluster and its A1 node pool).

One LiveKit per node on the host network (media straight to the node), Redis for LiveKit's room
routing and the socket server's adapter, the socket server as a Deployment of several processes,
and Caddy per node on the host network as the entry point, with the edge's certificates.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from model import allowance
from model.compute import InstanceSpec

NAMESPACE = "flowspace"
# OKE Basic clusters have no control-plane charge; Enhanced ones do.
OKE_CLUSTER_TYPE = "BASIC_CLUSTER"
OKE_KUBERNETES_VERSION = "v1.34.1"
# Pods and Services of an OKE cluster with flannel: outside the VCN's 10.0.0.0/16.
OKE_PODS_CIDR = "10.244.0.0/16"
OKE_SERVICES_CIDR = "10.96.0.0/16"

# Workload names, one each; labels select by `app`.
SOCKET_SERVER = "socket-server"
LIVEKIT = "livekit"
REDIS = "redis"
CADDY = "caddy"

# How a LiveKit pod learns the address it hands to clients: the node's own (a node reached at the
# address Kubernetes knows it by), or a STUN lookup (an OKE node, whose public IP is a NAT of it).
NodeAddress = Literal["node", "stun"]


@dataclass(frozen=True)
class ClusterShape:
    """`nodes` A1 workers, each of `node`'s size."""

    nodes: int
    node: InstanceSpec

    def instances(self) -> list[allowance.Instance]:
        one = allowance.Instance(self.node.ocpus, self.node.memory_gb, self.node.boot_volume_gb)
        return [one] * self.nodes

    def describe(self) -> str:
        return f"{self.nodes} node(s) of {self.node.ocpus} OCPU / {self.node.memory_gb} GB"


@dataclass(frozen=True)
class WorkloadSettings:
    socket_hostname: str
    livekit_hostname: str
    socket_server_image: str
    socket_server_replicas: int
    node_address: NodeAddress
    # Where the nodes' own traffic comes from: the host-network pods (Caddy, LiveKit) reach the
    # socket server and Redis from these.
    node_cidrs: tuple[str, ...]
    allowed_origins: tuple[str, ...] = ()
    environment: tuple[tuple[str, str], ...] = ()
    # Never: the images are on the nodes already (a cluster without a registry).
    image_pull_policy: str = "IfNotPresent"
    # LIVEKIT_URL, LIVEKIT_API_KEY and LIVEKIT_API_SECRET for the socket server (socketServerLivekitAccess).
    livekit_access: bool = False
    # How many nodes LiveKit rolls over, one after the other.
    nodes: int = 1
    # TURN/TLS's DNS-only hostname (its certificate a Secret); None: TURN over UDP only.
    turn_hostname: str | None = None
