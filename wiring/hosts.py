"""The host the release goes to: an OCI server this stack creates, or an existing one."""

from __future__ import annotations

from dataclasses import replace

import pulumi

from components.cost_guard import CostGuard, CostGuardArgs
from components.network import Network, NetworkArgs
from components.rollout import SshTarget
from components.server import Server, ServerArgs, resolve_availability_domain
from config import StackConfig
from config.compute import AVAILABILITY_DOMAIN
from model.ports import Ingress


def host(config: StackConfig, ingress: pulumi.Output[Ingress]) -> SshTarget:
    return oci_host(config, ingress) if config.existing_server is None else existing_host(config)


def oci_host(config: StackConfig, ingress: pulumi.Output[Ingress]) -> SshTarget:
    compartment, project, net = config.compartment_id, config.project, config.network
    wanted, fix = config.instance.availability_domain, AVAILABILITY_DOMAIN.set_command("0")
    domain = resolve_availability_domain(compartment, wanted, AVAILABILITY_DOMAIN.name, fix)
    instance, keys = replace(config.instance, availability_domain=domain), net.admin_ssh_public_keys
    network = Network("network", NetworkArgs(compartment, project, net.vcn_cidr, net.subnet_cidr, ingress))
    server = Server("server", ServerArgs(compartment, network.subnet_id, project, instance, "ubuntu", keys, ingress))
    if config.cost_alerts:
        alerts = CostGuardArgs(config.cost_alerts, compartment, project, server.instance_id, config.alert_chat_webhook)
        pulumi.export("alerts_topic_id", CostGuard("cost-guard", alerts).topic_id)
    pulumi.export("instance_id", server.instance_id)
    pulumi.export("ssh_private_key", server.deploy_private_key)
    pulumi.export("ssh_host_public_key", server.host_public_key)
    return server.ssh_target()


def existing_host(config: StackConfig) -> SshTarget:
    host = config.existing_server
    assert host is not None
    return SshTarget(host.address, host.user, host.private_key, host.host_key, host.identity, host.public_ip, host.port)
