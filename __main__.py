"""FlowSpace realtime backend: config -> lookups -> host (OCI, existing, or an OKE cluster) -> edge ->
release -> DNS -> Vercel -> exports."""

import pulumi

from components.rollout import Rollout
from components.workloads import Workloads
from config.program import read_stack_config
from model.app_env import APP_ENV_OUTPUT, APP_VARIABLES
from wiring import origin_lock
from wiring.app import app_values, app_variables, rollout
from wiring.cluster import cluster
from wiring.edge import dns_records, origin_certificate, turn_certificate
from wiring.hosts import host
from wiring.lookups import look_up
from wiring.tags import tag_every_resource

config = read_stack_config()
# Everything the cloud must answer first, so a refusal leaves nothing half-created.
found = look_up(config)
tag_every_resource(config.project)
# A cluster's TURN/TLS has an address of its own; only a single server splits 443 by source.
ingress = origin_lock.ingress(
    config.network.ssh, config.edge.origin_lock, config.turn is not None and not config.cluster
)
certificate = origin_certificate(config)
if config.cluster is None:
    server = host(config, ingress, found.placement)
    release = rollout(config, server, ingress, certificate, turn_certificate(config))
    serving: Rollout | Workloads = release
    turn_entry = None
    addresses = [server.public_ip]
    pulumi.export("public_ip", server.public_ip)
    pulumi.export("ssh_command", pulumi.Output.concat("ssh ", server.target.user, "@", server.target.host))
    pulumi.export("release_id", release.release_id)
else:
    nodes, serving, turn_entry = cluster(config, ingress, found.placement, certificate, turn_certificate(config))
    addresses = nodes.node_addresses(config.cluster.shape.nodes)
    pulumi.export("public_ip", addresses[0])
served = dns_records(config, addresses, serving, found.dns_imports, turn_entry.public_ip if turn_entry else None)
values = app_values(config, serving)
variables = app_variables(config, values, found.vercel_imports, after=served or [serving])

for variable in APP_VARIABLES:
    if not variable.secret:
        pulumi.export(variable.output, values[variable.output])
pulumi.export(APP_ENV_OUTPUT, variables)
