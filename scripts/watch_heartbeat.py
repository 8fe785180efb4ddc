"""The watch's heartbeat: one reading of flowspace_watch/EdgeWatchRan (dimension `stack`) posted to
OCI Monitoring with the profile in ~/.oci/config, in the stack's compartment. The stack's
`watch-silent` alarm (`edgeWatchAlarm`) fires when none arrives for three hours: the watch itself
stopped.

    python -m scripts.watch_heartbeat -s prod      (the watch workflow, after its check)
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from model import allowance

PROJECT = Path(__file__).resolve().parents[1]
COMPARTMENT_KEY = "flowspace:compartmentId"


class HeartbeatFailed(Exception):
    """Nothing was posted; the message says why."""


def stack_compartment(stack: str, project_dir: Path = PROJECT) -> str:
    stack_file = project_dir / f"Pulumi.{stack}.yaml"
    settings = (yaml.safe_load(stack_file.read_text()) or {}).get("config", {}) if stack_file.exists() else {}
    compartment = settings.get(COMPARTMENT_KEY)
    if not isinstance(compartment, str) or not compartment.startswith("ocid1."):
        raise HeartbeatFailed(f"{stack_file.name} names no {COMPARTMENT_KEY}: commit the stack file")
    return compartment


def post_heartbeat(stack: str, compartment_id: str, endpoint: str | None = None, **client_options: Any) -> None:
    import oci  # type: ignore[import-untyped]

    try:
        config = oci.config.from_file()
    except oci.exceptions.ClientError as error:
        raise HeartbeatFailed(f"~/.oci/config is not usable: {error}") from None
    region = config.get("region", "")
    models = oci.monitoring.models
    reading = models.MetricDataDetails(
        namespace=allowance.WATCH_METRIC_NAMESPACE,
        compartment_id=compartment_id,
        name=allowance.WATCH_METRIC_NAME,
        dimensions={"stack": stack},
        datapoints=[models.Datapoint(timestamp=datetime.now(UTC), value=1.0)],
    )
    try:
        client = oci.monitoring.MonitoringClient(
            config,
            service_endpoint=endpoint or f"https://telemetry-ingestion.{region}.oraclecloud.com",
            **client_options,
        )
    except oci.exceptions.InvalidConfig as error:
        raise HeartbeatFailed(f"~/.oci/config is not usable (in a workflow, the OCI_CONFIG secret): {error}") from None
    try:
        response = client.post_metric_data(models.PostMetricDataDetails(metric_data=[reading]))
    except oci.exceptions.ServiceError as error:
        raise HeartbeatFailed(f"OCI refused the heartbeat ({error.status} {error.code}): {error.message}") from None
    except oci.exceptions.RequestException as error:
        raise HeartbeatFailed(f"OCI could not be reached: {error}") from None
    if response.data.failed_metrics_count:
        raise HeartbeatFailed(f"OCI refused the reading: {response.data.failed_metrics}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-s", "--stack", required=True)
    args = parser.parse_args(argv)
    try:
        post_heartbeat(args.stack, stack_compartment(args.stack))
    except HeartbeatFailed as error:
        print(f"watch-heartbeat: {error}", file=sys.stderr)
        return 1
    print(f"heartbeat posted: {allowance.WATCH_METRIC_NAMESPACE}/{allowance.WATCH_METRIC_NAME} stack={args.stack}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
