"""Stand-ins for the two OCI endpoints the watch calls: Monitoring's telemetry ingestion (the
heartbeat, scripts/watch_heartbeat.py) and Notifications (the page, `oci ons message publish`).
They keep what they are sent, with the request's signature header, and answer as OCI does.

Served over plain HTTP for the SDK given an endpoint, or, for a workflow that reaches OCI by its
region's hostnames, over TLS on port 443 in a network namespace (testbed/netns.py made_in)."""

from __future__ import annotations

import json
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from testbed.netns import made_in
from testbed.pki import TestPki

METRICS_PATH = "/20180401/metrics"
TOPICS_PATH = "/20181201/topics/"


@dataclass
class Posted:
    path: str
    authorization: str
    body: Any


@dataclass
class OciCalls:
    metrics: list[Posted] = field(default_factory=list)
    messages: list[Posted] = field(default_factory=list)
    # failedMetricsCount the telemetry endpoint answers with.
    failed_metrics: int = 0


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_POST(self) -> None:
        calls = self.server.calls
        posted = Posted(
            self.path,
            self.headers.get("authorization", ""),
            json.loads(self.rfile.read(int(self.headers.get("content-length") or 0)) or b"null"),
        )
        if self.path == METRICS_PATH:
            calls.metrics.append(posted)
            answer: dict[str, Any] = {"failedMetricsCount": calls.failed_metrics, "failedMetrics": []}
        elif self.path.startswith(TOPICS_PATH) and self.path.endswith("/messages"):
            calls.messages.append(posted)
            answer = {"messageId": f"ocid1.message.oc1..{len(calls.messages)}", "timeStamp": "2026-12-08T00:00:00Z"}
        else:
            self.send_error(404)
            return
        data = json.dumps(answer).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, calls: OciCalls, address: tuple[str, int]) -> None:
        super().__init__(address, _Handler)
        self.calls = calls


@contextmanager
def oci_endpoints(
    calls: OciCalls, namespace: str | None = None, pki: TestPki | None = None, keys: Path | None = None
) -> Iterator[str]:
    """Yields the endpoints' address: http://127.0.0.1:<port> here, or (with `namespace`, `pki` and a
    folder for its files in `keys`) https on 127.0.0.1:443 in the namespace."""
    if namespace is None:
        server = _Server(calls, ("127.0.0.1", 0))
    else:
        server = made_in(namespace, lambda: _Server(calls, ("127.0.0.1", 443)))
    address = f"http://127.0.0.1:{server.server_address[1]}"
    if pki is not None and keys is not None:
        (keys / "oci.pem").write_text(pki.certificate_pem)
        (keys / "oci.key").write_text(pki.key_pem)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(keys / "oci.pem", keys / "oci.key")
        server.socket = context.wrap_socket(server.socket, server_side=True)
        address = "https://127.0.0.1"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield address
    finally:
        server.shutdown()
        server.server_close()
