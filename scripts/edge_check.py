"""Is the stack reachable the way users reach it? From outside, through the edge: DNS, the edge's
certificate, the proxy, Caddy and the services behind it.

    scripts/edge-check -s prod                       the stack's two hostnames (Pulumi.<stack>.yaml)
    scripts/edge-check --socket HOST --livekit HOST
    scripts/edge-check -s prod --attempts 3 --pause 60   a failure counts only when it lasts

Per hostname: `/healthz` answers 200 over verified HTTPS, and a WebSocket upgrade gets through
(the socket server's Socket.io endpoint switches protocols; LiveKit's signaling answers the upgrade
itself, 101, or 401 without a token, rather than the edge refusing it). One line per check;
exit 1 when any fails, naming it. With `--attempts`, the checks that failed are tried again after a
pause: one blip (a reload, a dropped connection) is not a page. `up` runs it after the DNS switch
(warning only), the `watch` workflow on a schedule.
"""

from __future__ import annotations

import argparse
import base64
import os
import socket
import ssl
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml

from model import ports
from render.caddy import HEALTH_ROUTE

PROJECT = Path(__file__).resolve().parents[1]
TIMEOUT_SECONDS = 10
SOCKET_IO_WEBSOCKET = "/socket.io/?EIO=4&transport=websocket"
LIVEKIT_SIGNALING = "/rtc"


@dataclass(frozen=True)
class Check:
    name: str
    failure: str | None

    def line(self) -> str:
        return f"ok      {self.name}" if self.failure is None else f"FAILED  {self.name}: {self.failure}"


def health(host: str, context: ssl.SSLContext) -> Check:
    name = f"https://{host}{HEALTH_ROUTE}"
    try:
        with urllib.request.urlopen(name, context=context, timeout=TIMEOUT_SECONDS) as response:
            status = response.status
    except urllib.error.HTTPError as error:
        status = error.code
    except (urllib.error.URLError, OSError) as error:
        return Check(name, str(getattr(error, "reason", error)))
    return Check(name, None if status == 200 else f"answered {status}")


def upgrade_status(host: str, path: str, context: ssl.SSLContext) -> int:
    """The status line's code of a WebSocket upgrade request (nothing is sent after it)."""
    key = base64.b64encode(os.urandom(16)).decode()
    request = (
        f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    connection = socket.create_connection((host, ports.HTTPS.first), timeout=TIMEOUT_SECONDS)
    with connection, context.wrap_socket(connection, server_hostname=host) as tls:
        tls.sendall(request.encode())
        head = b""
        while b"\r\n" not in head and len(head) < 1024:
            chunk = tls.recv(1024)
            if not chunk:
                break
            head += chunk
    parts = head.split(b"\r\n", 1)[0].split()
    if len(parts) < 2 or not parts[1].isdigit():
        raise OSError(f"no HTTP answer to the upgrade: {head[:80]!r}")
    return int(parts[1])


def websocket(host: str, path: str, accepted: tuple[int, ...], context: ssl.SSLContext) -> Check:
    name = f"wss://{host}{path}"
    try:
        status = upgrade_status(host, path, context)
    except (OSError, ssl.SSLError) as error:
        return Check(name, str(error))
    return Check(name, None if status in accepted else f"the upgrade was answered {status}")


def run_checks(socket_host: str, livekit_host: str, context: ssl.SSLContext) -> list[Check]:
    return [
        health(socket_host, context),
        websocket(socket_host, SOCKET_IO_WEBSOCKET, (101,), context),
        health(livekit_host, context),
        websocket(livekit_host, LIVEKIT_SIGNALING, (101, 401), context),
    ]


def checks_that_last(
    run: Callable[[], list[Check]], attempts: int, pause_seconds: float, sleep: Callable[[float], None] = time.sleep
) -> list[Check]:
    """The checks, run again up to `attempts` times in all while any fails: a check fails only if it
    failed every time. Each attempt's lines are printed."""
    failing: dict[str, Check] | None = None
    for attempt in range(1, attempts + 1):
        checks = run()
        print("\n".join(check.line() for check in checks))
        now = {check.name: check for check in checks if check.failure is not None}
        failing = now if failing is None else {name: check for name, check in now.items() if name in failing}
        if not failing or attempt == attempts:
            break
        print(f"attempt {attempt} of {attempts}: {len(failing)} failed; again in {pause_seconds:g} s")
        sleep(pause_seconds)
    return [failing.get(check.name, Check(check.name, None)) if failing is not None else check for check in checks]


def stack_hostnames(stack: str, project_dir: Path = PROJECT) -> tuple[str, str]:
    stack_file = project_dir / f"Pulumi.{stack}.yaml"
    settings = (yaml.safe_load(stack_file.read_text()) or {}).get("config", {}) if stack_file.exists() else {}
    names = settings.get("flowspace:socketHostname"), settings.get("flowspace:livekitHostname")
    if not all(isinstance(name, str) and name for name in names):
        raise SystemExit(f"edge-check: {stack_file.name} names no socketHostname and livekitHostname")
    return str(names[0]), str(names[1])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-s", "--stack", help="the stack whose hostnames are checked")
    parser.add_argument("--socket", help="the socket server's hostname")
    parser.add_argument("--livekit", help="LiveKit's hostname")
    parser.add_argument("--warn-only", action="store_true", help="say what failed, but exit 0 (for `up`)")
    parser.add_argument("--attempts", type=int, default=1, help="tries before a failing check counts (default 1)")
    parser.add_argument("--pause", type=float, default=60, help="seconds between the tries (default 60)")
    args = parser.parse_args(argv)
    if args.stack:
        socket_host, livekit_host = stack_hostnames(args.stack)
    elif args.socket and args.livekit:
        socket_host, livekit_host = args.socket, args.livekit
    else:
        parser.error("name the stack (-s) or both hostnames (--socket, --livekit)")
    if args.attempts < 1:
        parser.error("--attempts is at least 1")
    context = ssl.create_default_context()
    checks = checks_that_last(lambda: run_checks(socket_host, livekit_host, context), args.attempts, args.pause)
    failed = [check for check in checks if check.failure is not None]
    if failed and args.warn_only:
        print(f"warning: {len(failed)} of {len(checks)} checks through the edge failed (DNS may still be spreading)")
    return 1 if failed and not args.warn_only else 0


if __name__ == "__main__":
    sys.exit(main())
