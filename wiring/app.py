"""The release on the host and the app's environment in Vercel."""

from __future__ import annotations

from typing import Protocol

import pulumi

from components.host import Host
from components.origin_certificate import OriginCertificate
from components.rollout import Rollout, RolloutArgs
from components.turn_certificate import TurnCertificate
from components.vercel_env import VercelEnv, VercelEnvArgs
from config import StackConfig
from model.app_env import app_environment, public_urls
from model.ports import Ingress
from model.tuning import CONTAINER_NOFILE


def rollout(
    config: StackConfig,
    host: Host,
    ingress: pulumi.Output[Ingress],
    certificate: OriginCertificate | None,
    turn: TurnCertificate | None,
) -> Rollout:
    cutover, socket_secrets = config.cutover, config.socket_secrets
    args = RolloutArgs(
        target=host.target,
        socket_hostname=config.edge.socket.name,
        livekit_hostname=config.edge.livekit.name,
        certificate=certificate,
        ingress=ingress,
        instance=config.instance,
        socket_server=config.socket_server,
        project=config.project,
        egress_meter=config.cost_alerts is not None,
        # Optional secrets are named: several have the same type, and a swap would still type-check.
        livekit_api_key=cutover.livekit_api_key,
        livekit_api_secret=cutover.livekit_api_secret,
        app_secret_environment=socket_secrets.environment,
        registry_password=socket_secrets.registry_password,
        turn=turn,
        open_files=config.existing_server.open_files if config.existing_server else CONTAINER_NOFILE,
        mirrored_secrets=config.mirrored_secrets,
    )
    return Rollout("rollout", args)


class Serving(Protocol):
    """What serves the app, on a server (Rollout) or a cluster (Workloads)."""

    livekit_api_key: pulumi.Output[str]
    livekit_api_secret: pulumi.Output[str]
    metrics_token: pulumi.Output[str]


def app_values(config: StackConfig, rollout: Serving) -> dict[str, pulumi.Input[str]]:
    """Every value the app reads, by its output name."""
    urls: dict[str, pulumi.Input[str]] = dict(public_urls(config.edge.socket.name, config.edge.livekit.name))
    return {
        **urls,
        "livekit_api_key": rollout.livekit_api_key,
        "livekit_api_secret": rollout.livekit_api_secret,
        "metrics_token": rollout.metrics_token,
    }


def app_variables(
    config: StackConfig, values: dict[str, pulumi.Input[str]], imports: dict[str, str], after: list[pulumi.Resource]
) -> pulumi.Output[dict[str, str]]:
    """The app's variables by name (a secret), written into Vercel when the stack has a project."""
    environment: pulumi.Input[dict[str, str]] = pulumi.Output.all(**values).apply(app_environment)
    variables = pulumi.Output.secret(environment)
    if config.vercel:
        vercel_args = VercelEnvArgs(config.vercel, variables, config.project, imports, config.vercel_deploy_hook)
        # The app's variables change only once the hostnames lead to the new host.
        VercelEnv("vercel-env", vercel_args, opts=pulumi.ResourceOptions(depends_on=after))
    return variables
