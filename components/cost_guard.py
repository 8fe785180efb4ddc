"""Alerts that keep the bill at $0: a budget on the compartment and alarms on the VM's egress."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import pulumi
import pulumi_oci as oci

from model import allowance
from model.project import Project

# Share of the monthly egress allowance at which each alarm fires, and how loudly.
EGRESS_ALARMS = ((0.8, "WARNING"), (1.0, "CRITICAL"))
BUDGET_RULES = (("ACTUAL", 80.0), ("FORECAST", 100.0))


@dataclass(frozen=True)
class CostGuardArgs:
    alerts: allowance.CostAlerts
    compartment_id: str
    project: Project
    vnic_id: pulumi.Input[str]


def egress_query(vnic_id: str, fraction: float) -> str:
    """Bytes leaving the VNIC in the last hour, against that hour's share of the monthly allowance."""
    limit = allowance.egress_alarm_bytes_per_hour(fraction)
    return f'VnicToNetworkBytes[1h]{{resourceId = "{vnic_id}"}}.sum() > {limit}'


class CostGuard(pulumi.ComponentResource):
    topic_id: pulumi.Output[str]
    budget_id: pulumi.Output[str]

    def __init__(self, name: str, args: CostGuardArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("flowspace:cost:CostGuard", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        prefix = args.project.name_prefix

        topic = oci.ons.NotificationTopic(
            f"{name}-topic",
            compartment_id=args.compartment_id,
            name=f"{prefix}-cost-alerts",
            description="FlowSpace Always Free guard: egress and budget alerts",
            opts=child,
        )
        # Stays pending until the address confirms the e-mail Oracle sends it.
        oci.ons.Subscription(
            f"{name}-email",
            compartment_id=args.compartment_id,
            topic_id=topic.id,
            protocol="EMAIL",
            endpoint=args.alerts.email,
            opts=child,
        )

        budget = oci.budget.Budget(
            f"{name}-budget",
            compartment_id=args.alerts.tenancy_id,
            amount=args.alerts.budget_amount_usd,
            reset_period="MONTHLY",
            target_type="COMPARTMENT",
            targets=[args.compartment_id],
            display_name=f"{prefix}-budget",
            description="Always Free stack: any spend is unexpected",
            opts=child,
        )
        for rule_type, threshold in BUDGET_RULES:
            oci.budget.Rule(
                f"{name}-budget-{rule_type.lower()}",
                budget_id=budget.id,
                type=rule_type,
                threshold=threshold,
                threshold_type="PERCENTAGE",
                recipients=args.alerts.email,
                display_name=f"{prefix}-{rule_type.lower()}-{threshold:g}pct",
                message=f"FlowSpace {prefix}: {rule_type.lower()} spend reached {threshold:g}% of the budget",
                opts=child,
            )

        for fraction, severity in EGRESS_ALARMS:
            percent = round(fraction * 100)
            oci.monitoring.Alarm(
                f"{name}-egress-{percent}",
                compartment_id=args.compartment_id,
                metric_compartment_id=args.compartment_id,
                namespace="oci_vcn",
                query=pulumi.Output.from_input(args.vnic_id).apply(partial(egress_query, fraction=fraction)),
                severity=severity,
                destinations=[topic.id],
                is_enabled=True,
                display_name=f"{prefix}-egress-{percent}pct",
                body=(
                    f"Outbound traffic in the last hour is above {percent}% of the hourly share of the "
                    f"{allowance.OUTBOUND_DATA_BYTES_PER_MONTH // 10**12} TB/month Always Free egress."
                ),
                pending_duration="PT5M",
                opts=child,
            )

        self.topic_id = topic.id
        self.budget_id = budget.id
        self.register_outputs({"topic_id": self.topic_id, "budget_id": self.budget_id})
