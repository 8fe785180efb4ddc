"""Cost: which Always Free allowance applies, what the stack may cost, and who is alerted."""

from __future__ import annotations

import re

import pulumi

from config import checks
from config.cluster import CLUSTER_NODES, ClusterConfig
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
    "turns on the cost guard: budget, egress and server-silence alarms mail this address",
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
EXPECTED_EGRESS_TB = Key(
    "expectedEgressTbPerMonth",
    "number",
    "number",
    "outbound traffic you expect a month, in TB (seed 001: about 6.6 TB per space of 50 people); beyond 10 TB it is "
    "billed, and the estimate counts it",
    "6.6",
    default=0,
)
OTHER_A1_IN_TENANCY = Key(
    "otherA1InTenancy",
    "string",
    "`OCPU/GB[/boot GB]`",
    "A1 that other stacks already run in this tenancy (e.g. prod's `4/24/50` for a dev stack beside it): the "
    "allowance is per tenancy, so the estimate counts it too",
    "4/24/50",
    default_doc="none",
)
ALERT_CHAT_WEBHOOK = Key(
    "alertChatWebhook",
    "string",
    "URL",
    "also post the alerts to a chat: a Slack-format webhook (Discord: the webhook URL with `/slack` appended)",
    "https://discord.com/api/webhooks/<id>/<token>/slack",
    default_doc="none",
    secret=True,
)
EDGE_WATCH_ALARM = Key(
    "edgeWatchAlarm",
    "boolean",
    "bool",
    "the `watch` workflow checks this stack: a `watch-silent` alarm when its runs stop (a disabled schedule)",
    "true",
    default=False,
)

KEYS = (
    FREE_TIER_ALLOWANCE,
    ACCEPTED_MONTHLY_COST_USD,
    EXPECTED_EGRESS_TB,
    OTHER_A1_IN_TENANCY,
    ALERT_EMAIL,
    ALERT_CHAT_WEBHOOK,
    EDGE_WATCH_ALARM,
    BUDGET_AMOUNT_USD,
    TENANCY_ID,
)
# A cluster has no cost guard yet (docs/cluster.md): what its operator does instead.
NO_CLUSTER_ALERTS = "A cluster has no cost guard yet: set an OCI budget alert on the tenancy (docs/cluster.md)"
# Ten times the free allowance: anything above is a typo, not a plan.
MAX_EGRESS_TB = 100
# OCI's budgets go far higher, but a stack that means to stay free has no use for more.
MAX_BUDGET_USD = 100_000
EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


def replacement_exceeds_allowance(reader: Reader, instance: InstanceSpec, cluster: ClusterConfig | None = None) -> bool:
    """Checks the stack (its server, or its cluster's nodes) against the allowance, refusing a cost
    above the accepted one, and says whether the old and the new instance together, during a
    replacement, would not fit it."""
    chosen = reader.choice(FREE_TIER_ALLOWANCE, tuple(allowance.A1_ALLOWANCES))
    a1 = allowance.A1_ALLOWANCES[chosen]
    accepted = reader.number(ACCEPTED_MONTHLY_COST_USD)
    if accepted < 0:
        reader.problem(ACCEPTED_MONTHLY_COST_USD, f"{accepted:g} is negative")
    egress_tb = reader.number(EXPECTED_EGRESS_TB)
    if not 0 <= egress_tb <= MAX_EGRESS_TB:
        reader.problem(EXPECTED_EGRESS_TB, f"{egress_tb:g} TB is outside 0-{MAX_EGRESS_TB} TB a month")
        egress_tb = 0.0
    this = allowance.Instance(instance.ocpus, instance.memory_gb, instance.boot_volume_gb)
    ours = cluster.shape.instances() if cluster else [this]
    others = _other_a1(reader)
    estimate = allowance.estimate_monthly_cost([*ours, *others], a1, egress_tb)
    if estimate.total_usd > accepted:
        beside = f" beside {others[0].ocpus:g} OCPU / {others[0].memory_gb:g} GB of other stacks" if others else ""
        size = f"{instance.ocpus} OCPU / {instance.memory_gb} GB"
        smaller = f"{OCPUS.set_command(str(int(a1.ocpus)))} && {MEMORY_GB.set_command(str(int(a1.memory_gb)))}"
        if cluster:
            size = f"{cluster.shape.describe()} ({CLUSTER_NODES.name})"
            free_ocpus = a1.ocpus - sum(other.ocpus for other in others)
            free_memory = a1.memory_gb - sum(other.memory_gb for other in others)
            fitting = max(1, int(min(free_ocpus // instance.ocpus, free_memory // instance.memory_gb)))
            smaller = f"{CLUSTER_NODES.set_command(str(fitting))} (or smaller nodes)"
        reader.problem(
            CLUSTER_NODES if cluster else OCPUS,
            f"{size}{beside}"
            f"{f' with {egress_tb:g} TB outbound a month' if egress_tb else ''} exceeds the {chosen} Always Free "
            f"allowance ({a1.ocpus:.2g} OCPU / {a1.memory_gb:.3g} GB running all month, 10 TB outbound) and would "
            f"cost about ${estimate.total_usd:.2f}/month ({estimate.explain()}); accepted: ${accepted:.2f}",
            f"{smaller}, or accept the cost: {ACCEPTED_MONTHLY_COST_USD.set_command(f'{estimate.total_usd:.2f}')}",
        )
    # While a replacement is created, the old instance still runs (a node pool replaces one node at a time).
    return allowance.estimate_monthly_cost([*ours, this, *others], a1).total_usd > 0


def _other_a1(reader: Reader) -> list[allowance.Instance]:
    text = reader.raw(OTHER_A1_IN_TENANCY)
    if text is None:
        return []
    usage = allowance.parse_a1_usage(text)
    if usage is None:
        reader.problem(OTHER_A1_IN_TENANCY, f"{text!r} is not OCPU/GB or OCPU/GB/boot GB (e.g. 4/24/50)")
        return []
    return [usage]


def read_cost_alerts(reader: Reader, compartment_id: str) -> allowance.CostAlerts | None:
    email = reader.raw(ALERT_EMAIL)
    amount = reader.integer(BUDGET_AMOUNT_USD)
    tenancy_id = reader.raw(TENANCY_ID)
    edge_watch = reader.boolean(EDGE_WATCH_ALARM)
    if email is None:
        for key, value in (
            (TENANCY_ID, tenancy_id),
            (BUDGET_AMOUNT_USD, None if amount == BUDGET_AMOUNT_USD.default else amount),
            (EDGE_WATCH_ALARM, edge_watch or None),
        ):
            if value is not None:
                reader.ignored(key, "the cost alerts are off without alertEmail", ALERT_EMAIL.set_command())
        return None
    if not EMAIL.fullmatch(email):
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
    return allowance.CostAlerts(email, amount, tenancy_id, edge_watch)


def read_chat_webhook(reader: Reader, alerts_on: bool) -> pulumi.Output[str] | None:
    webhook = reader.secret(ALERT_CHAT_WEBHOOK)
    # Read as text only to check it (never echoed): the URL is its own credential, so never plain http.
    text = reader.raw(ALERT_CHAT_WEBHOOK)
    if text is not None and not re.fullmatch(r"https://[^\s/]+/\S*", text):
        reader.problem(ALERT_CHAT_WEBHOOK, "is not an https URL; the webhook URL is its own credential")
    if webhook is not None and not alerts_on:
        reader.ignored(ALERT_CHAT_WEBHOOK, "the cost alerts are off without alertEmail", ALERT_EMAIL.set_command())
    return webhook if alerts_on else None
