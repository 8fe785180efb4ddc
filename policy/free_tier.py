"""The Always Free guard on the resource graph, independent of the program's own config checks.

Each check is a pure function over resource types and properties (as the engine sees them:
camelCase inputs); the policies wrap them. Mandatory where money is at stake, advisory otherwise.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

from model import allowance

INSTANCE = "oci:Core/instance:Instance"
VOLUME = "oci:Core/volume:Volume"
VCN = "oci:Core/vcn:Vcn"
LOAD_BALANCER = "oci:LoadBalancer/loadBalancer:LoadBalancer"
OKE_CLUSTER = "oci:ContainerEngine/cluster:Cluster"
NODE_POOL = "oci:ContainerEngine/nodePool:NodePool"
# OKE's Basic clusters have a free control plane; Enhanced ones are billed per cluster-hour.
FREE_CLUSTER_TYPE = "BASIC_CLUSTER"

# OCI resources that are free (or free within the limits checked below).
ALLOWED_OCI_TYPES = frozenset(
    {
        VCN,
        "oci:Core/internetGateway:InternetGateway",
        "oci:Core/routeTable:RouteTable",
        "oci:Core/securityList:SecurityList",
        "oci:Core/subnet:Subnet",
        INSTANCE,
        VOLUME,
        "oci:Core/publicIp:PublicIp",
        LOAD_BALANCER,
        OKE_CLUSTER,
        NODE_POOL,
        "oci:NetworkLoadBalancer/networkLoadBalancer:NetworkLoadBalancer",
        "oci:Budget/budget:Budget",
        "oci:Budget/rule:Rule",
        "oci:Ons/notificationTopic:NotificationTopic",
        "oci:Ons/subscription:Subscription",
        "oci:Monitoring/alarm:Alarm",
        # IAM is free: the meter's dynamic group and policy.
        "oci:Identity/dynamicGroup:DynamicGroup",
        "oci:Identity/policy:Policy",
    }
)
# Providers that bill nothing on Oracle's side.
ALLOWED_TYPE_PREFIXES = (
    "cloudflare:",
    "tls:",
    "random:",
    "command:",
    "vercel:",
    "flowspace:",
    "pulumi:",
    # Objects inside a cluster: what they use is the nodes', counted below.
    "kubernetes:",
)

Resource = tuple[str, Mapping[str, Any]]


def check_resource_type(resource_type: str) -> list[str]:
    if resource_type in ALLOWED_OCI_TYPES or resource_type.startswith(ALLOWED_TYPE_PREFIXES):
        return []
    return [f"{resource_type} is not on the Always Free list of this project; it may be billed"]


def check_shape(resource_type: str, props: Mapping[str, Any]) -> list[str]:
    shape = props.get("shape") if resource_type == INSTANCE else props.get("nodeShape")
    if resource_type not in (INSTANCE, NODE_POOL) or shape in allowance.FREE_SHAPES:
        return []
    return [f"shape {shape!r} is not Always Free (only {', '.join(allowance.FREE_SHAPES)})"]


def check_cluster_type(resource_type: str, props: Mapping[str, Any]) -> list[str]:
    if resource_type != OKE_CLUSTER or props.get("type") == FREE_CLUSTER_TYPE:
        return []
    return [
        f"cluster type {props.get('type')!r} is billed per cluster-hour; "
        f"OKE's free control plane is {FREE_CLUSTER_TYPE}"
    ]


def check_load_balancer(resource_type: str, props: Mapping[str, Any]) -> list[str]:
    if resource_type != LOAD_BALANCER:
        return []
    details = props.get("shapeDetails") or {}
    bandwidth = (details.get("minimumBandwidthInMbps"), details.get("maximumBandwidthInMbps"))
    if props.get("shape") == "flexible" and bandwidth == (allowance.LOAD_BALANCER_MBPS,) * 2:
        return []
    return [
        f"load balancer shape {props.get('shape')!r} at {bandwidth} Mbps is billed; "
        f"Always Free is 'flexible' at {allowance.LOAD_BALANCER_MBPS}/{allowance.LOAD_BALANCER_MBPS} Mbps"
    ]


def check_free_tier_tag(resource_type: str, props: Mapping[str, Any]) -> list[str]:
    if resource_type != INSTANCE or (props.get("freeformTags") or {}).get("always-free") == "true":
        return []
    return ["instance lacks the freeform tag always-free=true that marks it as Always Free"]


def check_cluster_object(resource_type: str, props: Mapping[str, Any]) -> list[str]:
    """Objects whose controllers create OCI resources outside this pack's sight."""
    if resource_type == "kubernetes:core/v1:Service" and (props.get("spec") or {}).get("type") == "LoadBalancer":
        return [
            "a Service of type LoadBalancer makes OKE create an OCI load balancer of its own choosing; it may be billed"
        ]
    if resource_type == "kubernetes:core/v1:PersistentVolumeClaim":
        return ["a PersistentVolumeClaim makes OKE create a block volume (50 GB at least), outside the 200 GB count"]
    return []


def _instances(resources: Iterable[Resource]) -> list[Mapping[str, Any]]:
    """Every machine the stack runs, as an instance's properties: a node pool's nodes are `size` of them."""
    machines: list[Mapping[str, Any]] = []
    for resource_type, props in resources:
        if resource_type == INSTANCE:
            machines.append(props)
        elif resource_type == NODE_POOL:
            node = {
                "shape": props.get("nodeShape"),
                "shapeConfig": props.get("nodeShapeConfig") or {},
                "sourceDetails": props.get("nodeSourceDetails") or {},
            }
            machines += [node] * int((props.get("nodeConfigDetails") or {}).get("size") or 0)
    return machines


def check_a1_allowance(
    resources: Iterable[Resource], allowance_name: str, egress_tb: float = 0.0, other_a1: str = ""
) -> list[str]:
    a1 = allowance.A1_ALLOWANCES[allowance_name]
    shapes = [p.get("shapeConfig") or {} for p in _instances(resources) if p.get("shape") == allowance.A1_SHAPE]
    instances = [allowance.Instance(float(s.get("ocpus", 1)), float(s.get("memoryInGbs", 6)), 0) for s in shapes]
    others = allowance.parse_a1_usage(other_a1) if other_a1 else None
    instances += [others] if others else []
    estimate = allowance.estimate_monthly_cost(instances, a1, egress_tb)
    if estimate.total_usd == 0:
        return []
    ocpus = sum(i.ocpus for i in instances)
    memory = sum(i.memory_gb for i in instances)
    return [
        f"A1 instances and cluster nodes total {ocpus:g} OCPU / {memory:g} GB, over the {allowance_name} allowance "
        f"({a1.ocpus:.2g} OCPU / {a1.memory_gb:.3g} GB): about ${estimate.total_usd:.2f}/month ({estimate.explain()})"
    ]


def check_micro_count(resources: Iterable[Resource]) -> list[str]:
    micros = [p for p in _instances(resources) if p.get("shape") == allowance.E2_MICRO_SHAPE]
    if len(micros) <= allowance.E2_MICRO_INSTANCES:
        return []
    return [f"{len(micros)} {allowance.E2_MICRO_SHAPE} instances; Always Free covers {allowance.E2_MICRO_INSTANCES}"]


def _boot_volume_gb(props: Mapping[str, Any]) -> float:
    size = (props.get("sourceDetails") or {}).get("bootVolumeSizeInGbs")
    return float(size) if size else allowance.BOOT_VOLUME_DEFAULT_GB


def check_block_storage(resources: Iterable[Resource]) -> list[str]:
    listed = list(resources)
    boot = sum(_boot_volume_gb(props) for props in _instances(listed))
    block = sum(float(props.get("sizeInGbs") or 50) for resource_type, props in listed if resource_type == VOLUME)
    if boot + block <= allowance.BLOCK_STORAGE_TOTAL_GB:
        return []
    return [
        f"boot ({boot:g} GB) and block ({block:g} GB) volumes total {boot + block:g} GB, over the "
        f"{allowance.BLOCK_STORAGE_TOTAL_GB} GB Always Free block storage"
    ]


ORIGIN_CERTIFICATE = "cloudflare:index/originCaCertificate:OriginCaCertificate"
RENEW_WITHIN_DAYS = 30


def check_certificate_expiry(resources: Iterable[Resource], today: datetime.date | None = None) -> list[str]:
    """A reminder in every preview once the origin certificate has a month or less left."""
    today = today or datetime.datetime.now(datetime.UTC).date()
    found = []
    for resource_type, props in resources:
        expires = str(props.get("expiresOn") or "")[:10]
        if resource_type != ORIGIN_CERTIFICATE or len(expires) != 10:
            continue
        left = (datetime.date.fromisoformat(expires) - today).days
        if left <= RENEW_WITHIN_DAYS:
            found.append(
                f"the origin certificate {'expired' if left < 0 else 'expires'} on {expires} ({left} days): renew it "
                "with pulumi config set flowspace:originCertRotation <n+1> && pulumi up"
            )
    return found


def check_vcn_count(resources: Iterable[Resource]) -> list[str]:
    vcns = [1 for resource_type, _ in resources if resource_type == VCN]
    return [] if len(vcns) <= allowance.VCN_COUNT else [f"{len(vcns)} VCNs; the tenancy allows {allowance.VCN_COUNT}"]


def _resource_policy(
    name: str, description: str, level: EnforcementLevel, check: Callable[[str, Mapping[str, Any]], list[str]]
) -> ResourceValidationPolicy:
    def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        for message in check(args.resource_type, args.props):
            report_violation(message, args.urn)

    return ResourceValidationPolicy(name=name, description=description, enforcement_level=level, validate=validate)


def _stack_policy(
    name: str,
    description: str,
    level: EnforcementLevel,
    check: Callable[[list[Resource], Mapping[str, Any]], list[str]],
    config_schema: PolicyConfigSchema | None = None,
) -> StackValidationPolicy:
    def validate(args: StackValidationArgs, report_violation: ReportViolation) -> None:
        resources = [(resource.resource_type, resource.props) for resource in args.resources]
        for message in check(resources, args.get_config()):
            report_violation(message, None)

    return StackValidationPolicy(
        name=name, description=description, enforcement_level=level, validate=validate, config_schema=config_schema
    )


MANDATORY, ADVISORY = EnforcementLevel.MANDATORY, EnforcementLevel.ADVISORY

POLICIES = [
    _resource_policy(
        "allowed-resource-types",
        "Only resource types that are Always Free (or bill nothing at Oracle).",
        MANDATORY,
        lambda resource_type, _: check_resource_type(resource_type),
    ),
    _resource_policy("free-compute-shapes", "Instances use A1 Flex or E2.1.Micro shapes only.", MANDATORY, check_shape),
    _resource_policy(
        "no-paid-load-balancer", "Load balancers are the free flexible 10 Mbps shape.", MANDATORY, check_load_balancer
    ),
    _resource_policy(
        "no-billed-cluster-objects",
        "No Kubernetes object makes OKE create a load balancer or a volume.",
        MANDATORY,
        check_cluster_object,
    ),
    _resource_policy(
        "free-cluster-type", "OKE clusters are Basic (a free control plane).", MANDATORY, check_cluster_type
    ),
    _resource_policy("instance-tagged-free-tier", "Instances carry always-free=true.", ADVISORY, check_free_tier_tag),
    _stack_policy(
        "a1-within-allowance",
        "A1 OCPUs and memory, summed over the stack, stay within the chosen Always Free allowance.",
        MANDATORY,
        lambda resources, config: check_a1_allowance(
            resources,
            config.get("allowance", allowance.DEFAULT_A1_ALLOWANCE),
            float(config.get("expectedEgressTbPerMonth", 0)),
            str(config.get("otherA1InTenancy", "")),
        ),
        PolicyConfigSchema(
            properties={
                "allowance": {"type": "string", "enum": sorted(allowance.A1_ALLOWANCES)},
                # The same meaning as the program's keys of these names (docs/configuration.md: Cost).
                "expectedEgressTbPerMonth": {"type": "number", "minimum": 0},
                "otherA1InTenancy": {"type": "string"},
            },
        ),
    ),
    _stack_policy(
        "e2-micro-count",
        "At most two E2.1.Micro instances.",
        MANDATORY,
        lambda resources, _: check_micro_count(resources),
    ),
    _stack_policy(
        "block-storage-within-total",
        "Boot and block volumes together stay within 200 GB.",
        MANDATORY,
        lambda resources, _: check_block_storage(resources),
    ),
    _stack_policy(
        "origin-certificate-renewal",
        f"The Cloudflare origin certificate has more than {RENEW_WITHIN_DAYS} days left.",
        ADVISORY,
        lambda resources, _: check_certificate_expiry(resources),
    ),
    _stack_policy(
        "vcn-count",
        "At most two VCNs in the tenancy's allowance.",
        ADVISORY,
        lambda resources, _: check_vcn_count(resources),
    ),
]
