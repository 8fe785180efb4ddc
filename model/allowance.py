"""Oracle Cloud Always Free allowances, and what a stack costs beyond them.

Sources:
- Always Free resources page (docs.oracle.com, FreeTier/freetier_topic-Always_Free_Resources.htm),
  edited June 2026: A1 1,500 OCPU-hours and 9,000 GB-hours a month; 200 GB block storage in all
  (boot and block volumes), boot volumes from 50 GB; 10 TB outbound data a month; 2 VCNs; one
  flexible load balancer at 10 Mbps; 2 VM.Standard.E2.1.Micro instances.
- Arm pricing page (oracle.com/cloud/compute/arm/pricing): A1 3,000 OCPU-hours and 18,000 GB-hours
  for Pay As You Go tenancies; beyond the allowance $0.01 per OCPU-hour and $0.0015 per GB-hour.
- Block Volume price list: $0.0255 per GB-month storage plus 10 VPUs/GB at $0.0017 per VPU-GB-month
  for the default "balanced" performance.
Which A1 allowance applies to a tenancy is uncertain, so it is chosen in config (`freeTierAllowance`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

# Oracle's price list counts a month as 730 hours.
HOURS_PER_MONTH = 730
A1_SHAPE = "VM.Standard.A1.Flex"
E2_MICRO_SHAPE = "VM.Standard.E2.1.Micro"
FREE_SHAPES = (A1_SHAPE, E2_MICRO_SHAPE)
E2_MICRO_INSTANCES = 2

A1_USD_PER_OCPU_HOUR = 0.01
A1_USD_PER_GB_HOUR = 0.0015
BLOCK_USD_PER_GB_MONTH = 0.0255 + 10 * 0.0017

BLOCK_STORAGE_TOTAL_GB = 200
BOOT_VOLUME_MIN_GB = 50
# What OCI gives a boot volume when no size is asked for.
BOOT_VOLUME_DEFAULT_GB = 47
OUTBOUND_DATA_BYTES_PER_MONTH = 10 * 10**12
OUTBOUND_DATA_FREE_GB = OUTBOUND_DATA_BYTES_PER_MONTH / 10**9
# Outbound data beyond the free 10 TB, per GB. Oracle's list price differs by region (check yours);
# this is the figure behind the seeds' estimate (13.2 TB for two spaces: about $32/month).
EGRESS_USD_PER_GB = 0.01
VCN_COUNT = 2
LOAD_BALANCER_MBPS = 10


@dataclass(frozen=True)
class A1Allowance:
    ocpu_hours: int
    gb_hours: int
    source: str

    @property
    def ocpus(self) -> float:
        return self.ocpu_hours / HOURS_PER_MONTH

    @property
    def memory_gb(self) -> float:
        return self.gb_hours / HOURS_PER_MONTH


A1_ALLOWANCES: dict[str, A1Allowance] = {
    "free-2026": A1Allowance(1500, 9000, "Always Free resources page, June 2026 (2 OCPU / 12 GB)"),
    "payg": A1Allowance(3000, 18000, "Arm pricing page, Pay As You Go tenancies (4 OCPU / 24 GB)"),
}
DEFAULT_A1_ALLOWANCE = "free-2026"


@dataclass(frozen=True)
class Instance:
    ocpus: float
    memory_gb: float
    boot_volume_gb: float


@dataclass(frozen=True)
class CostEstimate:
    ocpu_hours_over: float
    gb_hours_over: float
    block_gb_over: float
    egress_gb_over: float = 0.0

    @property
    def ocpu_usd(self) -> float:
        return self.ocpu_hours_over * A1_USD_PER_OCPU_HOUR

    @property
    def memory_usd(self) -> float:
        return self.gb_hours_over * A1_USD_PER_GB_HOUR

    @property
    def block_usd(self) -> float:
        return self.block_gb_over * BLOCK_USD_PER_GB_MONTH

    @property
    def egress_usd(self) -> float:
        return self.egress_gb_over * EGRESS_USD_PER_GB

    @property
    def total_usd(self) -> float:
        return round(self.ocpu_usd + self.memory_usd + self.block_usd + self.egress_usd, 2)

    def explain(self) -> str:
        parts = []
        if self.ocpu_hours_over:
            parts.append(f"{self.ocpu_hours_over:g} OCPU-hours over x ${A1_USD_PER_OCPU_HOUR} = ${self.ocpu_usd:.2f}")
        if self.gb_hours_over:
            parts.append(f"{self.gb_hours_over:g} GB-hours over x ${A1_USD_PER_GB_HOUR} = ${self.memory_usd:.2f}")
        if self.block_gb_over:
            price = f"${BLOCK_USD_PER_GB_MONTH:.4f}"
            parts.append(f"{self.block_gb_over:g} GB of block storage over x {price} = ${self.block_usd:.2f}")
        if self.egress_gb_over:
            parts.append(
                f"{self.egress_gb_over:g} GB outbound over 10 TB x ${EGRESS_USD_PER_GB} = ${self.egress_usd:.2f}"
            )
        return "; ".join(parts) or "within the allowance"


def estimate_monthly_cost(
    instances: Sequence[Instance], allowance: A1Allowance, egress_tb: float = 0.0
) -> CostEstimate:
    """What A1 instances running all month, their boot volumes and the month's outbound data cost
    beyond the allowance."""
    ocpu_hours = sum(instance.ocpus for instance in instances) * HOURS_PER_MONTH
    gb_hours = sum(instance.memory_gb for instance in instances) * HOURS_PER_MONTH
    block_gb = sum(instance.boot_volume_gb for instance in instances)
    return CostEstimate(
        ocpu_hours_over=max(0.0, ocpu_hours - allowance.ocpu_hours),
        gb_hours_over=max(0.0, gb_hours - allowance.gb_hours),
        block_gb_over=max(0.0, block_gb - BLOCK_STORAGE_TOTAL_GB),
        egress_gb_over=max(0.0, round(egress_tb * 1000 - OUTBOUND_DATA_FREE_GB, 3)),
    )


# The month-to-date outbound counter the host publishes (render/egress.py) and the alarms watch.
EGRESS_METRIC_NAMESPACE = "flowspace_egress"
EGRESS_METRIC_NAME = "BytesSentThisMonth"
# The meter publishes every 5 minutes, so that each window of the alarms holds readings; three
# silent hours raise the absence alarm (a stopped meter, VM or CLI).
EGRESS_METER_INTERVAL_MINUTES = 5
EGRESS_ALARM_WINDOW_MINUTES = 60
EGRESS_SILENCE_HOURS = 3
# With each reading the meter also says whether each service answers as users reach it (1 or 0).
HEALTH_METRIC_NAME = "ServiceHealthy"
HEALTH_ALARM_WINDOW_MINUTES = 15
HEALTH_SILENCE_MINUTES = 30
# Each run of the `watch` workflow (every 30 minutes) posts one reading, dimension `stack`; three
# hours without one raise the stack's `watch-silent` alarm: the watch itself stopped (GitHub disables
# a public repository's schedules after 60 days without activity; an expired key; a broken workflow).
WATCH_METRIC_NAMESPACE = "flowspace_watch"
WATCH_METRIC_NAME = "EdgeWatchRan"
WATCH_ALARM_WINDOW_MINUTES = 60
WATCH_SILENCE_HOURS = 3


def egress_alarm_bytes(fraction: float) -> int:
    """A share of the month's free outbound data: the alarms compare the month-to-date count with it."""
    return int(OUTBOUND_DATA_BYTES_PER_MONTH * fraction)


@dataclass(frozen=True)
class CostAlerts:
    email: str
    budget_amount_usd: int
    # Budgets live in the root compartment.
    tenancy_id: str
    # The `watch` workflow checks this stack: an alarm when its heartbeat stops.
    edge_watch: bool = False


_A1_USAGE = re.compile(r"(?P<ocpus>[0-9]+(\.[0-9]+)?)/(?P<memory>[0-9]+(\.[0-9]+)?)(/(?P<boot>[0-9]+))?")


def parse_a1_usage(text: str) -> Instance | None:
    """`OCPU/GB[/boot GB]`, e.g. `4/24/50`, as one instance; None when malformed."""
    match = _A1_USAGE.fullmatch(text.strip())
    if match is None:
        return None
    boot = float(match["boot"]) if match["boot"] else BOOT_VOLUME_MIN_GB
    return Instance(float(match["ocpus"]), float(match["memory"]), boot)


def policy_location(compartment_id: str, tenancy_id: str) -> str:
    """Where a policy statement applies, in OCI's grammar: the root compartment is `tenancy`."""
    if compartment_id == tenancy_id or compartment_id.startswith("ocid1.tenancy."):
        return "tenancy"
    return f"compartment id {compartment_id}"
