"""The cluster kind under mocks: an OKE Basic cluster within the allowance, its network from the
ports table, the same edge, outputs and Vercel variables, and refusals that name their key."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from config.network import SUBNET_CIDR
from model import allowance, cluster, ports
from model.app_env import APP_ENV_OUTPUT
from policy.free_tier import (
    check_a1_allowance,
    check_block_storage,
    check_cluster_object,
    check_cluster_type,
    check_shape,
)
from scripts.ops import OpsError, host_of
from testbed.mocks import NLB_IP, Run, is_secret, reveal, run_failing_program, run_program

IMAGE = "ghcr.io/flowspace/socket-server:1.4.0"
NODE_IMAGE = "ocid1.image.oc1.ap-chuncheon-1.aaaaaaaaokeokeokeokeokeokeoke"
NODE_IPS = ["198.51.100.11", "198.51.100.12"]
CLUSTER: dict[str, str | None] = {
    "flowspace:clusterNodes": "2",
    "flowspace:ocpus": "2",
    "flowspace:memoryGb": "12",
    "flowspace:socketServerImage": IMAGE,
}


def node_pool_options(_: Mapping[str, Any]) -> dict[str, Any]:
    version = cluster.OKE_KUBERNETES_VERSION.lstrip("v")
    names = {
        f"Oracle-Linux-8.10-aarch64-2026.10.01-0-OKE-{version}-900": NODE_IMAGE,
        f"Oracle-Linux-8.10-aarch64-2026.01.01-0-OKE-{version}-800": "ocid1.image.oc1..older",
        f"Oracle-Linux-8.10-2026.11.01-0-OKE-{version}-901": "ocid1.image.oc1..x86",
        "Oracle-Linux-8.10-aarch64-2026.11.01-0-OKE-1.29.1-902": "ocid1.image.oc1..other-version",
    }
    return {"sources": [{"sourceName": name, "imageId": image, "sourceType": "IMAGE"} for name, image in names.items()]}


INVOKES = {
    "oci:ContainerEngine/getNodePoolOption:getNodePoolOption": node_pool_options,
    "oci:ContainerEngine/getClusterKubeConfig:getClusterKubeConfig": {"content": "apiVersion: v1\nkind: Config\n"},
}


def deploy(overrides: Mapping[str, str | None] | None = None) -> Run:
    return run_program(overrides={**CLUSTER, **(overrides or {})}, invokes=INVOKES)


def test_an_oke_basic_cluster_with_an_a1_node_pool_of_the_asked_size() -> None:
    run = deploy()
    oke = reveal(run.one("oci:ContainerEngine/cluster:Cluster").inputs)
    assert oke["type"] == cluster.OKE_CLUSTER_TYPE == "BASIC_CLUSTER"
    pool = reveal(run.one("oci:ContainerEngine/nodePool:NodePool").inputs)
    assert pool["nodeShape"] == "VM.Standard.A1.Flex"
    assert pool["nodeShapeConfig"] == {"ocpus": 2, "memoryInGbs": 12}
    assert pool["nodeConfigDetails"]["size"] == 2
    assert pool["nodeSourceDetails"]["imageId"] == NODE_IMAGE
    # No single server, no SSH rollout.
    assert not run.of_type("oci:Core/instance:Instance")
    assert not run.of_type("flowspace:app:Rollout")


def test_the_security_list_is_the_ports_table_plus_the_cluster_s_own_rules() -> None:
    rules = reveal(run_program_rules())
    described = {(rule["description"], rule["source"]) for rule in rules}
    for port in (ports.HTTPS, ports.LIVEKIT_RTC_UDP, ports.TURN_UDP):
        assert any(name == port.name for name, _ in described), port.name
    subnet = str(SUBNET_CIDR.default)
    assert ("cluster-nodes", subnet) in described
    assert any(name == ports.KUBERNETES_API.name for name, _ in described)


def run_program_rules() -> list[dict[str, Any]]:
    security_list = deploy().one("oci:Core/securityList:SecurityList")
    return list(security_list.inputs["ingressSecurityRules"])


def test_each_proxied_hostname_leads_to_every_node() -> None:
    run = deploy()
    records = [reveal(r.inputs) for r in run.of_type("cloudflare:index/dnsRecord:DnsRecord")]
    by_name: dict[str, list[dict[str, Any]]] = {}
    for record in records:
        by_name.setdefault(record["name"], []).append(record)
    assert sorted(by_name) == ["space-livekit.flow-coder.com", "space-socket.flow-coder.com"]
    for found in by_name.values():
        assert len(found) == 2 and all(record["proxied"] for record in found)


def test_the_workloads_run_the_socket_server_image_on_the_cluster_s_provider() -> None:
    run = deploy({"flowspace:socketServerReplicas": "3"})
    provider = run.one("pulumi:providers:kubernetes")
    deployments = [reveal(d.inputs) for d in run.of_type("kubernetes:apps/v1:Deployment")]
    socket = next(d for d in deployments if d["metadata"]["name"] == cluster.SOCKET_SERVER)
    assert socket["spec"]["replicas"] == 3
    assert socket["spec"]["template"]["spec"]["containers"][0]["image"] == IMAGE
    # The OKE node's public IP is a NAT: LiveKit learns it by STUN.
    daemon = next(
        reveal(d.inputs) for d in run.of_type("kubernetes:apps/v1:DaemonSet") if d.name.endswith("livekit-daemonset")
    )
    assert daemon["spec"]["template"]["spec"]["containers"][0]["env"] == []
    assert provider.name == "cluster"


def test_the_same_outputs_and_vercel_variables_as_a_single_server() -> None:
    single, on_cluster = run_program(), deploy()
    assert set(on_cluster.outputs) == (
        set(single.outputs) - {"ssh_command", "release_id", "instance_id", "ssh_private_key", "ssh_host_public_key"}
    ) | {"cluster_id", "node_public_ips"}
    assert APP_ENV_OUTPUT in on_cluster.outputs
    assert {
        r.name for r in on_cluster.of_type("vercel:index/projectEnvironmentVariable:ProjectEnvironmentVariable")
    } == {r.name for r in single.of_type("vercel:index/projectEnvironmentVariable:ProjectEnvironmentVariable")}


@pytest.mark.parametrize(
    ("overrides", "key", "words"),
    [
        ({"flowspace:clusterNodes": "3", "flowspace:freeTierAllowance": "payg"}, "clusterNodes", "3 node(s) of 2 OCPU"),
        ({"flowspace:clusterNodes": "2", "flowspace:freeTierAllowance": "free-2026"}, "clusterNodes", "exceeds"),
        ({"flowspace:clusterNodes": "0"}, "clusterNodes", "outside 1-"),
        (
            {"flowspace:socketServerImage": None, "flowspace:socketServerReference": "true"},
            "socketServerImage",
            "registry",
        ),
        ({"flowspace:alertEmail": "ops@example.com"}, "alertEmail", "not metered"),
        ({"flowspace:socketServerReplicas": "0"}, "socketServerReplicas", "outside 1-"),
        ({"flowspace:healthGateSeconds": "30"}, "healthGateSeconds", "readiness"),
        ({"flowspace:targetHost": "203.0.113.9"}, "clusterNodes", "targetHost"),
    ],
)
def test_what_a_cluster_cannot_be_is_refused_by_its_key(overrides: dict[str, str | None], key: str, words: str) -> None:
    run, error = run_failing_program({**CLUSTER, **overrides}, invokes=INVOKES)
    assert f"flowspace:{key}" in str(error) and words in str(error), str(error)
    assert not run.resources, "nothing is declared before the config is whole"


def test_the_policy_pack_counts_a_node_pool_s_nodes_against_the_allowance() -> None:
    def pool(size: int, ocpus: float = 2, memory: float = 12) -> tuple[str, dict[str, Any]]:
        return (
            "oci:ContainerEngine/nodePool:NodePool",
            {
                "nodeShape": "VM.Standard.A1.Flex",
                "nodeShapeConfig": {"ocpus": ocpus, "memoryInGbs": memory},
                "nodeConfigDetails": {"size": size},
                "nodeSourceDetails": {"bootVolumeSizeInGbs": "50"},
            },
        )

    assert check_a1_allowance([pool(2)], "payg") == []
    refused = check_a1_allowance([pool(3)], "payg")
    assert refused and "6 OCPU / 36 GB" in refused[0] and "cluster nodes" in refused[0]
    assert check_block_storage([pool(5)])
    assert check_shape("oci:ContainerEngine/nodePool:NodePool", {"nodeShape": "VM.Standard.E4.Flex"})
    assert check_cluster_type("oci:ContainerEngine/cluster:Cluster", {"type": "ENHANCED_CLUSTER"})
    assert check_cluster_type("oci:ContainerEngine/cluster:Cluster", {"type": "BASIC_CLUSTER"}) == []
    assert check_cluster_object("kubernetes:core/v1:Service", {"spec": {"type": "LoadBalancer"}})
    assert check_cluster_object("kubernetes:core/v1:PersistentVolumeClaim", {})
    assert check_cluster_object("kubernetes:core/v1:Service", {"spec": {}}) == []


def test_the_cost_of_each_step_in_the_docs_is_the_estimator_s() -> None:
    text = (Path(__file__).resolve().parents[2] / "docs/cluster.md").read_text()
    rows = re.findall(r"^\| (?:one server|cluster) \| (\d+) x (\d+)/(\d+) \| [^|]+ \| ([0-9.]+) \|$", text, re.M)
    assert len(rows) >= 4
    payg = allowance.A1_ALLOWANCES["payg"]
    for nodes, ocpus, memory, usd in rows:
        machines = [allowance.Instance(float(ocpus), float(memory), allowance.BOOT_VOLUME_MIN_GB)] * int(nodes)
        assert allowance.estimate_monthly_cost(machines, payg).total_usd == float(usd), (nodes, ocpus, memory)


def test_rolling_a_cutover_back_leads_each_hostname_to_the_old_server_only() -> None:
    """dnsTargetIp on a cluster stack: one record per hostname, at the server it came from."""
    run = deploy({"flowspace:dnsTargetIp": "144.24.72.143"})
    records = [reveal(r.inputs) for r in run.of_type("cloudflare:index/dnsRecord:DnsRecord")]
    assert sorted((record["name"], record["content"]) for record in records) == [
        ("space-livekit.flow-coder.com", "144.24.72.143"),
        ("space-socket.flow-coder.com", "144.24.72.143"),
    ]
    # The workloads keep running: rolling back moves the edge, not the cluster.
    assert run.of_type("kubernetes:apps/v1:Deployment")


def test_the_edge_moves_only_after_the_workloads_and_vercel_after_the_edge() -> None:
    run = deploy({"flowspace:vercelProjectId": "prj_abc123", "flowspace:vercelTeamId": "team_flowcoder"})
    dns = run.one("flowspace:edge:DnsRecords")
    # Waiting on the component is waiting on each of its objects, rollouts included.
    for workload in ("socket-server-deployment", "livekit-daemonset", "caddy-daemonset", "redis-deployment"):
        assert any(urn.endswith(f"::workloads-{workload}") for urn in dns.dependencies), workload
    vercel = run.one("flowspace:app:VercelEnv")
    records = {r.urn for r in run.of_type("cloudflare:index/dnsRecord:DnsRecord")}
    assert len(records) == 4 and records <= set(vercel.dependencies)


def test_turn_over_tls_has_an_address_of_its_own_passed_through_to_every_node() -> None:
    from tests.unit.test_turn_tls import TURN

    run = deploy(TURN)
    turn_host = TURN["flowspace:turnHostname"]
    listener = reveal(run.one("oci:NetworkLoadBalancer/listener:Listener").inputs)
    assert (listener["port"], listener["protocol"]) == (ports.TURN_TLS.first, "TCP")
    backend_set = reveal(run.one("oci:NetworkLoadBalancer/backendSet:BackendSet").inputs)
    assert backend_set["isPreserveSource"] is True
    backends = [reveal(r.inputs) for r in run.of_type("oci:NetworkLoadBalancer/backend:Backend")]
    assert sorted(b["targetId"] for b in backends) == ["ocid1.instance.oc1..node0", "ocid1.instance.oc1..node1"]
    assert {b["port"] for b in backends} == {ports.TURN_TLS_LISTENER.port}
    records = {r["name"]: r for r in (reveal(x.inputs) for x in run.of_type("cloudflare:index/dnsRecord:DnsRecord"))}
    assert records[turn_host]["proxied"] is False and records[turn_host]["content"] == NLB_IP
    # The nodes' 443 stays narrowed to the edge; TURN's listener is open to everyone.
    rules = reveal(run.one("oci:Core/securityList:SecurityList").inputs["ingressSecurityRules"])
    https = {rule["source"] for rule in rules if rule["description"] == ports.HTTPS.name}
    assert "0.0.0.0/0" not in https
    assert any(rule["description"] == ports.CLUSTER_TURN_TLS.name and rule["source"] == "0.0.0.0/0" for rule in rules)
    livekit = yaml.safe_load(reveal(secret_data(run, "livekit-config"))["livekit.yaml"])
    assert livekit["turn"]["domain"] == turn_host and livekit["turn"]["tls_port"] == ports.TURN_TLS_LISTENER.port
    assert set(reveal(secret_data(run, "turn-tls"))) == {"certificate.pem", "key.pem"}


def secret_data(run: Run, name: str) -> Any:
    found = [r for r in run.of_type("kubernetes:core/v1:Secret") if reveal(r.inputs)["metadata"]["name"] == name]
    assert len(found) == 1 and is_secret(found[0].inputs["stringData"]), name
    return found[0].inputs["stringData"]


def test_ops_says_a_cluster_stack_has_no_host_to_ssh_to() -> None:
    with pytest.raises(OpsError, match="cluster stack has no host") as refused:
        host_of({"cluster_id": "ocid1.cluster.oc1..abc", "public_ip": NODE_IPS[0]}, {})
    assert "oci ce cluster create-kubeconfig --cluster-id ocid1.cluster.oc1..abc" in str(refused.value)
