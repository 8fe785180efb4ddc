"""The cluster kind's Kubernetes objects, as the API takes them (pure data; components/workloads.py
declares them). The services are the single box's; model/cluster.py says how they sit.

Secret values live in Secrets only: never in a ConfigMap, an argument or a literal of a pod's spec.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from model import cluster, layout, ports, versions
from model.app_env import METRICS_PATH
from model.cluster import WorkloadSettings
from render.caddy import CERTIFICATE_DIR, CERTIFICATE_FILE, IN_CONTAINER, KEY_FILE, Site, render_caddyfile
from render.compose import LIVEKIT_CONFIG_IN_CONTAINER
from render.livekit import (
    KEY_FILE_IN_CONTAINER,
    TURN_CERTIFICATE_IN_CONTAINER,
    TURN_KEY_IN_CONTAINER,
    LiveKitSettings,
    livekit_config,
    render_key_file,
)
from render.yaml_text import dump

Manifest = dict[str, Any]

# A LiveKit pod asked to stop drains: it takes no new rooms and ends when its rooms have (or this
# runs out). A rollout that replaces it waits that long on its node.
LIVEKIT_DRAIN_SECONDS = 3 * 60 * 60
# Readiness: how often, and how many misses take a pod out of its Service.
PROBE_PERIOD_SECONDS = 5
PROBE_FAILURES = 3
CADDY_CONFIG_IN_CONTAINER = "/etc/caddy/Caddyfile"
# The TURN certificate and key, where livekit.yaml names them: one folder, one Secret.
TURN_DIR = str(PurePosixPath(TURN_CERTIFICATE_IN_CONTAINER).parent)
REDIS_CONFIG_IN_CONTAINER = "/etc/redis/redis.conf"
EDGE_TLS = "edge-tls"
LIVEKIT_CONFIG = "livekit-config"
REDIS_CONFIG = "redis-config"
CADDYFILE = "caddyfile"
CADDYFILE_NAME = layout.CADDYFILE
# The socket server's environment from Secrets: REDIS_URL (with Redis's password) and the app's own.
SOCKET_SERVER_REDIS = "socket-server-redis"
SOCKET_SERVER_SECRETS = "socket-server-environment"
CADDY_ENVIRONMENT = "caddy-environment"
TURN_TLS = "turn-tls"
REDIS_URL_VARIABLE = "REDIS_URL"
# Every Secret `secrets()` renders, and the workload that reads it (TURN_TLS's only with TURN/TLS).
SECRET_APPS: dict[str, str] = {
    TURN_TLS: cluster.LIVEKIT,
    EDGE_TLS: cluster.CADDY,
    CADDY_ENVIRONMENT: cluster.CADDY,
    LIVEKIT_CONFIG: cluster.LIVEKIT,
    REDIS_CONFIG: cluster.REDIS,
    SOCKET_SERVER_REDIS: cluster.SOCKET_SERVER,
    SOCKET_SERVER_SECRETS: cluster.SOCKET_SERVER,
}
# What each pod is guaranteed (the scheduler places by it; under memory pressure a pod above its
# request goes first). LiveKit, the media work, has no CPU ceiling: it takes what the node has.
REQUESTS: dict[str, dict[str, Any]] = {
    cluster.LIVEKIT: {"requests": {"cpu": "500m", "memory": "512Mi"}},
    cluster.SOCKET_SERVER: {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "1Gi"}},
    cluster.CADDY: {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"memory": "512Mi"}},
    cluster.REDIS: {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"memory": "512Mi"}},
}
REDIS_UID = 999
NODE_UID = 1000
# Nothing in these containers needs a capability, a privilege gain or a writable image.
HARDENED: dict[str, Any] = {
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]},
    "readOnlyRootFilesystem": True,
}


@dataclass(frozen=True)
class WorkloadSecrets:
    """The secret values, as text: the component hands them over inside secret Outputs."""

    origin_certificate: str
    origin_key: str
    livekit_api_key: str
    livekit_api_secret: str
    redis_password: str
    metrics_token: str
    app_environment: tuple[tuple[str, str], ...] = ()
    turn_certificate: str = ""
    turn_key: str = ""


def secret_apps(settings: WorkloadSettings) -> dict[str, str]:
    """The Secrets this stack's workloads read, by name, and the workload that reads each."""
    return {name: app for name, app in SECRET_APPS.items() if name != TURN_TLS or settings.turn_hostname}


def _meta(name: str, app: str | None = None) -> dict[str, Any]:
    return {"name": name, "namespace": cluster.NAMESPACE, "labels": {"app": app or name}}


def _secret(name: str, data: Mapping[str, str], app: str) -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": _meta(name, app),
        "type": "Opaque",
        "stringData": dict(data),
    }


def _wget_probe(url: str) -> dict[str, Any]:
    return {
        "exec": {"command": ["wget", "-q", "-O", "/dev/null", url]},
        "periodSeconds": PROBE_PERIOD_SECONDS,
        "failureThreshold": PROBE_FAILURES,
    }


def _service(name: str, port: int) -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _meta(name),
        "spec": {"selector": {"app": name}, "ports": [{"port": port, "targetPort": port, "protocol": "TCP"}]},
    }


def _pods(app: str, spec: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "selector": {"matchLabels": {"app": app}},
        "template": {"metadata": {"labels": {"app": app}}, "spec": {"automountServiceAccountToken": False, **spec}},
    }


def _daemon_set(app: str, pods: Mapping[str, Any]) -> Manifest:
    """One pod per node, replaced one node at a time (a LiveKit pod drains its rooms first)."""
    return {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": _meta(app),
        "spec": {
            "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1}},
            **_pods(app, pods),
        },
    }


def namespace() -> Manifest:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": cluster.NAMESPACE}}


def redis(settings: WorkloadSettings) -> list[Manifest]:
    """One Redis, in memory only: what it holds (LiveKit's node list and room-to-node map, the
    adapter's channels) is written again by the nodes and sockets that use it."""
    port = ports.REDIS.port
    container = {
        "name": cluster.REDIS,
        "image": versions.REDIS_IMAGE,
        "imagePullPolicy": settings.image_pull_policy,
        "args": [REDIS_CONFIG_IN_CONTAINER],
        "ports": [{"containerPort": port, "name": ports.REDIS.name}],
        "readinessProbe": {"tcpSocket": {"port": port}, "periodSeconds": PROBE_PERIOD_SECONDS},
        "resources": REQUESTS[cluster.REDIS],
        "volumeMounts": [{"name": "config", "mountPath": str(PurePosixPath(REDIS_CONFIG_IN_CONTAINER).parent)}],
        "securityContext": HARDENED,
    }
    pods = {
        "securityContext": {"runAsNonRoot": True, "runAsUser": REDIS_UID, "runAsGroup": REDIS_UID},
        "containers": [container],
        "volumes": [{"name": "config", "secret": {"secretName": REDIS_CONFIG}}],
    }
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _meta(cluster.REDIS),
        # Two at once would split the routing state.
        "spec": {"replicas": 1, "strategy": {"type": "Recreate"}, **_pods(cluster.REDIS, pods)},
    }
    return [deployment, _service(cluster.REDIS, port)]


def redis_conf(password: str) -> str:
    return "\n".join(
        [f"port {ports.REDIS.port}", "bind * -::*", 'save ""', "appendonly no", f"requirepass {password}", ""]
    )


def livekit_document(settings: WorkloadSettings, redis_address: str, redis_password: str) -> dict[str, Any]:
    """livekit.yaml for every node: the single box's, with Redis for routing and each node's own address."""
    document = livekit_config(LiveKitSettings(public_ip="", turn_hostname=settings.turn_hostname))
    rtc = {key: value for key, value in document["rtc"].items() if key != "node_ip"}
    rtc["use_external_ip"] = settings.node_address == "stun"
    redis_section = {"address": f"{redis_address}:{ports.REDIS.port}", "password": redis_password}
    return {**document, "rtc": rtc, "redis": redis_section}


def livekit(settings: WorkloadSettings) -> Manifest:
    node_ip = [{"name": "NODE_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.hostIP"}}}]
    container = {
        "name": cluster.LIVEKIT,
        "image": versions.LIVEKIT_IMAGE,
        "imagePullPolicy": settings.image_pull_policy,
        "args": ["--config", LIVEKIT_CONFIG_IN_CONTAINER],
        "env": node_ip if settings.node_address == "node" else [],
        "readinessProbe": _wget_probe(f"http://127.0.0.1:{ports.LIVEKIT_SIGNALING.port}/"),
        "resources": REQUESTS[cluster.LIVEKIT],
        "volumeMounts": [
            {"name": "config", "mountPath": LIVEKIT_CONFIG_IN_CONTAINER, "subPath": layout.LIVEKIT_CONFIG},
            {"name": "config", "mountPath": KEY_FILE_IN_CONTAINER, "subPath": layout.LIVEKIT_KEY_FILE},
            *([{"name": "turn", "mountPath": TURN_DIR, "readOnly": True}] if settings.turn_hostname else []),
        ],
        "securityContext": HARDENED,
    }
    pods = {
        # Media ports are a 10,001-port UDP range on the node's own address.
        "hostNetwork": True,
        "dnsPolicy": "ClusterFirstWithHostNet",
        "terminationGracePeriodSeconds": LIVEKIT_DRAIN_SECONDS,
        "containers": [container],
        # livekit-server refuses a key file that others may read.
        "volumes": [
            {"name": "config", "secret": {"secretName": LIVEKIT_CONFIG, "defaultMode": 0o440}},
            *(
                [{"name": "turn", "secret": {"secretName": TURN_TLS, "defaultMode": 0o440}}]
                if settings.turn_hostname
                else []
            ),
        ],
    }
    return _daemon_set(cluster.LIVEKIT, pods)


def socket_server(settings: WorkloadSettings) -> list[Manifest]:
    port = ports.SOCKET_SERVER.port
    environment = {
        "NODE_ENV": "production",
        "PORT": str(port),
        "CORS_ORIGINS": " ".join(settings.allowed_origins),
        **dict(settings.environment),
        **({"LIVEKIT_URL": f"https://{settings.livekit_hostname}"} if settings.livekit_access else {}),
    }
    container = {
        "name": cluster.SOCKET_SERVER,
        "image": settings.socket_server_image,
        "imagePullPolicy": settings.image_pull_policy,
        "env": [{"name": name, "value": value} for name, value in environment.items()],
        "envFrom": [{"secretRef": {"name": SOCKET_SERVER_REDIS}}, {"secretRef": {"name": SOCKET_SERVER_SECRETS}}],
        "ports": [{"containerPort": port, "name": "http"}],
        "readinessProbe": {
            "httpGet": {"path": "/health", "port": port},
            "periodSeconds": PROBE_PERIOD_SECONDS,
            "failureThreshold": PROBE_FAILURES,
        },
        "resources": REQUESTS[cluster.SOCKET_SERVER],
        # The image is read-only; /tmp is the one place an app may write.
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
        "securityContext": {**HARDENED, "runAsNonRoot": True, "runAsUser": NODE_UID},
    }
    spread = {"maxSkew": 1, "topologyKey": "kubernetes.io/hostname", "whenUnsatisfiable": "ScheduleAnyway"}
    pods = {
        "containers": [container],
        "volumes": [{"name": "tmp", "emptyDir": {}}],
        # One node's loss takes as few of them as it can.
        "topologySpreadConstraints": [{**spread, "labelSelector": {"matchLabels": {"app": cluster.SOCKET_SERVER}}}],
    }
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _meta(cluster.SOCKET_SERVER),
        "spec": {
            "replicas": settings.socket_server_replicas,
            # A new pod takes traffic before an old one stops; the old pods' sockets end with them.
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
            **_pods(cluster.SOCKET_SERVER, pods),
        },
    }
    return [deployment, _service(cluster.SOCKET_SERVER, port)]


def caddyfile(settings: WorkloadSettings, socket_address: str, trusted_proxies: Sequence[str] = ()) -> str:
    """The single box's Caddyfile, with the socket server's Service as its upstream; client
    addresses in headers are believed from `trusted_proxies` (the edge's ranges) only."""
    sites = (
        Site(
            settings.socket_hostname,
            f"to {socket_address}:{ports.SOCKET_SERVER.port}",
            "/health",
            internal_paths=(METRICS_PATH, f"{METRICS_PATH}/*"),
        ),
        Site(settings.livekit_hostname, f"to 127.0.0.1:{ports.LIVEKIT_SIGNALING.port}", "/"),
    )
    return render_caddyfile(sites, trusted_proxies)


def caddy() -> Manifest:
    container = {
        "name": cluster.CADDY,
        "image": versions.CADDY_IMAGE,
        "imagePullPolicy": "IfNotPresent",
        "args": ["caddy", "run", "--config", CADDY_CONFIG_IN_CONTAINER, "--adapter", "caddyfile"],
        "envFrom": [{"secretRef": {"name": CADDY_ENVIRONMENT}}],
        "readinessProbe": _wget_probe(f"http://127.0.0.1:{ports.CADDY_HEALTH.port}/health"),
        "resources": REQUESTS[cluster.CADDY],
        "volumeMounts": [
            {"name": "caddyfile", "mountPath": CADDY_CONFIG_IN_CONTAINER, "subPath": layout.CADDYFILE},
            {"name": "tls", "mountPath": f"{IN_CONTAINER}/{CERTIFICATE_DIR}", "readOnly": True},
            {"name": "data", "mountPath": "/data"},
            {"name": "config", "mountPath": "/config"},
        ],
        # Ports 80 and 443.
        "securityContext": {**HARDENED, "capabilities": {"drop": ["ALL"], "add": ["NET_BIND_SERVICE"]}},
    }
    pods = {
        # 443 on every node: the edge's records lead to the nodes.
        "hostNetwork": True,
        "dnsPolicy": "ClusterFirstWithHostNet",
        "containers": [container],
        "volumes": [
            {"name": "caddyfile", "configMap": {"name": CADDYFILE}},
            {"name": "tls", "secret": {"secretName": EDGE_TLS}},
            {"name": "data", "emptyDir": {}},
            {"name": "config", "emptyDir": {}},
        ],
    }
    return _daemon_set(cluster.CADDY, pods)


def caddyfile_config_map(text: str) -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": _meta(CADDYFILE, cluster.CADDY),
        "data": {layout.CADDYFILE: text},
    }


def network_policies(node_cidrs: Sequence[str]) -> list[Manifest]:
    """Least exposure inside the cluster: no pod is reached unless named here. Caddy (on the nodes'
    network) reaches the socket server; LiveKit (on the nodes' network) and the socket server reach
    Redis; Redis reaches nothing."""
    from_nodes = [{"ipBlock": {"cidr": cidr}} for cidr in node_cidrs]
    from_sockets = [{"podSelector": {"matchLabels": {"app": cluster.SOCKET_SERVER}}}]

    def allow(app: str, sources: list[dict[str, Any]], port: int, no_egress: bool = False) -> Manifest:
        return {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": _meta(f"{app}-ingress", app),
            "spec": {
                "podSelector": {"matchLabels": {"app": app}},
                "policyTypes": ["Ingress", *(["Egress"] if no_egress else [])],
                "ingress": [{"from": sources, "ports": [{"protocol": "TCP", "port": port}]}],
                **({"egress": []} if no_egress else {}),
            },
        }

    deny_all = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": _meta("deny-all-ingress", cluster.NAMESPACE),
        "spec": {"podSelector": {}, "policyTypes": ["Ingress"]},
    }
    return [
        deny_all,
        allow(cluster.SOCKET_SERVER, from_nodes, ports.SOCKET_SERVER.port),
        allow(cluster.REDIS, [*from_nodes, *from_sockets], ports.REDIS.port, no_egress=True),
    ]


def _app_secrets(settings: WorkloadSettings, values: WorkloadSecrets) -> dict[str, str]:
    access = {"LIVEKIT_API_KEY": values.livekit_api_key, "LIVEKIT_API_SECRET": values.livekit_api_secret}
    return {**dict(values.app_environment), **(access if settings.livekit_access else {})}


def secrets(settings: WorkloadSettings, values: WorkloadSecrets, redis_address: str) -> list[Manifest]:
    livekit_yaml = dump(livekit_document(settings, redis_address, values.redis_password))
    redis_url = f"redis://:{values.redis_password}@{redis_address}:{ports.REDIS.port}"
    rendered = [
        _secret(
            EDGE_TLS,
            {
                PurePosixPath(CERTIFICATE_FILE).name: values.origin_certificate,
                PurePosixPath(KEY_FILE).name: values.origin_key,
            },
            cluster.CADDY,
        ),
        _secret(CADDY_ENVIRONMENT, {layout.METRICS_TOKEN_VARIABLE: values.metrics_token}, cluster.CADDY),
        _secret(
            LIVEKIT_CONFIG,
            {
                layout.LIVEKIT_CONFIG: livekit_yaml,
                layout.LIVEKIT_KEY_FILE: render_key_file(values.livekit_api_key, values.livekit_api_secret),
            },
            cluster.LIVEKIT,
        ),
        _secret(
            REDIS_CONFIG,
            {PurePosixPath(REDIS_CONFIG_IN_CONTAINER).name: redis_conf(values.redis_password)},
            cluster.REDIS,
        ),
        _secret(SOCKET_SERVER_REDIS, {REDIS_URL_VARIABLE: redis_url}, cluster.SOCKET_SERVER),
        _secret(SOCKET_SERVER_SECRETS, _app_secrets(settings, values), cluster.SOCKET_SERVER),
        _secret(
            TURN_TLS,
            {
                PurePosixPath(TURN_CERTIFICATE_IN_CONTAINER).name: values.turn_certificate,
                PurePosixPath(TURN_KEY_IN_CONTAINER).name: values.turn_key,
            },
            cluster.LIVEKIT,
        ),
    ]
    wanted = secret_apps(settings)
    return [manifest for manifest in rendered if manifest["metadata"]["name"] in wanted]
