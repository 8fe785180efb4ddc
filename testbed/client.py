"""Browser-side checks, run inside the client namespace; each prints one JSON object.

  client.py get URL [http1|http2]         status, HTTP version and body of a GET ($BEARER_TOKEN: authorized)
  client.py upgrade URL                   the status line of an HTTP/1.1 WebSocket upgrade
  client.py polling URL http1|http2       an Engine.IO/Socket.IO session over long-polling with an
                                          acknowledged echo event, over the given HTTP version
The test CA comes from $TEST_CA_FILE.
"""

from __future__ import annotations

import base64
import json
import os
import socket
import ssl
import sys
from typing import Any
from urllib.parse import urlsplit

import httpx


def ca() -> str:
    return os.environ["TEST_CA_FILE"]


def get(url: str, version: str = "http2") -> dict[str, Any]:
    token = os.environ.get("BEARER_TOKEN")
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    with httpx.Client(verify=ssl.create_default_context(cafile=ca()), http2=version == "http2", http1=True) as client:
        response = client.get(url, timeout=10, headers=headers)
        return {"status": response.status_code, "http_version": response.http_version, "body": response.text[:200]}


def upgrade(url: str) -> dict[str, Any]:
    parts = urlsplit(url)
    context = ssl.create_default_context(cafile=ca())
    context.set_alpn_protocols(["http/1.1"])
    raw = socket.create_connection((parts.hostname, parts.port or 443), timeout=10)
    with context.wrap_socket(raw, server_hostname=parts.hostname) as tls:
        key = base64.b64encode(os.urandom(16)).decode()
        request = (
            f"GET {parts.path}?{parts.query} HTTP/1.1\r\nHost: {parts.hostname}\r\n"
            f"Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"
            f"Sec-WebSocket-Key: {key}\r\n\r\n"
        )
        tls.sendall(request.encode())
        head = tls.recv(4096).decode(errors="replace")
        return {"status_line": head.split("\r\n", 1)[0], "alpn": tls.selected_alpn_protocol()}


def polling(url: str, version: str) -> dict[str, Any]:
    """Engine.IO v4 over long-polling by hand: open, connect the namespace, echo with an ack."""
    base = f"{url}/socket.io/?EIO=4&transport=polling"
    verify = ssl.create_default_context(cafile=ca())
    with httpx.Client(verify=verify, http2=version == "http2", http1=version == "http1", timeout=10) as client:
        opened = client.get(base)
        assert opened.text.startswith("0"), opened.text
        sid = json.loads(opened.text[1:])["sid"]
        session = f"{base}&sid={sid}"
        client.post(session, content="40")
        connected = client.get(session).text
        client.post(session, content='421["echo",{"over":"' + version + '"}]')
        acknowledged = client.get(session).text
        return {
            "http_version": opened.http_version,
            "connected": connected.startswith("40"),
            "ack": acknowledged,
        }


if __name__ == "__main__":
    command, *arguments = sys.argv[1:]
    handlers = {"get": get, "upgrade": upgrade, "polling": polling}
    print(json.dumps(handlers[command](*arguments)))
