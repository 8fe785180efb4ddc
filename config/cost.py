"""Cost: which Always Free allowance applies, what the stack may cost, and who is alerted."""

from __future__ import annotations

import re
from dataclasses import dataclass

from config import checks
from config.compute import MEMORY_GB, OCPUS
from config.keys import Key
from config.reader import Reader
from model import allowance
from model.compute import InstanceSpec

FREE_TIER_ALLOWANCE = Key(
    "freeTierAllowance",
    "string",
    "`free-2026` \\| `payg`",
    "which A1 Always Free allowance applies: 2 OCPU / 12 GB (free-tier page since June 2026) or 4 OCPU / 24 GB "
    "(Arm pricing page, Pay As You Go). Which applies to a tenancy is uncertain: check your bill",
    "payg",
    default=allowance.DEFAULT_A1_ALLOWANCE,
)
ACCEPTED_MONTHLY_COST_USD = Key(
    "acceptedMonthlyCostUsd",
    "number",
    "number",
    "the program refuses a stack whose A1 estimate is above this",
    "0",
    default=0,
)
ALERT_EMAIL = Key(
    "alertEmail",
    "string",
    "e-mail",
    "turns on the cost guard: budget and egress alarms mail this address",
    "ops@example.com",
    default_doc="none",
)
BUDGET_AMOUNT_USD = Key(
    "budgetAmountUsd", "integer", "int", "the monthly OCI budget the alerts measure against", "1", default=1
)
TENANCY_ID = Key(
    "tenancyId",
    "string",
    "OCID",
    "the root compartment, where budgets live; required with `alertEmail` when `compartmentId` is a sub-compartment",
    "ocid1.tenancy.oc1..<id>",
    default_doc="`compartmentId` when it is the tenancy",
)
KEYS = (FREE_TIER_ALLOWANCE, ACCEPTED_MONTHLY_COST_USD, ALERT_EMAIL, BUDGET_AMOUNT_USD, TENANCY_ID)
# OCI's budgets go far higher, but a stack that means to stay free has no use for more.
MAX_BUDGET_USD = 100_000
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


@dataclass(frozen=True)
class FreeTierConfig:
    allowance: allowance.A1Allowance
    accepted_monthly_cost_usd: float
    replacement_exceeds_allowance: bool = False


def read_free_tier(reader: Reader, instance: InstanceSpec) -> FreeTierConfig:
    chosen = reader.choice(FREE_TIER_ALLOWANCE, tuple(allowance.A1_ALLOWANCES))
    a1 = allowance.A1_ALLOWANCES[chosen]
    accepted = reader.number(ACCEPTED_MONTHLY_COST_USD)
    if accepted < 0:
        reader.problem(ACCEPTED_MONTHLY_COST_USD, f"{accepted:g} is negative")
    estimate = allowance.estimate_monthly_cost(
        [allowance.Instance(instance.ocpus, instance.memory_gb, instance.boot_volume_gb)], a1
    )
    if estimate.total_usd > accepted:
        reader.problem(
            OCPUS,
            f"{instance.ocpus} OCPU / {instance.memory_gb} GB exceeds the {chosen} Always Free allowance "
            f"({a1.ocpus:.2g} OCPU / {a1.memory_gb:.3g} GB running all month) and would cost about "
            f"${estimate.total_usd:.2f}/month ({estimate.explain()}); accepted: ${accepted:.2f}",
            f"{OCPUS.set_command(str(int(a1.ocpus)))} && {MEMORY_GB.set_command(str(int(a1.memory_gb)))}, "
            f"or accept the cost: {ACCEPTED_MONTHLY_COST_USD.set_command(f'{estimate.total_usd:.2f}')}",
        )
    return FreeTierConfig(a1, accepted, _two_would_cost(instance, a1))


def _two_would_cost(instance: InstanceSpec, a1: allowance.A1Allowance) -> bool:
    """While a replacement is created, the old instance still runs."""
    one = allowance.Instance(instance.ocpus, instance.memory_gb, instance.boot_volume_gb)
    return allowance.estimate_monthly_cost([one, one], a1).total_usd > 0


def read_cost_alerts(reader: Reader, compartment_id: str) -> allowance.CostAlerts | None:
    email = reader.raw(ALERT_EMAIL)
    amount = reader.integer(BUDGET_AMOUNT_USD)
    tenancy_id = reader.raw(TENANCY_ID)
    if email is None:
        for key, value in (
            (TENANCY_ID, tenancy_id),
            (BUDGET_AMOUNT_USD, None if amount == BUDGET_AMOUNT_USD.default else amount),
        ):
            if value is not None:
                reader.problem(
                    key,
                    "would be ignored: the cost alerts are off without alertEmail",
                    f"{ALERT_EMAIL.set_command()}, or pulumi config rm {key.full_name}",
                )
        return None
    if not _EMAIL.fullmatch(email):
        reader.problem(ALERT_EMAIL, f"{email!r} is not an e-mail address")
    if not 1 <= amount <= MAX_BUDGET_USD:
        reader.problem(BUDGET_AMOUNT_USD, f"{amount} is outside $1 (OCI's smallest budget) to ${MAX_BUDGET_USD}")
    if tenancy_id is None:
        if compartment_id.startswith("ocid1.tenancy."):
            tenancy_id = compartment_id
        else:
            reader.problem(
                TENANCY_ID,
                "is not set; budgets are created in the root compartment, and compartmentId is not the tenancy",
            )
            tenancy_id = ""
    else:
        checks.ocid(reader, TENANCY_ID, tenancy_id, ("tenancy",))
    return allowance.CostAlerts(email, amount, tenancy_id)
