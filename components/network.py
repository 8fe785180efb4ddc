"""The VCN the server lives in; its security list is the ports table, nothing more.

Resources: VCN, internet gateway, route table (default route to the gateway), security list,
public subnet.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_oci as oci

from model.ports import ANYWHERE, CLUSTER_TURN_TLS, IANA_PROTOCOL_NUMBERS, KUBERNETES_API, Ingress, PublicPort
from model.project import Project


@dataclass(frozen=True)
class NetworkArgs:
    compartment_id: str
    project: Project
    vcn_cidr: str
    subnet_cidr: str
    # Unknown during a first preview when the origin lock waits for Cloudflare's ranges.
    ingress: pulumi.Input[Ingress]
    # A cluster's nodes and control plane in the subnet talk to each other on any port, and its
    # Kubernetes API is open to those who may open SSH.
    cluster: bool = False
    # The cluster's TURN/TLS: the network load balancer passes clients' connections (their own
    # addresses kept) to every node's listener.
    cluster_turn_tls: bool = False


def _tcp_rule(port: PublicPort, source: str) -> oci.core.SecurityListIngressSecurityRuleArgs:
    return oci.core.SecurityListIngressSecurityRuleArgs(
        protocol=IANA_PROTOCOL_NUMBERS[port.protocol],
        source=source,
        source_type="CIDR_BLOCK",
        stateless=False,
        description=port.name,
        tcp_options=oci.core.SecurityListIngressSecurityRuleTcpOptionsArgs(min=port.first, max=port.last),
    )


def cluster_rules(
    ingress: Ingress, subnet_cidr: str, turn_tls: bool = False
) -> list[oci.core.SecurityListIngressSecurityRuleArgs]:
    within = oci.core.SecurityListIngressSecurityRuleArgs(
        protocol="all", source=subnet_cidr, source_type="CIDR_BLOCK", stateless=False, description="cluster-nodes"
    )
    turn = [_tcp_rule(CLUSTER_TURN_TLS, ANYWHERE)] if turn_tls else []
    return [within, *(_tcp_rule(KUBERNETES_API, source) for source in ingress.ssh_cidrs), *turn]


def ingress_rules(ingress: Ingress) -> list[oci.core.SecurityListIngressSecurityRuleArgs]:
    return [
        oci.core.SecurityListIngressSecurityRuleArgs(
            protocol=IANA_PROTOCOL_NUMBERS[port.protocol],
            source=source,
            source_type="CIDR_BLOCK",
            stateless=False,
            description=port.name,
            tcp_options=oci.core.SecurityListIngressSecurityRuleTcpOptionsArgs(min=port.first, max=port.last)
            if port.protocol == "tcp"
            else None,
            udp_options=oci.core.SecurityListIngressSecurityRuleUdpOptionsArgs(min=port.first, max=port.last)
            if port.protocol == "udp"
            else None,
        )
        for port, source in ingress.rules()
    ] + [
        # Path MTU discovery ("fragmentation needed"): the VNIC's MTU is 9000, and clients behind
        # smaller ones stall without it (OCI's security list documentation asks for this rule).
        oci.core.SecurityListIngressSecurityRuleArgs(
            protocol=IANA_PROTOCOL_NUMBERS["icmp"],
            source=ANYWHERE,
            source_type="CIDR_BLOCK",
            stateless=False,
            description="path-mtu-discovery",
            icmp_options=oci.core.SecurityListIngressSecurityRuleIcmpOptionsArgs(type=3, code=4),
        )
    ]


class Network(pulumi.ComponentResource):
    vcn_id: pulumi.Output[str]
    subnet_id: pulumi.Output[str]
    security_list_id: pulumi.Output[str]

    def __init__(self, name: str, args: NetworkArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("flowspace:net:Network", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        compartment_id, prefix = args.compartment_id, args.project.name_prefix

        vcn = oci.core.Vcn(
            f"{name}-vcn",
            cidr_blocks=[args.vcn_cidr],
            display_name=f"{prefix}-vcn",
            opts=child,
            compartment_id=compartment_id,
        )
        gateway = oci.core.InternetGateway(
            f"{name}-igw",
            vcn_id=vcn.id,
            enabled=True,
            display_name=f"{prefix}-igw",
            opts=child,
            compartment_id=compartment_id,
        )
        routes = oci.core.RouteTable(
            f"{name}-routes",
            vcn_id=vcn.id,
            display_name=f"{prefix}-routes",
            route_rules=[
                oci.core.RouteTableRouteRuleArgs(
                    destination="0.0.0.0/0", destination_type="CIDR_BLOCK", network_entity_id=gateway.id
                )
            ],
            opts=child,
            compartment_id=compartment_id,
        )
        security_list = oci.core.SecurityList(
            f"{name}-security-list",
            vcn_id=vcn.id,
            display_name=f"{prefix}-security-list",
            egress_security_rules=[
                oci.core.SecurityListEgressSecurityRuleArgs(
                    destination="0.0.0.0/0", destination_type="CIDR_BLOCK", protocol="all"
                )
            ],
            ingress_security_rules=pulumi.Output.from_input(args.ingress).apply(
                lambda ingress: [
                    *ingress_rules(ingress),
                    *(cluster_rules(ingress, args.subnet_cidr, args.cluster_turn_tls) if args.cluster else []),
                ]
            ),
            opts=child,
            compartment_id=compartment_id,
        )
        subnet = oci.core.Subnet(
            f"{name}-subnet",
            vcn_id=vcn.id,
            cidr_block=args.subnet_cidr,
            display_name=f"{prefix}-public",
            route_table_id=routes.id,
            security_list_ids=[security_list.id],
            prohibit_public_ip_on_vnic=False,
            opts=child,
            compartment_id=compartment_id,
        )

        self.vcn_id = vcn.id
        self.subnet_id = subnet.id
        self.security_list_id = security_list.id
        self.register_outputs(
            {"vcn_id": self.vcn_id, "subnet_id": self.subnet_id, "security_list_id": self.security_list_id}
        )
