"""Oracle Cloud Always Free allowances and what the configured stack costs beyond them.

Sources: docs.oracle.com FreeTier/freetier_topic-Always_Free_Resources.htm (free-tier page,
edited June 2026), oracle.com/cloud/compute/arm/pricing (Arm pricing page). Which A1 figure
applies to a tenancy is uncertain, so the allowance is chosen in config (`freeTierAllowance`).
"""

from __future__ import annotations

from dataclasses import dataclass

# Oracle bills A1 by the hour; a month is 730 hours on its price list.
HOURS_PER_MONTH = 730
A1_USD_PER_OCPU_HOUR = 0.01
A1_USD_PER_GB_HOUR = 0.0015

BLOCK_STORAGE_TOTAL_GB = 200
BOOT_VOLUME_MIN_GB = 50
OUTBOUND_DATA_TB_PER_MONTH = 10
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
    # The free-tier page since June 2026: 2 OCPU / 12 GB running all month.
    "free-2026": A1Allowance(1500, 9000, "Always Free resources page, June 2026"),
    # The Arm pricing page, still quoted for Pay As You Go tenancies: 4 OCPU / 24 GB.
    "payg": A1Allowance(3000, 18000, "Arm pricing page (Pay As You Go tenancies)"),
}
DEFAULT_A1_ALLOWANCE = "free-2026"


@dataclass(frozen=True)
class CostEstimate:
    ocpu_hours_over: float
    gb_hours_over: float

    @property
    def ocpu_usd(self) -> float:
        return self.ocpu_hours_over * A1_USD_PER_OCPU_HOUR

    @property
    def memory_usd(self) -> float:
        return self.gb_hours_over * A1_USD_PER_GB_HOUR

    @property
    def total_usd(self) -> float:
        return round(self.ocpu_usd + self.memory_usd, 2)

    def explain(self) -> str:
        return (
            f"{self.ocpu_hours_over:g} OCPU-hours over x ${A1_USD_PER_OCPU_HOUR} = ${self.ocpu_usd:.2f}, "
            f"{self.gb_hours_over:g} GB-hours over x ${A1_USD_PER_GB_HOUR} = ${self.memory_usd:.2f}"
        )


def estimate_a1_monthly_cost(ocpus: float, memory_gb: float, allowance: A1Allowance) -> CostEstimate:
    return CostEstimate(
        ocpu_hours_over=max(0.0, ocpus * HOURS_PER_MONTH - allowance.ocpu_hours),
        gb_hours_over=max(0.0, memory_gb * HOURS_PER_MONTH - allowance.gb_hours),
    )
