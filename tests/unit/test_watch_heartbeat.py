"""The watch's heartbeat, posted by OCI's own SDK (signed with the profile's key) to a stand-in for
the telemetry-ingestion endpoint: what the watch-silent alarm's query reads."""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

from components.cost_guard import watch_silence_query
from model.allowance import WATCH_METRIC_NAME, WATCH_METRIC_NAMESPACE
from scripts.watch_heartbeat import HeartbeatFailed, post_heartbeat, stack_compartment

FINGERPRINT = ":".join(["b2"] * 16)
COMPARTMENT = "ocid1.compartment.oc1..watched"


class _Telemetry(http.server.BaseHTTPRequestHandler):
    posted: ClassVar[list[tuple[str, str, dict[str, Any]]]] = []
    failed: ClassVar[int] = 0

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["content-length"])))
        self.posted.append((self.path, self.headers.get("authorization", ""), body))
        answer = json.dumps({"failedMetricsCount": self.failed, "failedMetrics": []}).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def telemetry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    key_file = tmp_path / "key.pem"
    key_file.write_bytes(key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()))
    (tmp_path / ".oci").mkdir()
    (tmp_path / ".oci" / "config").write_text(
        f"[DEFAULT]\nuser=ocid1.user.oc1..watch\nfingerprint={FINGERPRINT}\n"
        f"tenancy=ocid1.tenancy.oc1..t\nregion=ap-chuncheon-1\nkey_file={key_file}\n"
    )
    monkeypatch.setenv("HOME", str(tmp_path))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Telemetry)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    _Telemetry.posted.clear()
    _Telemetry.failed = 0
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_each_run_posts_one_reading_that_the_alarm_reads(telemetry: str) -> None:
    post_heartbeat("prod", COMPARTMENT, telemetry)
    ((path, authorization, body),) = _Telemetry.posted
    assert path == "/20180401/metrics"
    assert f'keyId="ocid1.tenancy.oc1..t/ocid1.user.oc1..watch/{FINGERPRINT}"' in authorization
    ((reading,),) = [body["metricData"]]
    assert reading["namespace"] == WATCH_METRIC_NAMESPACE and reading["name"] == WATCH_METRIC_NAME
    assert reading["compartmentId"] == COMPARTMENT and reading["dimensions"] == {"stack": "prod"}
    assert [point["value"] for point in reading["datapoints"]] == [1.0]
    query = watch_silence_query("prod")
    assert query.startswith(f"{reading['name']}[") and '{stack = "prod"}' in query


def test_a_refused_reading_fails_the_run(telemetry: str) -> None:
    _Telemetry.failed = 1
    with pytest.raises(HeartbeatFailed, match="refused the reading"):
        post_heartbeat("prod", COMPARTMENT, telemetry)


def test_the_compartment_comes_from_the_committed_stack_file(tmp_path: Path) -> None:
    (tmp_path / "Pulumi.prod.yaml").write_text(f"config:\n  flowspace:compartmentId: {COMPARTMENT}\n")
    assert stack_compartment("prod", tmp_path) == COMPARTMENT
    with pytest.raises(HeartbeatFailed, match="names no flowspace:compartmentId"):
        stack_compartment("dev", tmp_path)
