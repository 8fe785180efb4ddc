"""FlowSpace realtime backend: config -> host (OCI or existing) -> rollout -> DNS -> Vercel -> exports."""

from dataclasses import replace

import pulumi

from components import adoption, origin_lock
from components.cost_guard import CostGuard, CostGuardArgs
from components.dns_records import DnsRecords, DnsRecordsArgs
from components.network import Network, NetworkArgs
from components.origin_certificate import OriginCertificate, OriginCertificateArgs
from components.rollout import Rollout, RolloutArgs, SshTarget
from components.secret import secret
from components.server import Server, ServerArgs, resolve_availability_domain
from components.tags import tag_every_resource
from components.turn_certificate import TurnCertificate, TurnCertificateArgs
from components.vercel_env import VercelEnv, VercelEnvArgs
from config import StackConfig, read_stack_config
from config.compute import AVAILABILITY_DOMAIN
from config.cutover import ADOPT_EXISTING
from model.app_env import APP_ENV_OUTPUT, APP_VARIABLES, app_environment, public_urls
from model.ports import TURN_TLS, Ingress


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


def origin_certificate(config: StackConfig) -> OriginCertificate | None:
    if config.edge.zone_id is None:
        return None
    names = [host.name for host in config.edge.hostnames]
    certificate = OriginCertificate("origin-certificate", OriginCertificateArgs(names, config.edge.origin_cert))
    pulumi.export("origin_certificate_expires_on", certificate.expires_on)
    return certificate


def turn_certificate(config: StackConfig) -> TurnCertificate | None:
    turn, token = config.turn, config.turn_dns_token
    if turn is None or token is None:
        return None
    certificate = TurnCertificate("turn", TurnCertificateArgs(turn.hostname, turn.acme_server, turn.acme_email, token))
    pulumi.export("turn_url", f"turns:{turn.hostname}:{TURN_TLS.first}?transport=tcp")
    pulumi.export("turn_certificate_expires_on", certificate.expires_on)
    return certificate


def dns_records(config: StackConfig, target: SshTarget, serving: Rollout) -> list[pulumi.Resource]:
    edge, cutover = config.edge, config.cutover
    if edge.zone_id is None:
        return []
    direct = [config.turn.hostname] if config.turn else []
    names = [host.name for host in edge.hostnames] + direct
    adopt = adoption.dns_records(edge.zone_id, names, ADOPT_EXISTING.name) if cutover.adopt_existing else {}
    points_to = cutover.dns_target_ip or target.public_ip
    extra = edge.strict_tls_extra_hostnames
    args = DnsRecordsArgs(edge.zone_id, edge.hostnames, points_to, edge.tls_scope, config.project, extra, adopt, direct)
    # The records move to the new host only once it serves (its release passed the health gate).
    return [DnsRecords("dns", args, opts=pulumi.ResourceOptions(depends_on=[serving]))]


config = read_stack_config()
tag_every_resource(config.project)
ingress = origin_lock.ingress(config.network.ssh, config.edge.origin_lock, config.turn is not None)
target = oci_host(config, ingress) if config.existing_server is None else existing_host(config)
certificate, turn = origin_certificate(config), turn_certificate(config)
hostnames, cutover = (config.edge.socket.name, config.edge.livekit.name), config.cutover
rollout_args = RolloutArgs(
    target, *hostnames, certificate, ingress, config.instance, config.socket_server, config.project,
    egress_meter=config.cost_alerts is not None,
    # Optional secrets are named: several have the same type, and a swap would still type-check.
    livekit_api_key=cutover.livekit_api_key, livekit_api_secret=cutover.livekit_api_secret,
    app_secret_environment=config.socket_secrets.environment, registry_password=config.socket_secrets.registry_password,
    turn=turn,
)  # fmt: skip
rollout = Rollout("rollout", rollout_args)
served = dns_records(config, target, rollout)
keys = {"livekit_api_key": rollout.livekit_api_key, "livekit_api_secret": rollout.livekit_api_secret}
keys["metrics_token"] = rollout.metrics_token
values = {**public_urls(*hostnames), **keys}
variables = secret(pulumi.Output.all(**values).apply(app_environment))
if config.vercel:
    adopt = adoption.vercel_variables(config.vercel, ADOPT_EXISTING.name) if cutover.adopt_existing else {}
    vercel_args = VercelEnvArgs(config.vercel, variables, config.project, adopt, config.vercel_deploy_hook)
    # The app's variables change only once the hostnames lead to the new host.
    VercelEnv("vercel-env", vercel_args, opts=pulumi.ResourceOptions(depends_on=served or [rollout]))

pulumi.export("public_ip", target.public_ip)
pulumi.export("ssh_command", pulumi.Output.concat("ssh ", target.user, "@", target.host))
for variable in APP_VARIABLES:
    if not variable.secret:
        pulumi.export(variable.output, values[variable.output])
pulumi.export("release_id", rollout.release_id)
pulumi.export(APP_ENV_OUTPUT, variables)
