"""The cluster kind's workloads under mocks: what each object holds, where secrets go, what rolls."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import yaml

from components.workloads import CONFIG_DIGEST, Workloads, WorkloadsArgs
from model import cluster, ports
from model.cluster import WorkloadSettings
from render import kubernetes as manifests
from testbed.mocks import Run, is_secret, reveal, run_components

SETTINGS = WorkloadSettings(
    socket_hostname="space-socket.flow-coder.com",
    livekit_hostname="space-livekit.flow-coder.com",
    socket_server_image="registry.example/flowspace/socket@sha256:" + "a" * 64,
    socket_server_replicas=3,
    node_address="stun",
    node_cidrs=("10.0.0.0/24",),
    environment=(("FEATURE", "on"),),
)
APP_SECRET = "app-secret-value-0123456789"


def deploy(settings: WorkloadSettings = SETTINGS, app_secret: str = APP_SECRET) -> Run:
    def body() -> None:
        provider = k8s.Provider("cluster", kubeconfig="{}")
        args = WorkloadsArgs(
            settings,
            provider,
            origin_certificate="-----BEGIN CERTIFICATE-----\norigin\n-----END CERTIFICATE-----\n",
            origin_key=pulumi.Output.secret("-----BEGIN PRIVATE KEY-----\nkey\n-----END PRIVATE KEY-----\n"),
            app_secret_environment=pulumi.Output.secret(f"APP_SECRET={app_secret}\n"),
        )
        Workloads("workloads", args)

    return run_components(body)


def kind(run: Run, typ: str, name: str) -> dict[str, Any]:
    matches = [r for r in run.of_type(f"kubernetes:{typ}") if reveal(r.inputs)["metadata"]["name"] == name]
    assert len(matches) == 1, [r.name for r in run.of_type(f"kubernetes:{typ}")]
    return matches[0].inputs


def test_every_object_is_a_child_in_the_namespace() -> None:
    run = deploy()
    component = run.one("flowspace:cluster:Workloads")
    for resource in run.resources:
        if resource.typ.startswith("kubernetes:") and resource.typ != "pulumi:providers:kubernetes":
            metadata = reveal(resource.inputs)["metadata"]
            assert resource.parent == component.urn, resource.name
            assert metadata.get("namespace", cluster.NAMESPACE) == cluster.NAMESPACE


def test_secret_values_are_in_secrets_only_and_marked_secret() -> None:
    run = deploy()
    secrets = run.of_type("kubernetes:core/v1:Secret")
    assert {reveal(s.inputs)["metadata"]["name"] for s in secrets} == set(manifests.secret_apps(SETTINGS))
    for secret in secrets:
        assert is_secret(secret.inputs["stringData"]), secret.name
    redis_password = "s" * 40
    for resource in run.resources:
        if resource.typ == "kubernetes:core/v1:Secret":
            continue
        text = json.dumps(reveal(resource.inputs))
        for value in (APP_SECRET, redis_password, "PRIVATE KEY"):
            assert value not in text, f"{value[:12]} in {resource.name}"


def test_livekit_routes_through_redis_and_runs_one_per_node_on_the_node_network() -> None:
    run = deploy()
    config = reveal(kind(run, "core/v1:Secret", manifests.LIVEKIT_CONFIG)["stringData"])
    livekit_yaml = yaml.safe_load(config["livekit.yaml"])
    redis_ip = reveal(kind(run, "core/v1:Service", cluster.REDIS))
    assert livekit_yaml["redis"]["address"].endswith(f":{ports.REDIS.port}")
    assert livekit_yaml["redis"]["password"] == "s" * 40
    assert livekit_yaml["rtc"]["use_external_ip"] is True and "node_ip" not in livekit_yaml["rtc"]
    assert redis_ip["spec"]["selector"] == {"app": cluster.REDIS}
    daemon = reveal(kind(run, "apps/v1:DaemonSet", cluster.LIVEKIT))["spec"]["template"]["spec"]
    assert daemon["hostNetwork"] is True
    assert daemon["containers"][0]["readinessProbe"]


def test_the_socket_server_rolls_without_dropping_below_its_replicas() -> None:
    run = deploy()
    spec = reveal(kind(run, "apps/v1:Deployment", cluster.SOCKET_SERVER))["spec"]
    assert spec["replicas"] == 3
    assert spec["strategy"]["rollingUpdate"] == {"maxSurge": 1, "maxUnavailable": 0}
    container = spec["template"]["spec"]["containers"][0]
    assert container["readinessProbe"]["httpGet"]["path"] == "/health"
    assert {"name": "FEATURE", "value": "on"} in container["env"]
    assert container["securityContext"]["runAsNonRoot"] is True


def test_caddy_leads_to_the_socket_service_and_the_local_livekit() -> None:
    run = deploy()
    caddyfile = reveal(kind(run, "core/v1:ConfigMap", manifests.CADDYFILE)["data"])["Caddyfile"]
    assert f"to 127.0.0.1:{ports.LIVEKIT_SIGNALING.port}" in caddyfile
    assert f":{ports.SOCKET_SERVER.port}" in caddyfile and "to 10.96.0." in caddyfile


def test_a_changed_secret_rolls_only_the_workloads_that_read_it() -> None:
    def digests(run: Run) -> dict[str, str]:
        found = {}
        for typ in ("apps/v1:Deployment", "apps/v1:DaemonSet"):
            for resource in run.of_type(f"kubernetes:{typ}"):
                inputs = reveal(resource.inputs)
                found[inputs["metadata"]["name"]] = inputs["spec"]["template"]["metadata"]["annotations"][CONFIG_DIGEST]
        return found

    before, after = digests(deploy()), digests(deploy(app_secret="another-value"))
    changed = {name for name in before if before[name] != after[name]}
    assert changed == {cluster.SOCKET_SERVER}


def test_network_policies_deny_by_default_and_open_only_the_named_paths() -> None:
    policies = {p["metadata"]["name"]: p["spec"] for p in manifests.network_policies(("10.0.0.0/24",))}
    assert policies["deny-all-ingress"] == {"podSelector": {}, "policyTypes": ["Ingress"]}
    redis = policies[f"{cluster.REDIS}-ingress"]
    assert redis["egress"] == [] and redis["ingress"][0]["ports"] == [{"protocol": "TCP", "port": ports.REDIS.port}]
    sockets = policies[f"{cluster.SOCKET_SERVER}-ingress"]
    assert sockets["ingress"][0]["from"] == [{"ipBlock": {"cidr": "10.0.0.0/24"}}]


def test_livekit_access_gives_the_socket_server_the_url_in_its_spec_and_the_keys_in_its_secret() -> None:
    run = deploy(replace(SETTINGS, livekit_access=True))
    container = reveal(kind(run, "apps/v1:Deployment", cluster.SOCKET_SERVER))["spec"]["template"]["spec"]
    env = {item["name"]: item.get("value") for item in container["containers"][0]["env"]}
    assert env["LIVEKIT_URL"] == "https://space-livekit.flow-coder.com"
    assert "LIVEKIT_API_SECRET" not in env
    secret = reveal(kind(run, "core/v1:Secret", manifests.SOCKET_SERVER_SECRETS)["stringData"])
    assert secret["LIVEKIT_API_KEY"].startswith("API") and secret["LIVEKIT_API_SECRET"] == "s" * 48


def test_caddy_believes_client_addresses_from_the_edge_only() -> None:
    text = manifests.caddyfile(SETTINGS, "10.96.0.20", ("173.245.48.0/20",))
    assert "trusted_proxies static 173.245.48.0/20" in text and "client_ip_headers CF-Connecting-IP" in text


def test_a_livekit_rollout_is_waited_for_as_long_as_its_nodes_drain() -> None:
    run = deploy(replace(SETTINGS, nodes=2))
    daemon = next(r for r in run.of_type("kubernetes:apps/v1:DaemonSet") if r.name.endswith("livekit-daemonset"))
    assert daemon.custom_timeouts["update"] == f"{manifests.LIVEKIT_DRAIN_SECONDS * 2 // 60 + 10}m"
