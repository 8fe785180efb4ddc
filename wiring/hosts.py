"""The host the release goes to: an OCI server this stack creates, or an existing one."""

from __future__ import annotations

import pulumi

from components.host import Host, HostArgs, NewServer
from components.rollout import SshTarget
from config import StackConfig
from model.compute import Placement
from model.ports import Ingress


def host(config: StackConfig, ingress: pulumi.Output[Ingress], placement: Placement | None) -> Host:
    existing = config.existing_server
    if existing is not None:
        target = SshTarget(
            host=existing.address,
            user=existing.user,
            private_key=existing.private_key,
            host_public_key=existing.host_key,
            machine_id=existing.identity,
            public_ip=existing.public_ip,
            port=existing.port,
        )
        return Host("host", HostArgs(config.project, ingress, existing=target))
    assert placement is not None, "an OCI server's placement is looked up first (wiring.lookups)"
    net = config.network
    new_server = NewServer(
        compartment_id=config.compartment_id,
        instance=config.instance,
        placement=placement,
        vcn_cidr=net.vcn_cidr,
        subnet_cidr=net.subnet_cidr,
        admin_ssh_public_keys=net.admin_ssh_public_keys,
        cost_alerts=config.cost_alerts,
        chat_webhook=config.alert_chat_webhook,
    )
    created = Host("host", HostArgs(config.project, ingress, new_server=new_server))
    for name, value in [
        ("instance_id", created.instance_id),
        ("ssh_private_key", created.deploy_private_key),
        ("ssh_host_public_key", created.host_public_key),
        ("alerts_topic_id", created.alerts_topic_id),
    ]:
        if value is not None:
            pulumi.export(name, value)
    return created
