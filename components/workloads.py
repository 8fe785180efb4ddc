"""The services on a Kubernetes cluster (the cluster kind): Redis, LiveKit per node, the socket
server's Deployment, Caddy per node as the entry point, their Secrets and NetworkPolicies.

The objects are render/kubernetes.py's; this declares each as its typed resource, so the provider
awaits each rollout (a Deployment is done when its new pods are ready, not when it is accepted).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from components.rollout import livekit_keys
from model import cluster
from model.app import env_pairs
from model.cluster import WorkloadSettings
from render import kubernetes as manifests
from render.kubernetes import WorkloadSecrets

_KINDS: dict[str, Callable[..., pulumi.CustomResource]] = {
    "Namespace": k8s.core.v1.Namespace,
    "Secret": k8s.core.v1.Secret,
    "ConfigMap": k8s.core.v1.ConfigMap,
    "Service": k8s.core.v1.Service,
    "Deployment": k8s.apps.v1.Deployment,
    "DaemonSet": k8s.apps.v1.DaemonSet,
    "NetworkPolicy": k8s.networking.v1.NetworkPolicy,
}
_FIELDS = {"metadata": "metadata", "spec": "spec", "data": "data", "stringData": "string_data", "type": "type"}
# The pod template annotation whose change rolls a workload when its Secrets or config changed
# (files mounted by subPath and environments from Secrets are read at a container's start only).
CONFIG_DIGEST = "flowspace/config-digest"


@dataclass(frozen=True)
class WorkloadsArgs:
    settings: WorkloadSettings
    provider: k8s.Provider
    origin_certificate: pulumi.Input[str]
    origin_key: pulumi.Input[str]
    # Given (a cutover keeps the single box's), or generated here.
    livekit_api_key: pulumi.Input[str] | None = None
    livekit_api_secret: pulumi.Input[str] | None = None
    # The app's secret NAME=value lines (socketServerSecretEnv).
    app_secret_environment: pulumi.Input[str] | None = None
    # Whose client-address headers Caddy believes (the edge's ranges); none: private ranges only.
    trusted_proxies: pulumi.Input[Sequence[str]] = ()
    # TURN/TLS's certificate chain and key (settings.turn_hostname's).
    turn_certificate: pulumi.Input[str] | None = None
    turn_key: pulumi.Input[str] | None = None


def _digest(*texts: str) -> str:
    return hashlib.sha256("\0".join(texts).encode()).hexdigest()[:16]


class Workloads(pulumi.ComponentResource):
    socket_service_ip: pulumi.Output[str]
    redis_service_ip: pulumi.Output[str]
    livekit_api_key: pulumi.Output[str]
    livekit_api_secret: pulumi.Output[str]
    metrics_token: pulumi.Output[str]

    def __init__(self, name: str, args: WorkloadsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("flowspace:cluster:Workloads", name, None, opts)
        self._name = name
        self._opts = pulumi.ResourceOptions(parent=self, provider=args.provider)
        settings = args.settings
        self._after: list[pulumi.Resource] = []
        namespace = self._declare(manifests.namespace())
        self._after = [namespace]

        # Generated values are not the cluster's: no Kubernetes provider for them.
        plain = pulumi.ResourceOptions(parent=self)
        redis_password = random.RandomPassword(f"{name}-redis-password", length=40, special=False, opts=plain)
        metrics_token = random.RandomPassword(f"{name}-metrics-token", length=48, special=False, opts=plain)
        api_key, api_secret = livekit_keys(name, args.livekit_api_key, args.livekit_api_secret, plain)

        redis_deployment, redis_service = manifests.redis(settings)
        redis_ip = self._service_ip(self._declare(redis_service))
        socket_deployment, socket_service = manifests.socket_server(settings)
        socket_ip = self._service_ip(self._declare(socket_service))

        values = pulumi.Output.all(
            origin_certificate=args.origin_certificate,
            origin_key=args.origin_key,
            livekit_api_key=api_key,
            livekit_api_secret=api_secret,
            redis_password=redis_password.result,
            metrics_token=metrics_token.result,
            app=args.app_secret_environment or "",
            redis_ip=redis_ip,
            turn_certificate=args.turn_certificate or "",
            turn_key=args.turn_key or "",
        )
        rendered = values.apply(
            lambda v: {
                manifest["metadata"]["name"]: manifest
                for manifest in manifests.secrets(
                    settings,
                    WorkloadSecrets(
                        v["origin_certificate"],
                        v["origin_key"],
                        v["livekit_api_key"],
                        v["livekit_api_secret"],
                        v["redis_password"],
                        v["metrics_token"],
                        tuple(env_pairs(v["app"])),
                        v["turn_certificate"],
                        v["turn_key"],
                    ),
                    v["redis_ip"],
                )
            }
        )
        secrets = {
            secret_name: self._declare(
                self._secret_shell(secret_name, app),
                string_data=pulumi.Output.secret(rendered[secret_name]["stringData"]),
            )
            for secret_name, app in manifests.secret_apps(settings).items()
        }
        # Not secret: each digest covers a random value of 40 characters or more, and says nothing of it.
        digests = pulumi.Output.unsecret(rendered).apply(
            lambda by_name: {
                app: _digest(
                    *(
                        repr(by_name[secret]["stringData"])
                        for secret, owner in manifests.secret_apps(settings).items()
                        if owner == app
                    )
                )
                for app in set(manifests.SECRET_APPS.values())
            }
        )
        caddyfile = manifests.caddyfile_config_map("")
        caddy_text = pulumi.Output.all(socket_ip, args.trusted_proxies).apply(
            lambda found: manifests.caddyfile(settings, found[0], found[1])
        )
        caddy_config = self._declare(caddyfile, data=caddy_text.apply(lambda text: {manifests.CADDYFILE_NAME: text}))

        self._after = [namespace, *secrets.values()]
        self._declare(redis_deployment, template_digest=digests[cluster.REDIS])
        for policy in manifests.network_policies(settings.node_cidrs):
            self._declare(policy)
        # Each node drains its rooms before the next one rolls: `up` waits for all of them.
        rolling = f"{(manifests.LIVEKIT_DRAIN_SECONDS * settings.nodes) // 60 + 10}m"
        self._declare(
            manifests.livekit(settings),
            template_digest=digests[cluster.LIVEKIT],
            custom_timeouts=pulumi.CustomTimeouts(create=rolling, update=rolling),
        )
        self._declare(socket_deployment, template_digest=digests[cluster.SOCKET_SERVER])
        self._after.append(caddy_config)
        caddy_digest = pulumi.Output.all(digests[cluster.CADDY], caddy_text).apply(lambda d: _digest(*d))
        self._declare(manifests.caddy(), template_digest=caddy_digest)

        self.socket_service_ip = socket_ip
        self.redis_service_ip = redis_ip
        self.livekit_api_key = api_key
        self.livekit_api_secret = pulumi.Output.secret(api_secret)
        self.metrics_token = pulumi.Output.secret(metrics_token.result)
        self.register_outputs(
            {
                "socket_service_ip": self.socket_service_ip,
                "redis_service_ip": self.redis_service_ip,
                "livekit_api_key": self.livekit_api_key,
            }
        )

    @staticmethod
    def _secret_shell(secret_name: str, app: str) -> dict[str, Any]:
        return {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": secret_name, "namespace": cluster.NAMESPACE, "labels": {"app": app}},
            "type": "Opaque",
        }

    @staticmethod
    def _service_ip(service: pulumi.CustomResource) -> pulumi.Output[str]:
        assert isinstance(service, k8s.core.v1.Service)
        return service.spec.apply(lambda spec: str(spec.cluster_ip))

    def _declare(
        self,
        manifest: Mapping[str, Any],
        template_digest: pulumi.Input[str] | None = None,
        custom_timeouts: pulumi.CustomTimeouts | None = None,
        **overrides: Any,
    ) -> pulumi.CustomResource:
        kind, metadata = manifest["kind"], manifest["metadata"]
        fields: dict[str, Any] = {_FIELDS[key]: value for key, value in manifest.items() if key in _FIELDS}
        if template_digest is not None:
            spec = dict(fields["spec"])
            template = dict(spec["template"])
            template["metadata"] = {**template["metadata"], "annotations": {CONFIG_DIGEST: template_digest}}
            fields["spec"] = {**spec, "template": template}
        fields.update(overrides)
        opts = pulumi.ResourceOptions.merge(
            self._opts,
            pulumi.ResourceOptions(depends_on=list(self._after), custom_timeouts=custom_timeouts),
        )
        return _KINDS[kind](f"{self._name}-{metadata['name']}-{kind.lower()}", **fields, opts=opts)
