"""FlowSpace realtime backend: config -> host (OCI or existing) -> rollout -> DNS -> Vercel -> exports."""

import pulumi

from components import origin_lock
from components.tags import tag_every_resource
from config import read_stack_config
from model.app_env import APP_ENV_OUTPUT, APP_VARIABLES
from wiring.app import app_values, app_variables, rollout
from wiring.edge import dns_records, origin_certificate, turn_certificate
from wiring.hosts import host

config = read_stack_config()
tag_every_resource(config.project)
ingress = origin_lock.ingress(config.network.ssh, config.edge.origin_lock, config.turn is not None)
target = host(config, ingress)
release = rollout(config, target, ingress, origin_certificate(config), turn_certificate(config))
served = dns_records(config, target, release)
values = app_values(config, release)
variables = app_variables(config, values, after=served or [release])

pulumi.export("public_ip", target.public_ip)
pulumi.export("ssh_command", pulumi.Output.concat("ssh ", target.user, "@", target.host))
for variable in APP_VARIABLES:
    if not variable.secret:
        pulumi.export(variable.output, values[variable.output])
pulumi.export("release_id", release.release_id)
pulumi.export(APP_ENV_OUTPUT, variables)
