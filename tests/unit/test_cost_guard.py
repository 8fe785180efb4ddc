"""CostGuard under mocks: thresholds from the allowance module, topic wiring, budget targets."""

from __future__ import annotations

import pytest
from pulumi.output import Unknown

from model.allowance import (
    EGRESS_ALARM_WINDOW_MINUTES,
    EGRESS_METRIC_NAME,
    EGRESS_METRIC_NAMESPACE,
    WATCH_METRIC_NAME,
    WATCH_METRIC_NAMESPACE,
    egress_alarm_bytes,
    policy_location,
)
from render.egress import render_egress_timer
from testbed.mocks import OPERATOR_VALUES, Run, is_secret, reveal, run_program

ALERTS = {"flowspace:alertEmail": "ops@flow-coder.com"}


@pytest.fixture(scope="module")
def guarded() -> Run:
    return run_program(overrides=ALERTS)


def test_cost_guard_is_off_without_an_alert_email() -> None:
    run = run_program()
    assert not [r for r in run.resources if r.typ.startswith(("oci:Budget", "oci:Ons", "oci:Monitoring"))]


def test_egress_alarms_fire_at_8_and_10_tb_sent_this_month(guarded: Run) -> None:
    egress = [a for a in guarded.of_type("oci:Monitoring/alarm:Alarm") if a.name.rsplit("-", 1)[-1].isdigit()]
    alarms = {a.inputs["severity"]: a.inputs for a in egress}
    assert set(alarms) == {"WARNING", "CRITICAL"} and len(egress) == 2
    instance = "server-instance-id"
    for severity, limit in (("WARNING", 8 * 10**12), ("CRITICAL", 10 * 10**12)):
        assert egress_alarm_bytes(0.8 if severity == "WARNING" else 1.0) == limit
        query = alarms[severity]["query"]
        assert query == f'{EGRESS_METRIC_NAME}[60m]{{resourceId = "{instance}"}}.max() > {limit}', query
        assert alarms[severity]["namespace"] == EGRESS_METRIC_NAMESPACE
        assert "this month" in alarms[severity]["body"]


def test_the_vm_may_publish_its_count_and_nothing_else(guarded: Run) -> None:
    group = guarded.one("oci:Identity/dynamicGroup:DynamicGroup").inputs
    assert group["matchingRule"] == "ALL {instance.id = 'server-instance-id'}"
    assert group["compartmentId"] == OPERATOR_VALUES["flowspace:compartmentId"]  # the tenancy
    (statement,) = guarded.one("oci:Identity/policy:Policy").inputs["statements"]
    # The compartment is the tenancy here: OCI's grammar for the root is `in tenancy`.
    assert statement.startswith(f"Allow dynamic-group {group['name']} to use metrics in tenancy where ")
    assert statement.endswith(f"where target.metrics.namespace='{EGRESS_METRIC_NAMESPACE}'")


def test_a_policy_names_a_compartment_by_id_and_the_root_as_tenancy() -> None:
    tenancy, compartment = "ocid1.tenancy.oc1..aaaa", "ocid1.compartment.oc1..bbbb"
    assert policy_location(tenancy, tenancy) == "tenancy"
    assert policy_location(compartment, tenancy) == f"compartment id {compartment}"


def test_the_release_carries_and_installs_the_meter_only_with_alerts(guarded: Run) -> None:
    names = {str(r.inputs["remotePath"]).rsplit("/", 1)[-1] for r in guarded.of_type("command:remote:CopyToRemote")}
    assert {"egress-meter.sh", "flowspace-egress.service", "flowspace-egress.timer"} <= names
    plain = run_program()
    names = {str(r.inputs["remotePath"]).rsplit("/", 1)[-1] for r in plain.of_type("command:remote:CopyToRemote")}
    assert "egress-meter.sh" not in names


def test_alerts_can_also_go_to_a_chat_webhook() -> None:
    hook = "https://discord.com/api/webhooks/1/secret-token/slack"
    run = run_program(overrides={**ALERTS, "flowspace:alertChatWebhook": hook})
    chat = run.named("cost-guard-chat").inputs
    assert chat["protocol"] == "SLACK" and is_secret(chat["endpoint"]) and reveal(chat["endpoint"]) == hook
    with pytest.raises(Exception, match="flowspace:alertChatWebhook: would be ignored"):
        run_program(overrides={"flowspace:alertChatWebhook": hook})
    with pytest.raises(Exception, match="flowspace:alertChatWebhook: is not an https URL") as refused:
        run_program(overrides={**ALERTS, "flowspace:alertChatWebhook": hook.replace("https", "http")})
    assert "secret-token" not in str(refused.value), "the webhook's own credential was shown"


def test_alarms_notify_the_topic_that_mails_the_operator(guarded: Run) -> None:
    topic = guarded.one("oci:Ons/notificationTopic:NotificationTopic")
    subscription = guarded.one("oci:Ons/subscription:Subscription").inputs
    assert subscription["protocol"] == "EMAIL" and subscription["endpoint"] == "ops@flow-coder.com"
    assert subscription["topicId"] == f"{topic.name}-id"
    for alarm in guarded.of_type("oci:Monitoring/alarm:Alarm"):
        assert alarm.inputs["destinations"] == [f"{topic.name}-id"], alarm.name
        assert topic.urn in alarm.dependencies


def test_budget_targets_the_compartment_from_the_tenancy(guarded: Run) -> None:
    budget = guarded.one("oci:Budget/budget:Budget").inputs
    compartment = OPERATOR_VALUES["flowspace:compartmentId"]
    assert budget["compartmentId"] == compartment  # prod deploys into the tenancy itself
    assert budget["targetType"] == "COMPARTMENT" and budget["targets"] == [compartment]
    assert budget["amount"] == 1 and budget["resetPeriod"] == "MONTHLY"
    rules = {r.inputs["type"]: r.inputs for r in guarded.of_type("oci:Budget/rule:Rule")}
    assert rules["ACTUAL"]["threshold"] == 80 and rules["FORECAST"]["threshold"] == 100
    assert all(r["thresholdType"] == "PERCENTAGE" and r["recipients"] == "ops@flow-coder.com" for r in rules.values())


def test_a_sub_compartment_needs_the_tenancy_for_its_budget() -> None:
    compartment = "ocid1.compartment.oc1..aaaaaaaacompartmentcompartmentcomp"
    with pytest.raises(Exception, match="flowspace:tenancyId"):
        run_program(overrides={**ALERTS, "flowspace:compartmentId": compartment})
    tenancy = "ocid1.tenancy.oc1..aaaaaaaatenancytenancytenancytenancy"
    run = run_program(overrides={**ALERTS, "flowspace:compartmentId": compartment, "flowspace:tenancyId": tenancy})
    budget = run.one("oci:Budget/budget:Budget").inputs
    assert budget["compartmentId"] == tenancy and budget["targets"] == [compartment]


def test_a_bad_alert_email_is_refused() -> None:
    with pytest.raises(Exception, match="flowspace:alertEmail"):
        run_program(overrides={"flowspace:alertEmail": "not-an-address"})


def test_alarm_queries_wait_for_the_vnic_in_preview() -> None:
    run = run_program(overrides=ALERTS, preview=True)
    alarms = run.of_type("oci:Monitoring/alarm:Alarm")
    assert len(alarms) == 6
    for alarm in alarms:
        query = reveal(alarm.inputs["query"])
        assert isinstance(query, Unknown), f"{alarm.name}'s query was built before the VNIC was known: {query!r}"


def test_a_silent_meter_raises_its_own_alarm_and_the_meter_fills_every_window(guarded: Run) -> None:
    (silent,) = [a for a in guarded.of_type("oci:Monitoring/alarm:Alarm") if a.name.endswith("-meter-silent")]
    assert silent.inputs["query"] == (
        f'{EGRESS_METRIC_NAME}[60m]{{resourceId = "server-instance-id"}}.groupBy(resourceId).absent(3h)'
    )
    assert silent.inputs["destinations"] and silent.inputs["severity"] == "WARNING"
    timer = render_egress_timer()
    every = int(timer.split("OnUnitActiveSec=")[1].split("min")[0])
    assert every * 2 <= EGRESS_ALARM_WINDOW_MINUTES, "an alarm window must hold at least two readings"


def test_a_server_that_stops_reporting_raises_a_critical_alarm_to_the_same_people(guarded: Run) -> None:
    (silent,) = [a for a in guarded.of_type("oci:Monitoring/alarm:Alarm") if a.name.endswith("-instance-silent")]
    assert silent.inputs["namespace"] == "oci_computeagent" and silent.inputs["severity"] == "CRITICAL"
    assert silent.inputs["query"] == (
        'CpuUtilization[5m]{resourceId = "server-instance-id"}.groupBy(resourceId).absent(24h)'
    )
    # Its topic is the cost alarms' (test_alarms_notify_the_topic_that_mails_the_operator).
    instance = guarded.one("oci:Core/instance:Instance").inputs
    assert instance["agentConfig"]["isMonitoringDisabled"] is False, "the alarm watches the agent's metrics"


def test_a_service_that_stops_answering_or_stops_being_reported_raises_an_alarm(guarded: Run) -> None:
    alarms = {a.name.removeprefix("cost-guard-"): a.inputs for a in guarded.of_type("oci:Monitoring/alarm:Alarm")}
    instance = 'resourceId = "server-instance-id"'
    assert alarms["service-down"]["query"] == f"ServiceHealthy[15m]{{{instance}}}.groupBy(check).min() < 1"
    assert alarms["service-down"]["severity"] == "CRITICAL"
    assert alarms["health-silent"]["query"] == f"ServiceHealthy[15m]{{{instance}}}.groupBy(resourceId).absent(30m)"
    assert alarms["service-down"]["namespace"] == alarms["health-silent"]["namespace"] == EGRESS_METRIC_NAMESPACE
    every = int(render_egress_timer().split("OnUnitActiveSec=")[1].split("min")[0])
    assert every * 2 <= 15, "a health window holds at least two readings"


def test_a_watched_stack_hears_when_the_watch_itself_stops(guarded: Run) -> None:
    """The `watch` workflow posts a heartbeat on every run (scripts/watch_heartbeat.py); with
    `edgeWatchAlarm` its absence for three hours raises an alarm to the same topic."""
    assert not [a for a in guarded.of_type("oci:Monitoring/alarm:Alarm") if a.name.endswith("-watch-silent")]
    watched = run_program(overrides={**ALERTS, "flowspace:edgeWatchAlarm": "true"})
    (silent,) = [a for a in watched.of_type("oci:Monitoring/alarm:Alarm") if a.name.endswith("-watch-silent")]
    assert silent.inputs["namespace"] == WATCH_METRIC_NAMESPACE == "flowspace_watch"
    assert silent.inputs["query"] == f'{WATCH_METRIC_NAME}[60m]{{stack = "prod"}}.groupBy(stack).absent(3h)'
    assert "Enable workflow" in silent.inputs["body"]
    (instance,) = [a for a in watched.of_type("oci:Monitoring/alarm:Alarm") if a.name.endswith("-instance-silent")]
    assert silent.inputs["destinations"] == instance.inputs["destinations"], "the same people hear it"


def test_the_watch_alarm_without_alerts_is_said_to_be_ignored() -> None:
    with pytest.raises(Exception, match="edgeWatchAlarm"):
        run_program(overrides={"flowspace:edgeWatchAlarm": "true"})
