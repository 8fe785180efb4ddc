"""host-files/egress-meter.sh: the month-to-date outbound count across readings, reboots and months."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from model.allowance import EGRESS_METRIC_NAME, EGRESS_METRIC_NAMESPACE, HEALTH_METRIC_NAME
from model.app import SocketServer
from model.compute import InstanceSpec
from model.ports import Ingress
from model.versions import OCI_CLI_VERSION
from render.egress import render_cli_requirements, render_egress_meter, render_egress_service
from render.release import ReleaseSettings, render_plain_files

METADATA = """{
  "canonicalRegionName" : "ap-chuncheon-1",
  "compartmentId" : "ocid1.tenancy.oc1..aaaaaaaaexample",
  "id" : "ocid1.instance.oc1.ap-chuncheon-1.anexampleinstance"
}"""


RELEASE = ReleaseSettings(
    stack="prod",
    public_ip="203.0.113.10",
    socket_hostname="space-socket.flow-coder.com",
    livekit_hostname="space-livekit.flow-coder.com",
    certificate_pem="-----BEGIN CERTIFICATE-----\nexample\n-----END CERTIFICATE-----\n",
    ingress=Ingress(("0.0.0.0/0",)),
    instance=InstanceSpec(ocpus=4, memory_gb=24, boot_volume_gb=50, availability_domain=0, image_id=None),
    socket_server=SocketServer(image="ghcr.io/flowcoder/socket:1.0.0"),
    egress_meter=True,
)


class Meter:
    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        (root / "meter.sh").write_text(render_egress_meter())
        (root / "metadata.json").write_text(METADATA)
        # A stand-in OCI CLI that keeps what it would have posted.
        (root / "oci").write_text(
            '#!/bin/sh\nfor a; do case "$a" in file://*) cp "${a#file://}" "$POSTED";; esac; done\n'
            'printf "%s\\n" "$*" > "$POSTED.argv"\n'
        )
        (root / "oci").chmod(0o755)
        self.environment = dict(
            line.removeprefix("Environment=").split("=", 1)
            for line in render_egress_service().splitlines()
            if line.startswith("Environment=")
        )

    def posts(self, counter: int, month: str, **env: str) -> list[dict[str, object]]:
        """One reading (the host booted in an earlier month and has not rebooted since), every point posted."""
        (self.root / "tx_bytes").write_text(f"{counter}\n")
        settings = {
            **os.environ,
            **self.environment,
            "EGRESS_STATE": str(self.root / "state"),
            "METER_COUNTER": str(self.root / "tx_bytes"),
            "METER_MONTH": month,
            "METER_BOOT_ID": "boot-1",
            "METER_BOOT_MONTH": "2026-10",
            "METER_METADATA": str(self.root / "metadata.json"),
            "OCI_CLI": str(self.root / "oci"),
            "POSTED": str(self.root / "posted.json"),
            **env,
        }
        result = subprocess.run(["sh", str(self.root / "meter.sh")], env=settings, capture_output=True, text=True)
        assert result.returncode == 0, result.stderr
        posted = json.loads((self.root / "posted.json").read_text())
        assert isinstance(posted, list)
        return posted

    def run(self, counter: int, month: str, boot: str = "boot-1", boot_month: str = "2026-10") -> dict[str, object]:
        """One reading of a host without a release to check: the count alone."""
        (posted,) = self.posts(counter, month, METER_BOOT_ID=boot, METER_BOOT_MONTH=boot_month)
        return posted

    def count(self, counter: int, month: str, boot: str = "boot-1", boot_month: str = "2026-10") -> int:
        return int(self.run(counter, month, boot, boot_month)["datapoints"][0]["value"])  # type: ignore[index]


@pytest.fixture
def meter(tmp_path: Path) -> Meter:
    return Meter(tmp_path)


def test_the_count_grows_by_what_was_sent_since_the_last_reading(meter: Meter) -> None:
    assert meter.count(1_000, "2026-11") == 0, "counting starts at the first run"
    assert meter.count(5_000, "2026-11") == 4_000
    assert meter.count(12_000, "2026-11") == 11_000


def test_a_reboot_resets_the_kernel_counter_but_not_the_month(meter: Meter) -> None:
    meter.count(1_000, "2026-11")
    assert meter.count(9_000, "2026-11") == 8_000
    assert meter.count(500, "2026-11", boot="boot-2") == 8_500, "after a reboot everything in the new counter is new"


def test_a_reboot_is_told_by_the_boot_id_even_when_the_new_counter_is_higher(meter: Meter) -> None:
    meter.count(1_000, "2026-11")
    assert meter.count(3_000, "2026-11") == 2_000
    assert meter.count(50_000, "2026-11", boot="boot-2") == 52_000


def test_a_first_run_counts_since_the_boot_when_the_boot_was_this_month(meter: Meter, tmp_path: Path) -> None:
    assert meter.count(7_000, "2026-11", boot_month="2026-11") == 7_000
    earlier = Meter(tmp_path / "earlier")
    assert earlier.count(7_000, "2026-11", boot_month="2026-10") == 0, "a boot last month: counted from now"


def test_a_new_month_starts_again(meter: Meter) -> None:
    meter.count(1_000, "2026-11")
    meter.count(9_000, "2026-11")
    assert meter.count(9_700, "2026-12") == 700


def test_the_count_is_published_as_the_alarms_expect(meter: Meter) -> None:
    meter.count(1, "2026-11")
    posted = meter.run(3_001, "2026-11")
    assert posted["namespace"] == EGRESS_METRIC_NAMESPACE and posted["name"] == EGRESS_METRIC_NAME
    assert posted["dimensions"] == {"resourceId": "ocid1.instance.oc1.ap-chuncheon-1.anexampleinstance"}
    assert posted["compartmentId"] == "ocid1.tenancy.oc1..aaaaaaaaexample"
    argv = (meter.root / "posted.json.argv").read_text()
    assert "--auth instance_principal" in argv
    assert "--endpoint https://telemetry-ingestion.ap-chuncheon-1.oraclecloud.com" in argv


def test_the_cli_is_installed_from_the_lock_only_with_every_hash_checked(meter: Meter) -> None:
    script = render_egress_meter()
    assert '--require-hashes --only-binary=:all: -r "$OCI_CLI_REQUIREMENTS"' in script
    lines = [line for line in render_cli_requirements().splitlines() if not line.startswith("#")]
    assert f"oci-cli=={OCI_CLI_VERSION} " in "\n".join(lines) + "\n"
    assert lines and all(re.fullmatch(r"[a-z0-9.\-]+==\S+ --hash=sha256:[0-9a-f]{64}", line) for line in lines)


def test_each_service_is_reported_as_users_reach_it_through_caddy_and_livekits_signaling(meter: Meter) -> None:
    app = meter.root / "home" / "ubuntu" / "flowspace"
    (app / "current").mkdir(parents=True)
    release = render_plain_files(RELEASE)
    (app / "current" / "release.env").write_text(release["release.env"])
    # curl as the host sees it: Caddy answers the socket hostname, not LiveKit's; signaling answers.
    (meter.root / "curl").write_text(
        '#!/bin/sh\nprintf "%s\\n" "$*" >> "$CURL_LOG"\ncase "$*" in *space-livekit*) exit 22 ;; *) exit 0 ;; esac\n'
    )
    (meter.root / "curl").chmod(0o755)
    posted = meter.posts(
        5, "2026-11", FLOWSPACE_APP_DIR=str(app), METER_CURL=str(meter.root / "curl"), CURL_LOG=str(meter.root / "c")
    )
    health = {
        point["dimensions"]["check"]: point["datapoints"][0]["value"]  # type: ignore[index]
        for point in posted
        if point["name"] == HEALTH_METRIC_NAME
    }
    assert health == {"socket-server": 1, "livekit": 0, "livekit-signaling": 1}
    assert all(point["namespace"] == EGRESS_METRIC_NAMESPACE for point in posted)
    calls = (meter.root / "c").read_text().splitlines()
    assert any(
        "--resolve space-socket.flow-coder.com:443:127.0.0.1" in call
        and f"--cacert {app}/current/origin.pem" in call
        and call.endswith("https://space-socket.flow-coder.com:443/healthz")
        for call in calls
    ), calls
    assert calls[-1].endswith("http://127.0.0.1:7880/"), calls
