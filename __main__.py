"""FlowSpace realtime backend: config -> server (created on OCI, or existing) -> edge -> rollout -> outputs."""

import pulumi
import pulumi_cloudflare as cloudflare

from components.config import NAMESPACE, ConfigError, load_stack_config
from components.cost_guard import CostGuard, CostGuardArgs
from components.dns_records import DnsRecords, DnsRecordsArgs, Hostname
from components.network import Network, NetworkArgs
from components.origin_certificate import OriginCertificate, OriginCertificateArgs
from components.rollout import Rollout, RolloutArgs, SshTarget
from components.secret import secret
from components.server import Server, ServerArgs
from components.vercel_env import VercelEnv, VercelEnvArgs, vercel_variables
from render.release import read_socket_server_source

try:
    config = load_stack_config(pulumi.Config(NAMESPACE), pulumi.get_stack())
except ConfigError as error:
    raise pulumi.RunError(str(error)) from None
edge = config.edge
web_cidrs = cloudflare.get_ip_ranges_output().ipv4_cidrs if edge.origin_lock else ["0.0.0.0/0"]

if config.existing_server is None:
    network = Network(
        "network",
        NetworkArgs(
            compartment_id=config.compartment_id,
            name_prefix=config.name_prefix,
            vcn_cidr=config.network.vcn_cidr,
            subnet_cidr=config.network.subnet_cidr,
            ssh_cidrs=config.network.ssh_allowed_cidrs,
            web_cidrs=web_cidrs,
            tags=config.tags,
        ),
    )
    server = Server(
        "server",
        ServerArgs(
            compartment_id=config.compartment_id,
            subnet_id=network.subnet_id,
            name_prefix=config.name_prefix,
            instance=config.instance,
            deploy_user=config.deploy_user,
            admin_ssh_public_keys=config.admin_ssh_public_keys,
            ssh_cidrs=config.network.ssh_allowed_cidrs,
            web_cidrs=web_cidrs,
            tags=config.tags,
        ),
    )
    if config.cost_alerts is not None:
        CostGuard(
            "cost-guard",
            CostGuardArgs(
                tenancy_id=config.cost_alerts.tenancy_id,
                compartment_id=config.compartment_id,
                name_prefix=config.name_prefix,
                alert_email=config.cost_alerts.email,
                budget_amount_usd=config.cost_alerts.budget_amount_usd,
                vnic_id=server.vnic_id,
                tags=config.tags,
            ),
        )
    target = SshTarget(
        host=server.public_ip,
        user=config.deploy_user,
        private_key=server.deploy_private_key,
        host_public_key=server.host_public_key,
        server_id=server.instance_id,
        public_ip=server.public_ip,
    )
    pulumi.export("instance_id", server.instance_id)
    pulumi.export("ssh_private_key", server.deploy_private_key)
    pulumi.export("ssh_host_public_key", server.host_public_key)
else:
    existing = config.existing_server
    target = SshTarget(
        host=existing.address,
        user=existing.user,
        private_key=existing.private_key,
        host_public_key=existing.host_key,
        server_id=existing.address,
        public_ip=existing.public_ip,
    )

certificate = None
edge_resources: list[pulumi.Resource] = []
if edge.zone_id is not None:
    certificate = OriginCertificate(
        "origin-certificate",
        OriginCertificateArgs(
            hostnames=edge.hostnames,
            request_type=edge.origin_cert_type,
            validity_days=edge.origin_cert_validity_days,
            rotation=edge.origin_cert_rotation,
        ),
    )
    dns = DnsRecords(
        "dns",
        DnsRecordsArgs(
            zone_id=edge.zone_id,
            hostnames=[
                Hostname(edge.socket_hostname, edge.socket_proxied),
                Hostname(edge.livekit_hostname, edge.livekit_proxied),
            ],
            public_ip=target.public_ip,
            tls_scope=edge.tls_scope,
            comment=f"managed by pulumi ({config.name_prefix})",
            name_prefix=config.name_prefix,
            strict_tls_extra_hostnames=edge.strict_tls_extra_hostnames,
        ),
    )
    edge_resources = [certificate, dns]

rollout = Rollout(
    "rollout",
    RolloutArgs(
        target=target,
        socket_hostname=edge.socket_hostname,
        livekit_hostname=edge.livekit_hostname,
        certificate_pem=certificate.certificate_pem if certificate else None,
        certificate_key_pem=certificate.private_key_pem if certificate else None,
        ssh_cidrs=config.network.ssh_allowed_cidrs,
        web_cidrs=web_cidrs,
        ocpus=config.instance.ocpus,
        memory_gb=config.instance.memory_gb,
        socket_server_image=config.socket_server.image,
        socket_server_source=read_socket_server_source(config.socket_server.source_dir),
    ),
    opts=pulumi.ResourceOptions(depends_on=edge_resources),
)

socket_url = f"https://{edge.socket_hostname}"
livekit_url = f"wss://{edge.livekit_hostname}"
livekit_http_url = f"https://{edge.livekit_hostname}"
vercel_env = pulumi.Output.all(rollout.livekit_api_key, rollout.livekit_api_secret).apply(
    lambda keys: vercel_variables(socket_url, livekit_url, livekit_http_url, keys[0], keys[1])
)
if config.vercel is not None:
    VercelEnv(
        "vercel-env",
        VercelEnvArgs(
            project_id=config.vercel.project_id,
            team_id=config.vercel.team_id,
            targets=config.vercel.targets,
            variables=vercel_env,
            comment=f"managed by pulumi ({config.name_prefix})",
        ),
    )

pulumi.export("public_ip", target.public_ip)
pulumi.export("ssh_command", pulumi.Output.concat("ssh ", target.user, "@", target.host))
pulumi.export("socket_url", socket_url)
pulumi.export("livekit_url", livekit_url)
pulumi.export("livekit_http_url", livekit_http_url)
pulumi.export("release_id", rollout.release_id)
pulumi.export("livekit_api_key", rollout.livekit_api_key)
pulumi.export("vercel_env", secret(vercel_env))
