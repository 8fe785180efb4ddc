"""The watch's heartbeat, posted by OCI's own SDK (signed with the profile's key) to a stand-in for
the telemetry-ingestion endpoint: what the watch-silent alarm's query reads."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

from components.cost_guard import watch_silence_query
from model.allowance import WATCH_METRIC_NAME, WATCH_METRIC_NAMESPACE
from scripts.watch_heartbeat import HeartbeatFailed, post_heartbeat, stack_compartment
from testbed.oci_endpoints import OciCalls, oci_endpoints

FINGERPRINT = ":".join(["b2"] * 16)
COMPARTMENT = "ocid1.compartment.oc1..watched"


@pytest.fixture
def calls() -> OciCalls:
    return OciCalls()


@pytest.fixture
def telemetry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, calls: OciCalls) -> Iterator[str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    key_file = tmp_path / "key.pem"
    key_file.write_bytes(key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()))
    (tmp_path / ".oci").mkdir()
    (tmp_path / ".oci" / "config").write_text(
        f"[DEFAULT]\nuser=ocid1.user.oc1..watch\nfingerprint={FINGERPRINT}\n"
        f"tenancy=ocid1.tenancy.oc1..t\nregion=ap-chuncheon-1\nkey_file={key_file}\n"
    )
    monkeypatch.setenv("HOME", str(tmp_path))
    with oci_endpoints(calls) as address:
        yield address


def test_each_run_posts_one_reading_that_the_alarm_reads(telemetry: str, calls: OciCalls) -> None:
    post_heartbeat("prod", COMPARTMENT, telemetry)
    (posted,) = calls.metrics
    assert f'keyId="ocid1.tenancy.oc1..t/ocid1.user.oc1..watch/{FINGERPRINT}"' in posted.authorization
    ((reading,),) = [posted.body["metricData"]]
    assert reading["namespace"] == WATCH_METRIC_NAMESPACE and reading["name"] == WATCH_METRIC_NAME
    assert reading["compartmentId"] == COMPARTMENT and reading["dimensions"] == {"stack": "prod"}
    assert [point["value"] for point in reading["datapoints"]] == [1.0]
    query = watch_silence_query("prod")
    assert query.startswith(f"{reading['name']}[") and '{stack = "prod"}' in query


def test_a_refused_reading_fails_the_run(telemetry: str, calls: OciCalls) -> None:
    calls.failed_metrics = 1
    with pytest.raises(HeartbeatFailed, match="refused the reading"):
        post_heartbeat("prod", COMPARTMENT, telemetry)


def test_the_compartment_comes_from_the_committed_stack_file(tmp_path: Path) -> None:
    (tmp_path / "Pulumi.prod.yaml").write_text(f"config:\n  flowspace:compartmentId: {COMPARTMENT}\n")
    assert stack_compartment("prod", tmp_path) == COMPARTMENT
    with pytest.raises(HeartbeatFailed, match="names no flowspace:compartmentId"):
        stack_compartment("dev", tmp_path)


def test_a_malformed_profile_is_named_not_a_traceback(telemetry: str, tmp_path: Path) -> None:
    config = tmp_path / ".oci" / "config"
    config.write_text(config.read_text().replace(FINGERPRINT, "00:00"))
    with pytest.raises(HeartbeatFailed, match=r"the OCI_CONFIG secret\): .*fingerprint"):
        post_heartbeat("prod", COMPARTMENT, telemetry)
