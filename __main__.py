"""FlowSpace realtime backend: config -> network -> server -> edge -> rollout -> outputs."""

import pulumi
import pulumi_cloudflare as cloudflare

from components.config import NAMESPACE, ConfigError, load_stack_config
from components.dns_records import DnsRecords, DnsRecordsArgs, Hostname
from components.network import Network, NetworkArgs
from components.origin_certificate import OriginCertificate, OriginCertificateArgs
from components.server import Server, ServerArgs

try:
    config = load_stack_config(pulumi.Config(NAMESPACE), pulumi.get_stack())
except ConfigError as error:
    raise pulumi.RunError(str(error)) from None
edge = config.edge

web_cidrs = cloudflare.get_ip_ranges_output().ipv4_cidrs if edge.origin_lock else ["0.0.0.0/0"]

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

certificate = OriginCertificate(
    "origin-certificate",
    OriginCertificateArgs(
        hostnames=edge.hostnames,
        request_type=edge.origin_cert_type,
        validity_days=edge.origin_cert_validity_days,
        rotation=edge.origin_cert_rotation,
    ),
)

DnsRecords(
    "dns",
    DnsRecordsArgs(
        zone_id=edge.zone_id,
        hostnames=[Hostname(edge.socket_hostname, edge.socket_proxied), Hostname(edge.livekit_hostname, edge.livekit_proxied)],
        public_ip=server.public_ip,
        tls_scope=edge.tls_scope,
        comment=f"managed by pulumi ({config.name_prefix})",
    ),
)

pulumi.export("public_ip", server.public_ip)
pulumi.export("instance_id", server.instance_id)
pulumi.export("ssh_command", pulumi.Output.concat("ssh ", config.deploy_user, "@", server.public_ip))
pulumi.export("ssh_private_key", server.deploy_private_key)
pulumi.export("ssh_host_public_key", server.host_public_key)
pulumi.export("socket_url", f"https://{edge.socket_hostname}")
pulumi.export("livekit_url", f"wss://{edge.livekit_hostname}")
pulumi.export("livekit_http_url", f"https://{edge.livekit_hostname}")
