"""FlowSpace realtime backend: config -> host (created on OCI, or existing) -> edge -> rollout -> app env -> exports."""

from dataclasses import replace

import pulumi

from components import origin_lock
from components.cost_guard import CostGuard, CostGuardArgs
from components.dns_records import DnsRecords, DnsRecordsArgs
from components.network import Network, NetworkArgs
from components.origin_certificate import OriginCertificate, OriginCertificateArgs
from components.rollout import Rollout, RolloutArgs, SshTarget
from components.secret import secret
from components.server import Server, ServerArgs, resolve_availability_domain
from components.tags import tag_every_resource
from components.vercel_env import VercelEnv, VercelEnvArgs
from config import StackConfig, read_stack_config
from model.app_env import APP_ENV_OUTPUT, APP_VARIABLES, app_environment, public_urls
from model.ports import Ingress


def oci_host(config: StackConfig, ingress: pulumi.Output[Ingress]) -> SshTarget:
    compartment, project, net = config.compartment_id, config.project, config.network
    domain = resolve_availability_domain(compartment, config.instance.availability_domain)
    instance, keys = replace(config.instance, availability_domain=domain), net.admin_ssh_public_keys
    network = Network("network", NetworkArgs(compartment, project, net.vcn_cidr, net.subnet_cidr, ingress))
    server = Server("server", ServerArgs(compartment, network.subnet_id, project, instance, "ubuntu", keys, ingress))
    if config.cost_alerts:
        webhook = config.alert_chat_webhook
        CostGuard("cost-guard", CostGuardArgs(config.cost_alerts, compartment, project, server.instance_id, webhook))
    pulumi.export("instance_id", server.instance_id)
    pulumi.export("ssh_private_key", server.deploy_private_key)
    pulumi.export("ssh_host_public_key", server.host_public_key)
    return server.ssh_target()


def existing_host(config: StackConfig) -> SshTarget:
    host = config.existing_server
    assert host is not None
    return SshTarget(host.address, host.user, host.private_key, host.host_key, host.address, host.public_ip, host.port)


def cloudflare_edge(config: StackConfig, target: SshTarget) -> tuple[OriginCertificate | None, list[pulumi.Resource]]:
    edge = config.edge
    if edge.zone_id is None:
        return None, []
    names = [host.name for host in edge.hostnames]
    certificate = OriginCertificate("origin-certificate", OriginCertificateArgs(names, edge.origin_cert))
    extra = edge.strict_tls_extra_hostnames
    dns = DnsRecords(
        "dns", DnsRecordsArgs(edge.zone_id, edge.hostnames, target.public_ip, edge.tls_scope, config.project, extra)
    )
    pulumi.export("origin_certificate_expires_on", certificate.expires_on)
    return certificate, [certificate, dns]


config = read_stack_config()
tag_every_resource(config.project)
ingress = origin_lock.ingress(config.network.ssh_allowed_cidrs, config.edge.origin_lock)
target = oci_host(config, ingress) if config.existing_server is None else existing_host(config)
certificate, edge_resources = cloudflare_edge(config, target)
hostnames = (config.edge.socket.name, config.edge.livekit.name)
meter = config.cost_alerts is not None
rollout_args = RolloutArgs(
    target, *hostnames, certificate, ingress, config.instance, config.socket_server, config.project, meter
)
rollout = Rollout("rollout", rollout_args, opts=pulumi.ResourceOptions(depends_on=edge_resources))
keys = {"livekit_api_key": rollout.livekit_api_key, "livekit_api_secret": rollout.livekit_api_secret}
values = {**public_urls(*hostnames), **keys}
variables = secret(pulumi.Output.all(**values).apply(app_environment))
if config.vercel:
    VercelEnv("vercel-env", VercelEnvArgs(config.vercel, variables, config.project))

pulumi.export("public_ip", target.public_ip)
pulumi.export("ssh_command", pulumi.Output.concat("ssh ", target.user, "@", target.host))
for variable in APP_VARIABLES:
    if not variable.secret:
        pulumi.export(variable.output, values[variable.output])
pulumi.export("release_id", rollout.release_id)
pulumi.export(APP_ENV_OUTPUT, variables)
