"""Alerts that keep the bill at $0 and say when the server goes quiet: a budget on the compartment,
alarms on the month's egress, and an alarm when the instance stops reporting.

Resources: an ONS topic with an e-mail subscription (and optionally a chat webhook), a budget with
actual/forecast rules, a dynamic group and policy that let the VM publish its month-to-date
outbound count (render/egress.py), alarms at 80% and 100% of the free 10 TB on that count and on
the count's silence, alarms on the services' health that the same meter publishes (a check
reading 0, or none for half an hour), and an absence alarm on the instance's own CPU metric
(stopped, crashed or reclaimed).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import pulumi
import pulumi_oci as oci

from model import allowance, layout
from model.project import Project

# Share of the monthly egress allowance at which each alarm fires, and how loudly.
EGRESS_ALARMS = ((0.8, "WARNING"), (1.0, "CRITICAL"))
BUDGET_RULES = (("ACTUAL", 80.0), ("FORECAST", 100.0))
# The Compute agent's metrics (its monitoring plugin, which the server keeps on).
AGENT_NAMESPACE = "oci_computeagent"
# How long an absent metric keeps the alarm firing: a day of a stopped VM is a day of alarm.
INSTANCE_ABSENCE_PERIOD = "24h"


@dataclass(frozen=True)
class CostGuardArgs:
    alerts: allowance.CostAlerts
    compartment_id: str
    project: Project
    instance_id: pulumi.Input[str]
    # A Slack-format webhook (Discord: the webhook URL with /slack appended); None: e-mail only.
    chat_webhook: pulumi.Input[str] | None = None


def egress_query(instance_id: str, fraction: float) -> str:
    """The month's outbound bytes so far, as the VM counts them, against a share of the 10 TB."""
    limit = allowance.egress_alarm_bytes(fraction)
    window = f"{allowance.EGRESS_ALARM_WINDOW_MINUTES}m"
    return f'{allowance.EGRESS_METRIC_NAME}[{window}]{{resourceId = "{instance_id}"}}.max() > {limit}'


def silence_query(metric: str, window_minutes: int, period: str, instance_id: str) -> str:
    """True once the host has published nothing of `metric` for `period` (OCI's absence alarm)."""
    return f'{metric}[{window_minutes}m]{{resourceId = "{instance_id}"}}.groupBy(resourceId).absent({period})'


meter_silence_query = partial(
    silence_query,
    allowance.EGRESS_METRIC_NAME,
    allowance.EGRESS_ALARM_WINDOW_MINUTES,
    f"{allowance.EGRESS_SILENCE_HOURS}h",
)
health_silence_query = partial(
    silence_query,
    allowance.HEALTH_METRIC_NAME,
    allowance.HEALTH_ALARM_WINDOW_MINUTES,
    f"{allowance.HEALTH_SILENCE_MINUTES}m",
)


def service_down_query(instance_id: str) -> str:
    """True while any check (a hostname through Caddy, LiveKit's signaling) reads 0."""
    window = f"{allowance.HEALTH_ALARM_WINDOW_MINUTES}m"
    return f'{allowance.HEALTH_METRIC_NAME}[{window}]{{resourceId = "{instance_id}"}}.groupBy(check).min() < 1'


def watch_silence_query(stack: str) -> str:
    """True once the `watch` workflow has posted no heartbeat for this stack for three hours."""
    window, period = f"{allowance.WATCH_ALARM_WINDOW_MINUTES}m", f"{allowance.WATCH_SILENCE_HOURS}h"
    return f'{allowance.WATCH_METRIC_NAME}[{window}]{{stack = "{stack}"}}.groupBy(stack).absent({period})'


# True while the instance publishes no CPU metric: it is stopped, hung, or gone.
instance_silence_query = partial(silence_query, "CpuUtilization", 5, INSTANCE_ABSENCE_PERIOD)


def meter_matching_rule(instance_id: str) -> str:
    return f"ALL {{instance.id = '{instance_id}'}}"


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

        if args.chat_webhook is not None:
            oci.ons.Subscription(
                f"{name}-chat",
                compartment_id=args.compartment_id,
                topic_id=topic.id,
                protocol="SLACK",
                endpoint=pulumi.Output.secret(args.chat_webhook),
                opts=child,
            )

        # The VM publishes its month-to-date count with its instance principal: this group and policy.
        meter_group = f"{prefix}-egress-meter"
        group = oci.identity.DynamicGroup(
            f"{name}-meter-group",
            compartment_id=args.alerts.tenancy_id,
            name=meter_group,
            description="The FlowSpace VM, publishing its month-to-date outbound bytes",
            matching_rule=pulumi.Output.from_input(args.instance_id).apply(meter_matching_rule),
            opts=child,
        )
        oci.identity.Policy(
            f"{name}-meter-policy",
            compartment_id=args.compartment_id,
            name=f"{prefix}-egress-meter",
            description="The FlowSpace VM may publish its outbound count, and nothing else",
            statements=[
                f"Allow dynamic-group {meter_group} to use metrics in "
                f"{allowance.policy_location(args.compartment_id, args.alerts.tenancy_id)} "
                f"where target.metrics.namespace='{allowance.EGRESS_METRIC_NAMESPACE}'"
            ],
            opts=pulumi.ResourceOptions(parent=self, depends_on=[group]),
        )

        def alarm(
            resource: str, display: str, query: Callable[[str], str], severity: str, body: str, namespace: str
        ) -> None:
            oci.monitoring.Alarm(
                f"{name}-{resource}",
                compartment_id=args.compartment_id,
                metric_compartment_id=args.compartment_id,
                namespace=namespace,
                query=pulumi.Output.from_input(args.instance_id).apply(query),
                severity=severity,
                destinations=[topic.id],
                is_enabled=True,
                display_name=f"{prefix}-{display}",
                body=body,
                pending_duration="PT5M",
                opts=child,
            )

        for fraction, severity in EGRESS_ALARMS:
            percent = round(fraction * 100)
            alarm(
                f"egress-{percent}",
                f"egress-{percent}pct",
                partial(egress_query, fraction=fraction),
                severity,
                f"Outbound traffic this month is above {percent}% of the "
                f"{allowance.OUTBOUND_DATA_BYTES_PER_MONTH // 10**12} TB Always Free egress "
                "(beyond it, outbound data is billed).",
                allowance.EGRESS_METRIC_NAMESPACE,
            )
        alarm(
            "egress-meter-silent",
            "egress-meter-silent",
            meter_silence_query,
            "WARNING",
            f"The egress meter has published nothing for {allowance.EGRESS_SILENCE_HOURS} hours: the egress "
            f"alarms are blind. Check the VM and `systemctl status {layout.EGRESS_TIMER}` on it.",
            allowance.EGRESS_METRIC_NAMESPACE,
        )
        alarm(
            "service-down",
            "service-down",
            service_down_query,
            "CRITICAL",
            "A service does not answer on the host as users reach it (its hostname through Caddy, or LiveKit's "
            "signaling): the alarm's dimension `check` names it. `scripts/ops -s <stack> status` and `logs`.",
            allowance.EGRESS_METRIC_NAMESPACE,
        )
        alarm(
            "health-silent",
            "health-silent",
            health_silence_query,
            "WARNING",
            f"The host has reported no service health for {allowance.HEALTH_SILENCE_MINUTES} minutes: its meter "
            f"stopped (`systemctl status {layout.EGRESS_TIMER}`), or the VM did.",
            allowance.EGRESS_METRIC_NAMESPACE,
        )
        alarm(
            "instance-silent",
            "instance-silent",
            instance_silence_query,
            "CRITICAL",
            "The server reports no metrics: it is stopped, hung or gone, and every call and socket with it. "
            "Check the instance in the console (Compute > Instances), then `scripts/ops -s <stack> status`.",
            AGENT_NAMESPACE,
        )
        if args.alerts.edge_watch:
            alarm(
                "watch-silent",
                "watch-silent",
                lambda _: watch_silence_query(args.project.stack),
                "WARNING",
                f"The watch through the edge has not run for {allowance.WATCH_SILENCE_HOURS} hours: nobody checks the "
                "stack from outside. GitHub disables a public repository's schedules after 60 days without activity: "
                "Actions > watch > Enable workflow, then check its last runs.",
                allowance.WATCH_METRIC_NAMESPACE,
            )

        self.topic_id = topic.id
        self.budget_id = budget.id
        self.register_outputs({"topic_id": self.topic_id, "budget_id": self.budget_id})
