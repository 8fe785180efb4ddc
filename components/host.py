"""The machine a release goes to: an OCI server this stack creates (its network, the server and
its cost guard), or an existing server reached over SSH. Either way, what the rollout needs.

The network, server and cost guard were declared at the stack's root before there was a Host:
each keeps that identity through an alias, so no stack replaces its server for this shape.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi

from components.cost_guard import CostGuard, CostGuardArgs
from components.network import Network, NetworkArgs
from components.rollout import SshTarget
from components.server import Server, ServerArgs
from model.allowance import CostAlerts
from model.compute import InstanceSpec, Placement
from model.ports import Ingress
from model.project import Project

# The user cloud-init creates on the new server.
DEPLOY_USER = "ubuntu"


@dataclass(frozen=True)
class NewServer:
    compartment_id: str
    instance: InstanceSpec
    placement: Placement
    vcn_cidr: str
    subnet_cidr: str
    admin_ssh_public_keys: Sequence[str]
    # None: no budget, alarms or alert topic.
    cost_alerts: CostAlerts | None = None
    # A Slack-format webhook the alerts are also posted to.
    chat_webhook: pulumi.Input[str] | None = None


@dataclass(frozen=True)
class HostArgs:
    project: Project
    # Who may reach the public ports; the new server's security list and firewall.
    ingress: pulumi.Input[Ingress]
    # Exactly one: the server to create, or the existing one.
    new_server: NewServer | None = None
    existing: SshTarget | None = None


class Host(pulumi.ComponentResource):
    target: SshTarget
    public_ip: pulumi.Output[str]
    # The created server's; None for an existing one.
    instance_id: pulumi.Output[str] | None = None
    deploy_private_key: pulumi.Output[str] | None = None
    host_public_key: pulumi.Output[str] | None = None
    alerts_topic_id: pulumi.Output[str] | None = None

    def __init__(self, name: str, args: HostArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("flowspace:host:Host", name, None, opts)
        if args.existing is not None and args.new_server is None:
            self.target = args.existing
        elif args.new_server is not None and args.existing is None:
            self._create(args.new_server, args)
        else:
            raise ValueError("a host is either a new server or an existing one")
        self.public_ip = pulumi.Output.from_input(self.target.public_ip)
        self.register_outputs({"public_ip": self.public_ip, "instance_id": self.instance_id})

    def _create(self, new: NewServer, args: HostArgs) -> None:
        # Declared at the root before the Host existed.
        moved = pulumi.ResourceOptions(parent=self, aliases=[pulumi.Alias(parent=pulumi.ROOT_STACK_RESOURCE)])
        compartment = new.compartment_id
        network_args = NetworkArgs(compartment, args.project, new.vcn_cidr, new.subnet_cidr, args.ingress)
        network = Network("network", network_args, opts=moved)
        server_args = ServerArgs(
            compartment_id=compartment,
            subnet_id=network.subnet_id,
            project=args.project,
            instance=new.instance,
            placement=new.placement,
            deploy_user=DEPLOY_USER,
            admin_ssh_public_keys=new.admin_ssh_public_keys,
            ingress=args.ingress,
        )
        server = Server("server", server_args, opts=moved)
        if new.cost_alerts is not None:
            guard_args = CostGuardArgs(new.cost_alerts, compartment, args.project, server.instance_id, new.chat_webhook)
            self.alerts_topic_id = CostGuard("cost-guard", guard_args, opts=moved).topic_id
        self.target = server.ssh_target()
        self.instance_id = server.instance_id
        self.deploy_private_key = server.deploy_private_key
        self.host_public_key = server.host_public_key
