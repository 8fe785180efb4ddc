"""Every config key, read once into frozen dataclasses and validated before any resource exists.

Problems are collected, not raised one by one: an operator sees every missing, bad or unknown key
in one run, each with the key, what is wrong and the `pulumi config set` command that fixes it.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import pulumi

from config import (
    app,
    cluster,
    compute,
    consistency,
    cost,
    cutover,
    edge,
    existing,
    mirror,
    network,
    socket_env,
    turn,
    vercel,
)
from config.cluster import ClusterConfig
from config.cutover import CutoverConfig
from config.edge import EdgeConfig
from config.existing import ExistingServerConfig
from config.keys import NAMESPACE, Key
from config.network import NetworkConfig
from config.problems import ConfigError, Problem
from config.reader import ConfigSource, Reader
from config.socket_env import SocketSecrets
from config.turn import TurnConfig
from model import allowance
from model.app import Registry, SocketServer
from model.app_env import VercelProject
from model.compute import InstanceSpec
from model.mirror import MirroredSecrets
from model.project import PRODUCTION_STACK, Project

PROTECT = Key(
    "protect",
    "boolean",
    "bool",
    "protect the instance and its reserved IP from deletion and replacement (docs/operations.md says how to lift it)",
    "false",
    default_doc=f"on for `{PRODUCTION_STACK}`",
)
SECTIONS: dict[str, tuple[Key, ...]] = {
    "Compute": (*compute.KEYS, PROTECT),
    "Network": network.KEYS,
    "Cloudflare edge": edge.KEYS,
    "TURN/TLS": turn.KEYS,
    "App and rollout": (*app.KEYS, *socket_env.KEYS),
    "Cost": cost.KEYS,
    "Vercel": vercel.KEYS,
    "Cutover": cutover.KEYS,
    "Existing server": existing.KEYS,
    "Cluster": cluster.KEYS,
    "Preview mirror": mirror.KEYS,
}
KEYS: tuple[Key, ...] = tuple(key for keys in SECTIONS.values() for key in keys)

__all__ = ["KEYS", "NAMESPACE", "SECTIONS", "ConfigError", "Problem", "StackConfig", "load_stack_config"]


@dataclass(frozen=True)
class StackConfig:
    project: Project
    compartment_id: str
    instance: InstanceSpec
    network: NetworkConfig
    edge: EdgeConfig
    socket_server: SocketServer
    cost_alerts: allowance.CostAlerts | None
    vercel: VercelProject | None
    # None: the program creates the OCI network and server.
    existing_server: ExistingServerConfig | None = None
    # Where the cost alerts are also posted (a Slack-format webhook), besides the e-mail.
    alert_chat_webhook: pulumi.Output[str] | None = None
    cutover: CutoverConfig = field(default_factory=CutoverConfig)
    socket_secrets: SocketSecrets = field(default_factory=SocketSecrets)
    # Called after a Vercel variable changed, so the app redeploys with it.
    vercel_deploy_hook: pulumi.Output[str] | None = None
    # None: TURN over UDP only. The token writes the certificate's DNS challenge.
    turn: TurnConfig | None = None
    turn_dns_token: pulumi.Output[str] | None = None
    # None: one server (new or existing) runs the services.
    cluster: ClusterConfig | None = None
    # Set in a preview of the stack's mirror only (scripts/preview-mirror).
    mirrored_secrets: MirroredSecrets | None = None


def load_stack_config(
    source: ConfigSource, stack: str, cloudflare_token: pulumi.Output[str] | None = None, dry_run: bool = False
) -> StackConfig:
    """Reads and validates every key; raises ConfigError naming every problem at once.
    `cloudflare_token`: the Cloudflare provider's own, which TURN/TLS's DNS challenge needs.
    `dry_run`: a preview (which a mirror's settings are for), not an up."""
    reader = Reader(source)
    reader.refuse_unknown(KEYS)
    existing_server = existing.read_existing_server(reader)
    on_oci = existing_server is None
    compartment_id = compute.read_compartment(reader) if on_oci else ""
    instance = compute.read_instance(reader)
    cluster_config = cluster.read_cluster(reader, instance)
    network_config = network.read_network(reader)
    # An existing server is not billed by this program: its size only sets the service limits.
    replacement_exceeds = cost.replacement_exceeds_allowance(reader, instance, cluster_config) if on_oci else False
    edge_config = edge.read_edge(reader, edge_optional=not on_oci)
    turn_config = turn.read_turn(reader, edge_config)
    socket_server = app.read_socket_server(reader, edge_config.domain or "flow-coder.com")
    environment = socket_env.read_environment(reader)
    secret_environment = socket_env.read_secret_environment(reader, {name for name, _ in environment})
    registry_user, registry_password = socket_env.read_registry(reader, socket_server.image)
    registry = (
        Registry(socket_env.registry_host(socket_server.image), registry_user)
        if registry_user and socket_server.image
        else None
    )
    livekit_access = reader.boolean(socket_env.LIVEKIT_ACCESS)
    socket_server = replace(socket_server, registry=registry, environment=environment, livekit_access=livekit_access)
    cost_alerts = cost.read_cost_alerts(reader, compartment_id) if on_oci else None
    if not on_oci and reader.raw(cost.ALERT_EMAIL) is not None:
        reader.problem(
            cost.ALERT_EMAIL,
            "needs the OCI server this program creates (its VNIC and compartment); an existing server has none",
            f"pulumi config rm {cost.ALERT_EMAIL.full_name}",
        )
    consistency.check_edge(reader, edge_config)
    consistency.check_socket_server(reader, socket_server)
    if cluster_config is not None:
        alerts = reader.raw(cost.ALERT_EMAIL) is not None
        consistency.check_cluster(reader, on_server=not on_oci, server=socket_server, alerts=alerts)
    chat_webhook = cost.read_chat_webhook(reader, cost_alerts is not None)
    vercel_config = vercel.read_vercel(reader, stack)
    deploy_hook = vercel.read_deploy_hook(reader) if vercel_config else None
    cutover_config = cutover.read_cutover(reader, edge_config.zone_id is not None, vercel_config is not None)
    if cutover_config.adopt_existing and vercel_config is not None and vercel_config.name is None:
        reader.problem(
            vercel.PROJECT_NAME,
            f"is needed by {cutover.ADOPT_EXISTING.name}: the project's existing variables are looked up by its name",
            vercel.PROJECT_NAME.set_command(),
        )
    if turn_config is not None and cloudflare_token is None:
        reader.problem(
            turn.TURN_HOSTNAME,
            "the TURN/TLS certificate's DNS challenge needs the Cloudflare token",
            f"pulumi config set --secret {turn.CLOUDFLARE_TOKEN_CONFIG} <token> "
            f"(or export {turn.CLOUDFLARE_TOKEN_VARIABLE})",
        )
    protect = reader.boolean(PROTECT, default=stack == PRODUCTION_STACK)
    mirrored_secrets = mirror.read_mirrored_secrets(reader, dry_run)
    if reader.problems:
        raise ConfigError(reader.problems)
    return StackConfig(
        project=Project(stack, protect),
        compartment_id=compartment_id,
        instance=replace(instance, delete_before_replace=replacement_exceeds),
        network=replace(network_config, ssh_port=existing_server.port) if existing_server else network_config,
        edge=edge_config,
        socket_server=socket_server,
        cost_alerts=cost_alerts,
        vercel=vercel_config,
        existing_server=existing_server,
        alert_chat_webhook=chat_webhook,
        cutover=cutover_config,
        socket_secrets=SocketSecrets(secret_environment, registry_password),
        vercel_deploy_hook=deploy_hook,
        turn=turn_config,
        turn_dns_token=cloudflare_token if turn_config else None,
        cluster=cluster_config,
        mirrored_secrets=mirrored_secrets,
    )
