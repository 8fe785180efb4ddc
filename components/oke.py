"""An OKE Basic cluster and its A1 node pool (the cluster kind), in a network from the ports table.

Resources: the Network (with the cluster's rules), the cluster (public API endpoint, flannel), the
node pool (nodes with public IPs in the same subnet), and the kubeconfig the workloads use. The
kubeconfig's token comes from `oci ce cluster generate-token`: the OCI CLI must be on the PATH of
whoever runs `pulumi up`, with the same credentials as the provider.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial

import pulumi
import pulumi_oci as oci

from components.network import Network, NetworkArgs
from model import cluster
from model.cluster import ClusterShape
from model.compute import Placement
from model.ports import Ingress
from model.project import Project


@dataclass(frozen=True)
class OkeClusterArgs:
    compartment_id: str
    project: Project
    shape: ClusterShape
    # The nodes' availability domain and OKE node image.
    placement: Placement
    vcn_cidr: str
    subnet_cidr: str
    ingress: pulumi.Input[Ingress]
    admin_ssh_public_keys: Sequence[str]
    # TURN/TLS reaches each node's listener through the network load balancer.
    turn_tls: bool = False


def _nth(index: int, addresses: list[str]) -> str:
    if index >= len(addresses):
        raise ValueError(
            f"the node pool has {len(addresses)} active node(s) with a public IP, fewer than clusterNodes asks for: "
            "check the pool in the OCI console (a node still launching, or failed) and run `pulumi up` again"
        )
    return addresses[index]


def _active(
    nodes: Sequence[oci.containerengine.outputs.NodePoolNode] | None,
) -> list[oci.containerengine.outputs.NodePoolNode]:
    """The active nodes with a public IP, in a stable order (by node id): a node launching or leaving has none."""
    active = [node for node in nodes or [] if node.state == "ACTIVE" and node.public_ip]
    return sorted(active, key=lambda node: str(node.id))


class OkeCluster(pulumi.ComponentResource):
    cluster_id: pulumi.Output[str]
    kubeconfig: pulumi.Output[str]
    # One per active node, in the order of their ids; the edge's records lead to them.
    node_public_ips: pulumi.Output[list[str]]
    node_ids: pulumi.Output[list[str]]
    subnet_id: pulumi.Output[str]

    def __init__(self, name: str, args: OkeClusterArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("flowspace:cluster:OkeCluster", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        compartment, prefix, node = args.compartment_id, args.project.name_prefix, args.shape.node
        network_args = NetworkArgs(
            compartment, args.project, args.vcn_cidr, args.subnet_cidr, args.ingress, True, args.turn_tls
        )
        network = Network("network", network_args, opts=child)
        oke = oci.containerengine.Cluster(
            f"{name}-cluster",
            compartment_id=compartment,
            kubernetes_version=cluster.OKE_KUBERNETES_VERSION,
            name=f"{prefix}-cluster",
            vcn_id=network.vcn_id,
            type=cluster.OKE_CLUSTER_TYPE,
            endpoint_config=oci.containerengine.ClusterEndpointConfigArgs(
                is_public_ip_enabled=True, subnet_id=network.subnet_id
            ),
            cluster_pod_network_options=[
                oci.containerengine.ClusterClusterPodNetworkOptionArgs(cni_type="FLANNEL_OVERLAY")
            ],
            options=oci.containerengine.ClusterOptionsArgs(
                kubernetes_network_config=oci.containerengine.ClusterOptionsKubernetesNetworkConfigArgs(
                    pods_cidr=cluster.OKE_PODS_CIDR, services_cidr=cluster.OKE_SERVICES_CIDR
                ),
            ),
            freeform_tags={},
            opts=pulumi.ResourceOptions(parent=self, protect=args.project.protect),
        )
        pool = oci.containerengine.NodePool(
            f"{name}-nodes",
            cluster_id=oke.id,
            compartment_id=compartment,
            kubernetes_version=cluster.OKE_KUBERNETES_VERSION,
            name=f"{prefix}-nodes",
            node_shape=node.shape,
            node_shape_config=oci.containerengine.NodePoolNodeShapeConfigArgs(
                ocpus=node.ocpus, memory_in_gbs=node.memory_gb
            ),
            node_source_details=oci.containerengine.NodePoolNodeSourceDetailsArgs(
                image_id=args.placement.image_id,
                source_type="IMAGE",
                boot_volume_size_in_gbs=str(node.boot_volume_gb),
            ),
            node_config_details=oci.containerengine.NodePoolNodeConfigDetailsArgs(
                size=args.shape.nodes,
                placement_configs=[
                    oci.containerengine.NodePoolNodeConfigDetailsPlacementConfigArgs(
                        availability_domain=args.placement.availability_domain, subnet_id=network.subnet_id
                    )
                ],
                freeform_tags=dict(args.project.tags),
            ),
            ssh_public_key="\n".join(args.admin_ssh_public_keys) or None,
            freeform_tags={},
            # A newer OKE image is taken by cycling the pool on purpose, never by an `up` that happens to run.
            opts=pulumi.ResourceOptions(
                parent=self, protect=args.project.protect, ignore_changes=["nodeSourceDetails.imageId"]
            ),
        )
        config = oci.containerengine.get_cluster_kube_config_output(
            cluster_id=oke.id, opts=pulumi.InvokeOutputOptions(parent=self)
        )

        self.cluster_id = oke.id
        self.kubeconfig = pulumi.Output.secret(config.content)
        self.node_public_ips = pool.nodes.apply(lambda nodes: [str(node.public_ip) for node in _active(nodes)])
        self.node_ids = pool.nodes.apply(lambda nodes: [str(node.id) for node in _active(nodes)])
        self.subnet_id = network.subnet_id
        self.register_outputs({"cluster_id": self.cluster_id, "node_public_ips": self.node_public_ips})

    def node_addresses(self, count: int) -> list[pulumi.Output[str]]:
        """Each node's public IP on its own, for the `count` nodes the pool is asked for."""
        return [self.node_public_ips.apply(partial(_nth, n)) for n in range(count)]

    def node_instance_ids(self, count: int) -> list[pulumi.Output[str]]:
        return [self.node_ids.apply(partial(_nth, n)) for n in range(count)]
