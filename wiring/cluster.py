"""The cluster kind: the OKE cluster and its nodes, then the services on them."""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from components.oke import OkeCluster, OkeClusterArgs
from components.origin_certificate import OriginCertificate
from components.turn_certificate import TurnCertificate
from components.turn_entry import TurnEntry, TurnEntryArgs
from components.workloads import Workloads, WorkloadsArgs
from config import StackConfig
from model.cluster import OKE_PODS_CIDR, WorkloadSettings
from model.compute import Placement
from model.ports import Ingress


def cluster(
    config: StackConfig,
    ingress: pulumi.Output[Ingress],
    placement: Placement | None,
    certificate: OriginCertificate | None,
    turn: TurnCertificate | None,
) -> tuple[OkeCluster, Workloads, TurnEntry | None]:
    # The config refuses a cluster without these (config.consistency.check_cluster, the edge's zone).
    assert config.cluster and placement and certificate and config.socket_server.image, "checked by the config"
    shape, image = config.cluster.shape, config.socket_server.image
    net = config.network
    oke_args = OkeClusterArgs(
        config.compartment_id,
        config.project,
        shape,
        placement,
        net.vcn_cidr,
        net.subnet_cidr,
        ingress,
        net.admin_ssh_public_keys,
        turn_tls=turn is not None,
    )
    nodes = OkeCluster("cluster", oke_args)
    turn_entry = None
    if turn is not None:
        entry_args = TurnEntryArgs(
            config.compartment_id, config.project, nodes.subnet_id, nodes.node_instance_ids(shape.nodes)
        )
        turn_entry = TurnEntry("turn-entry", entry_args)
    provider = k8s.Provider("cluster", kubeconfig=nodes.kubeconfig, opts=pulumi.ResourceOptions(parent=nodes))
    settings = WorkloadSettings(
        socket_hostname=config.edge.socket.name,
        livekit_hostname=config.edge.livekit.name,
        socket_server_image=image,
        socket_server_replicas=config.cluster.socket_server_replicas,
        # An OKE node's public IP is a NAT of its own: LiveKit finds it by STUN.
        node_address="stun",
        # Flannel: a host-network pod reaching a pod on another node arrives from that node's pod
        # address, which only the pods' range holds.
        node_cidrs=(net.subnet_cidr, OKE_PODS_CIDR),
        livekit_access=config.socket_server.livekit_access,
        nodes=shape.nodes,
        turn_hostname=config.turn.hostname if config.turn else None,
        allowed_origins=config.socket_server.allowed_origins,
        environment=config.socket_server.environment,
    )
    workloads_args = WorkloadsArgs(
        settings,
        provider,
        origin_certificate=certificate.certificate_pem,
        origin_key=certificate.private_key_pem,
        livekit_api_key=config.cutover.livekit_api_key,
        livekit_api_secret=config.cutover.livekit_api_secret,
        app_secret_environment=config.socket_secrets.environment,
        trusted_proxies=ingress.apply(lambda allowed: list(allowed.origin_lock_cidrs or ())),
        turn_certificate=turn.certificate_chain_pem if turn else None,
        turn_key=turn.private_key_pem if turn else None,
    )
    workloads = Workloads("workloads", workloads_args)
    pulumi.export("cluster_id", nodes.cluster_id)
    pulumi.export("node_public_ips", nodes.node_public_ips)
    return nodes, workloads, turn_entry
