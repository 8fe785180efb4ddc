"""The VCN the server lives in; its security list is the ports table, nothing more."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_oci as oci

from components.ports import IANA_PROTOCOL_NUMBERS, PUBLIC_PORTS, PublicPort, sources_for


@dataclass(frozen=True)
class NetworkArgs:
    compartment_id: str
    name_prefix: str
    vcn_cidr: str
    subnet_cidr: str
    ssh_cidrs: Sequence[str]
    # ("0.0.0.0/0",) or, with the origin lock, Cloudflare's ranges (unknown during a first preview).
    web_cidrs: pulumi.Input[Sequence[str]]
    tags: Mapping[str, str]


def ingress_rules(
    ssh_cidrs: Sequence[str], web_cidrs: Sequence[str], ports: Sequence[PublicPort] = PUBLIC_PORTS
) -> list[oci.core.SecurityListIngressSecurityRuleArgs]:
    rules = []
    for port in ports:
        for source in sources_for(port, tuple(ssh_cidrs), tuple(web_cidrs)):
            rules.append(
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
            )
    return rules


class Network(pulumi.ComponentResource):
    vcn_id: pulumi.Output[str]
    subnet_id: pulumi.Output[str]
    security_list_id: pulumi.Output[str]

    def __init__(self, name: str, args: NetworkArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("flowspace:net:Network", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        compartment_id, tags = args.compartment_id, dict(args.tags)

        vcn = oci.core.Vcn(
            f"{name}-vcn",
            cidr_blocks=[args.vcn_cidr],
            display_name=f"{args.name_prefix}-vcn",
            opts=child,
            compartment_id=compartment_id,
            freeform_tags=tags,
        )
        gateway = oci.core.InternetGateway(
            f"{name}-igw",
            vcn_id=vcn.id,
            enabled=True,
            display_name=f"{args.name_prefix}-igw",
            opts=child,
            compartment_id=compartment_id,
            freeform_tags=tags,
        )
        routes = oci.core.RouteTable(
            f"{name}-routes",
            vcn_id=vcn.id,
            display_name=f"{args.name_prefix}-routes",
            route_rules=[
                oci.core.RouteTableRouteRuleArgs(
                    destination="0.0.0.0/0", destination_type="CIDR_BLOCK", network_entity_id=gateway.id
                )
            ],
            opts=child,
            compartment_id=compartment_id,
            freeform_tags=tags,
        )
        ssh_cidrs = tuple(args.ssh_cidrs)
        security_list = oci.core.SecurityList(
            f"{name}-security-list",
            vcn_id=vcn.id,
            display_name=f"{args.name_prefix}-security-list",
            egress_security_rules=[
                oci.core.SecurityListEgressSecurityRuleArgs(
                    destination="0.0.0.0/0", destination_type="CIDR_BLOCK", protocol="all"
                )
            ],
            ingress_security_rules=pulumi.Output.from_input(args.web_cidrs).apply(
                lambda web_cidrs: ingress_rules(ssh_cidrs, web_cidrs)
            ),
            opts=child,
            compartment_id=compartment_id,
            freeform_tags=tags,
        )
        subnet = oci.core.Subnet(
            f"{name}-subnet",
            vcn_id=vcn.id,
            cidr_block=args.subnet_cidr,
            display_name=f"{args.name_prefix}-public",
            route_table_id=routes.id,
            security_list_ids=[security_list.id],
            prohibit_public_ip_on_vnic=False,
            opts=child,
            compartment_id=compartment_id,
            freeform_tags=tags,
        )

        self.vcn_id = vcn.id
        self.subnet_id = subnet.id
        self.security_list_id = security_list.id
        self.register_outputs(
            {"vcn_id": self.vcn_id, "subnet_id": self.subnet_id, "security_list_id": self.security_list_id}
        )
