"""FlowSpace realtime backend: config -> lookups -> host (OCI or existing) -> edge -> rollout -> DNS
-> Vercel -> exports."""

import pulumi

from config import read_stack_config
from model.app_env import APP_ENV_OUTPUT, APP_VARIABLES
from wiring import origin_lock
from wiring.app import app_values, app_variables, rollout
from wiring.edge import dns_records, origin_certificate, turn_certificate
from wiring.hosts import host
from wiring.lookups import look_up
from wiring.tags import tag_every_resource

config = read_stack_config()
# Everything the cloud must answer first, so a refusal leaves nothing half-created.
found = look_up(config)
tag_every_resource(config.project)
ingress = origin_lock.ingress(config.network.ssh, config.edge.origin_lock, config.turn is not None)
server = host(config, ingress, found.placement)
release = rollout(config, server, ingress, origin_certificate(config), turn_certificate(config))
served = dns_records(config, server, release, found.dns_imports)
values = app_values(config, release)
variables = app_variables(config, values, found.vercel_imports, after=served or [release])

pulumi.export("public_ip", server.public_ip)
pulumi.export("ssh_command", pulumi.Output.concat("ssh ", server.target.user, "@", server.target.host))
for variable in APP_VARIABLES:
    if not variable.secret:
        pulumi.export(variable.output, values[variable.output])
pulumi.export("release_id", release.release_id)
pulumi.export(APP_ENV_OUTPUT, variables)
