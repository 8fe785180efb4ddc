"""The host's month-to-date outbound meter: what OCI's own metrics cannot say (they are rates).

`host-files/egress-meter.sh` adds, every 15 minutes, the bytes sent on the default-route interface since its
last reading to the month's count (a reboot resets the kernel counter; a new month the count) and
publishes the count as a custom metric, authorised by the instance principal that the cost
guard's dynamic group and policy grant. The alarms at 80% and 100% of the free 10 TB watch it.
"""

from __future__ import annotations

from model.allowance import (
    EGRESS_METER_INTERVAL_MINUTES,
    EGRESS_METRIC_NAME,
    EGRESS_METRIC_NAMESPACE,
    HEALTH_METRIC_NAME,
)
from model.layout import (
    EGRESS_CLI_REQUIREMENTS,
    EGRESS_CLI_REQUIREMENTS_PATH,
    EGRESS_HOST_ENV_PATH,
    EGRESS_METER_PATH,
    EGRESS_STATE,
)
from model.ports import LIVEKIT_SIGNALING
from render import HOST_FILES

# The OCI CLI lives in a virtualenv of its own, made on the first run.
OCI_CLI_VENV = "/opt/flowspace-oci-cli"


def render_egress_meter() -> str:
    return (HOST_FILES / "egress-meter.sh").read_text()


def render_cli_requirements() -> str:
    """The OCI CLI and its dependencies pinned by hash (scripts/lock-oci-cli)."""
    return (HOST_FILES / EGRESS_CLI_REQUIREMENTS).read_text()


def render_egress_service() -> str:
    settings = {
        "EGRESS_NAMESPACE": EGRESS_METRIC_NAMESPACE,
        "EGRESS_METRIC": EGRESS_METRIC_NAME,
        "EGRESS_STATE": EGRESS_STATE,
        "OCI_CLI_VENV": OCI_CLI_VENV,
        "OCI_CLI_REQUIREMENTS": EGRESS_CLI_REQUIREMENTS_PATH,
        "HEALTH_METRIC": HEALTH_METRIC_NAME,
        "LIVEKIT_SIGNALING_URL": f"http://127.0.0.1:{LIVEKIT_SIGNALING.port}/",
    }
    environment = "".join(f"Environment={key}={value}\n" for key, value in settings.items())
    return f"""[Unit]
Description=FlowSpace host meter: month-to-date outbound bytes and each service's health
After=network-online.target
Wants=network-online.target

[Service]
Type=oneshot
{environment}EnvironmentFile=-{EGRESS_HOST_ENV_PATH}
ExecStart={EGRESS_METER_PATH}
"""


def render_egress_timer() -> str:
    interval = EGRESS_METER_INTERVAL_MINUTES
    return f"""[Unit]
Description=FlowSpace month-to-date outbound meter, every {interval} minutes

[Timer]
OnBootSec=5min
OnUnitActiveSec={interval}min
Persistent=true

[Install]
WantedBy=timers.target
"""
