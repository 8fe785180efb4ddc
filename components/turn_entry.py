"""TURN over TLS for a cluster: the Always Free network load balancer's own public IP, its port 443
passed through (TCP, client addresses kept) to LiveKit's TURN/TLS listener on every node.

The single box splits 443 by source on its firewall; a cluster has no firewall of ours, so TURN
gets an address of its own: its DNS-only record leads here, the proxied ones to the nodes.

Resources: the network load balancer, its backend set (TCP health check on the listener), one
backend per node, the listener.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_oci as oci

from model.ports import TURN_TLS, TURN_TLS_LISTENER
from model.project import Project

BACKEND_SET = "turn-tls"


@dataclass(frozen=True)
class TurnEntryArgs:
    compartment_id: str
    project: Project
    subnet_id: pulumi.Input[str]
    # The nodes' instance OCIDs, one backend each.
    node_ids: list[pulumi.Output[str]]


class TurnEntry(pulumi.ComponentResource):
    public_ip: pulumi.Output[str]

    def __init__(self, name: str, args: TurnEntryArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("flowspace:cluster:TurnEntry", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        balancer = oci.networkloadbalancer.NetworkLoadBalancer(
            f"{name}-nlb",
            compartment_id=args.compartment_id,
            display_name=f"{args.project.name_prefix}-turn",
            subnet_id=args.subnet_id,
            is_private=False,
            freeform_tags={},
            opts=child,
        )
        backend_set = oci.networkloadbalancer.BackendSet(
            f"{name}-backends",
            network_load_balancer_id=balancer.id,
            name=BACKEND_SET,
            policy="FIVE_TUPLE",
            # LiveKit's TURN sees the client's own address, as it does on the single box.
            is_preserve_source=True,
            health_checker=oci.networkloadbalancer.BackendSetHealthCheckerArgs(
                protocol="TCP", port=TURN_TLS_LISTENER.port
            ),
            opts=child,
        )
        for number, node_id in enumerate(args.node_ids, start=1):
            oci.networkloadbalancer.Backend(
                f"{name}-node-{number}",
                network_load_balancer_id=balancer.id,
                backend_set_name=backend_set.name,
                target_id=node_id,
                port=TURN_TLS_LISTENER.port,
                opts=child,
            )
        oci.networkloadbalancer.Listener(
            f"{name}-listener",
            network_load_balancer_id=balancer.id,
            name=TURN_TLS.name,
            default_backend_set_name=backend_set.name,
            port=TURN_TLS.first,
            protocol="TCP",
            opts=child,
        )
        self.public_ip = balancer.ip_addresses.apply(
            lambda addresses: next(str(found.ip_address) for found in addresses or [] if found.is_public)
        )
        self.register_outputs({"public_ip": self.public_ip})
