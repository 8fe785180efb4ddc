"""Settings that contradict each other, or that another setting would silently drop."""

from __future__ import annotations

from config import app, cluster, compute, cost, edge, existing, socket_env
from config.edge import EdgeConfig
from config.reader import Reader
from model.app import SocketServer


def check_edge(reader: Reader, config: EdgeConfig) -> None:
    if config.zone_id is not None:
        for key, host in ((edge.SOCKET_PROXIED, config.socket), (edge.LIVEKIT_PROXIED, config.livekit)):
            if not host.proxied:
                reader.problem(
                    key,
                    f"is false with the Cloudflare edge: browsers would reach {host.name} directly, and they do not "
                    "trust the Origin CA certificate Caddy serves it",
                    f"{key.set_command('true')} (Cloudflare proxies it; LiveKit media goes to the IP either way)",
                )
    if config.strict_tls_extra_hostnames and (config.zone_id is None or config.tls_scope != "hostnames"):
        reader.ignored(
            edge.STRICT_TLS_EXTRA_HOSTNAMES,
            "only this stack's strict-TLS rule (cloudflareTlsScope 'hostnames', with cloudflareZoneId) covers "
            "other hostnames",
            edge.TLS_SCOPE.set_command("hostnames"),
        )
    socket, livekit = config.socket, config.livekit
    if socket.name and livekit.name and socket.name != livekit.name and socket.label == livekit.label:
        reader.problem(
            edge.LIVEKIT_HOSTNAME,
            f"{livekit.name!r} begins with the same label as socketHostname {socket.name!r}; each hostname's DNS "
            "record is named after its first label, so the two would collide",
            edge.LIVEKIT_HOSTNAME.set_command(f"space-livekit.{config.domain or 'flow-coder.com'}"),
        )


def check_socket_server(reader: Reader, server: SocketServer) -> None:
    source = reader.raw(app.SOCKET_SERVER_SOURCE)
    if server.image is not None and source is not None and source != app.SOCKET_SERVER_SOURCE.default:
        reader.ignored(
            app.SOCKET_SERVER_SOURCE,
            f"socketServerImage is set, so the host pulls that image and builds nothing from {source!r}",
            f"pulumi config rm {app.SOCKET_SERVER_IMAGE.full_name}",
        )


def check_cluster(reader: Reader, *, on_server: bool, server: SocketServer, alerts: bool) -> None:
    """What a cluster stack cannot have (yet): each is refused rather than silently dropped."""
    if on_server:
        reader.problem(
            cluster.CLUSTER_NODES,
            "is set with targetHost: an existing server is one machine; a cluster's nodes are created on OCI",
            f"pulumi config rm {cluster.CLUSTER_NODES.full_name} (or rm {existing.TARGET_HOST.full_name})",
        )
    if server.image is None:
        reader.problem(
            app.SOCKET_SERVER_IMAGE,
            "is needed on a cluster: its nodes pull the socket server from a registry (a build happens on one host)",
            app.SOCKET_SERVER_IMAGE.set_command(),
        )
    if server.registry is not None:
        reader.problem(
            socket_env.REGISTRY_USER,
            "a cluster's nodes pull without a login here: use a public image or an OCIR repository the nodes may read",
            f"pulumi config rm {socket_env.REGISTRY_USER.full_name}",
        )
    for key, because in (
        (app.HEALTH_GATE_SECONDS, "a cluster's gate is its pods' readiness, which the provider waits for"),
        (compute.MAINTENANCE_WINDOW, "OKE nodes take updates when the node pool is cycled, not in a window"),
    ):
        if reader.raw(key) is not None:
            reader.problem(key, f"would be ignored on a cluster: {because}", f"pulumi config rm {key.full_name}")
    if alerts:
        reader.problem(
            cost.ALERT_EMAIL,
            "the cost guard meters one server's VNIC; a cluster's nodes are not metered yet",
            f"pulumi config rm {cost.ALERT_EMAIL.full_name}",
        )
