"""Each Always Free policy, run as the engine runs it, against passing and failing resources."""

from __future__ import annotations

import datetime
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from pulumi_policy import (
    EnforcementLevel,
    PolicyCustomTimeouts,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

from policy.free_tier import ORIGIN_CERTIFICATE, POLICIES, check_certificate_expiry
from testbed.mocks import reveal, run_program

PROD_POLICY_CONFIG = json.loads((Path(__file__).resolve().parents[2] / "policy/prod.json").read_text())
BY_NAME = {policy.name: policy for policy in POLICIES}
A1 = "oci:Core/instance:Instance"


def a1(
    ocpus: float = 4, memory: float = 24, boot: str | None = "50", tags: Mapping[str, str] | None = None
) -> tuple[str, dict[str, Any]]:
    return (
        A1,
        {
            "shape": "VM.Standard.A1.Flex",
            "shapeConfig": {"ocpus": ocpus, "memoryInGbs": memory},
            "sourceDetails": {"sourceType": "image", **({"bootVolumeSizeInGbs": boot} if boot else {})},
            "freeformTags": dict(tags if tags is not None else {"always-free": "true"}),
        },
    )


def options() -> PolicyResourceOptions:
    return PolicyResourceOptions(False, [], None, [], PolicyCustomTimeouts(0, 0, 0), [])


def violations(
    policy_name: str, resources: list[tuple[str, Mapping[str, Any]]], config: Mapping[str, Any] | None = None
) -> list[str]:
    policy = BY_NAME[policy_name]
    found: list[str] = []

    def report(message: str, urn: str | None = None) -> None:
        found.append(message)

    if isinstance(policy, ResourceValidationPolicy):
        for index, (resource_type, props) in enumerate(resources):
            urn = f"urn:pulumi:test::flowspace::{resource_type}::r{index}"
            policy.validate(
                ResourceValidationArgs(resource_type, props, urn, f"r{index}", options(), None, config), report
            )
    else:
        assert isinstance(policy, StackValidationPolicy)
        policy_resources = [
            PolicyResource(resource_type, props, f"urn:{index}", f"r{index}", options(), None, None, [], {})
            for index, (resource_type, props) in enumerate(resources)
        ]
        policy.validate(StackValidationArgs(policy_resources, config), report)
    return found


@pytest.mark.parametrize(
    ("policy", "passing", "failing", "expected"),
    [
        ("allowed-resource-types", [a1(), ("cloudflare:index/dnsRecord:DnsRecord", {})],
         [("oci:Database/autonomousDatabase:AutonomousDatabase", {})], "not on the Always Free list"),
        ("free-compute-shapes", [a1(), (A1, {"shape": "VM.Standard.E2.1.Micro"})],
         [(A1, {"shape": "VM.Standard.E4.Flex"})], "'VM.Standard.E4.Flex' is not Always Free"),
        ("no-paid-load-balancer",
         [("oci:LoadBalancer/loadBalancer:LoadBalancer",
           {"shape": "flexible", "shapeDetails": {"minimumBandwidthInMbps": 10, "maximumBandwidthInMbps": 10}})],
         [("oci:LoadBalancer/loadBalancer:LoadBalancer",
           {"shape": "flexible", "shapeDetails": {"minimumBandwidthInMbps": 10, "maximumBandwidthInMbps": 100}})],
         "is billed"),
        ("instance-tagged-free-tier", [a1()], [a1(tags={})], "always-free=true"),
        ("a1-within-allowance", [a1(2, 12)], [a1(4, 24)], "over the free-2026 allowance"),
        ("a1-within-allowance", [a1(1, 6), a1(1, 6)], [a1(2, 12), a1(1, 6)], "about $"),
        ("e2-micro-count", [(A1, {"shape": "VM.Standard.E2.1.Micro"})] * 2,
         [(A1, {"shape": "VM.Standard.E2.1.Micro"})] * 3, "Always Free covers 2"),
        ("block-storage-within-total", [a1(boot="100"), a1(boot="100")],
         [a1(boot="150"), ("oci:Core/volume:Volume", {"sizeInGbs": "60"})], "over the 200 GB"),
        ("block-storage-within-total", [a1(boot=None)] * 4, [a1(boot=None)] * 5, "total 235 GB"),
        ("vcn-count", [("oci:Core/vcn:Vcn", {})] * 2, [("oci:Core/vcn:Vcn", {})] * 3, "3 VCNs"),
    ],
)  # fmt: skip
def test_policy_passes_and_fails(policy: str, passing: list[Any], failing: list[Any], expected: str) -> None:
    assert violations(policy, passing) == [], f"{policy} rejected a free stack"
    found = violations(policy, failing)
    assert found and expected in found[0], f"{policy}: {found}"


def test_the_payg_allowance_is_chosen_by_policy_config() -> None:
    assert violations("a1-within-allowance", [a1(4, 24)], {"allowance": "payg"}) == []
    assert violations("a1-within-allowance", [a1(4, 24), a1(1, 1)], {"allowance": "payg"})


def test_expected_egress_and_other_stacks_count_against_the_allowance() -> None:
    assert violations("a1-within-allowance", [a1(4, 24)], {"allowance": "payg", "expectedEgressTbPerMonth": 10}) == []
    (egress,) = violations("a1-within-allowance", [a1(4, 24)], {"allowance": "payg", "expectedEgressTbPerMonth": 13.2})
    assert "$32.00/month" in egress, egress
    assert violations("a1-within-allowance", [a1(1, 6)], {"allowance": "payg", "otherA1InTenancy": "4/24"})


def test_a_certificate_near_its_expiry_is_a_warning_in_every_preview() -> None:
    today = datetime.date(2029, 11, 1)
    soon = [(ORIGIN_CERTIFICATE, {"expiresOn": "2029-11-23 00:00:00 +0000 UTC"})]
    (warning,) = check_certificate_expiry(soon, today)
    assert "expires on 2029-11-23 (22 days)" in warning and "originCertRotation" in warning
    assert check_certificate_expiry([(ORIGIN_CERTIFICATE, {"expiresOn": "2030-11-23"})], today) == []
    assert "expired" in check_certificate_expiry([(ORIGIN_CERTIFICATE, {"expiresOn": "2029-10-01"})], today)[0]
    assert check_certificate_expiry([(ORIGIN_CERTIFICATE, {})], today) == [], "unknown in a first preview"


def test_money_policies_are_mandatory_and_the_rest_advisory() -> None:
    advisory = {"instance-tagged-free-tier", "vcn-count", "origin-certificate-renewal"}
    for policy in POLICIES:
        expected = EnforcementLevel.ADVISORY if policy.name in advisory else EnforcementLevel.MANDATORY
        assert policy.enforcement_level == expected, policy.name


@pytest.fixture(scope="module")
def prod_graph() -> list[tuple[str, Mapping[str, Any]]]:
    run = run_program("prod")
    return [(resource.typ, reveal(resource.inputs)) for resource in run.resources]


def test_prod_stack_passes_every_policy_with_its_config(prod_graph: list[tuple[str, Mapping[str, Any]]]) -> None:
    for policy in POLICIES:
        config = PROD_POLICY_CONFIG.get(policy.name, {})
        assert violations(policy.name, prod_graph, config) == [], f"prod violates {policy.name}"


def test_prod_size_is_refused_against_the_2026_allowance(prod_graph: list[tuple[str, Mapping[str, Any]]]) -> None:
    assert violations("a1-within-allowance", prod_graph, {"allowance": "free-2026"})


def cluster_graph(nodes: int) -> list[tuple[str, Mapping[str, Any]]]:
    from tests.unit.test_cluster_stack import CLUSTER, INVOKES

    # The program's own check would refuse more nodes than the allowance holds; accepting the cost
    # lets the graph reach the policy pack, the guard that does not trust the program.
    overrides = {**CLUSTER, "flowspace:clusterNodes": str(nodes), "flowspace:acceptedMonthlyCostUsd": "1000"}
    run = run_program("prod", overrides=overrides, invokes=INVOKES)
    return [(resource.typ, reveal(resource.inputs)) for resource in run.resources]


def test_a_cluster_within_the_allowance_passes_every_policy() -> None:
    graph = cluster_graph(2)
    assert any(typ == "oci:ContainerEngine/nodePool:NodePool" for typ, _ in graph)
    for policy in POLICIES:
        assert violations(policy.name, graph, PROD_POLICY_CONFIG.get(policy.name, {})) == [], policy.name


def test_a_cluster_beyond_the_allowance_is_refused_by_the_pack() -> None:
    found = violations("a1-within-allowance", cluster_graph(3), PROD_POLICY_CONFIG.get("a1-within-allowance", {}))
    assert found and "6 OCPU / 36 GB" in found[0], found
