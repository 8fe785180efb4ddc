"""livekit.yaml: only fields livekit-server knows, since unknown ones are fatal to it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from model import ports
from render.yaml_text import dump

KEY_FILE_IN_CONTAINER = "/etc/livekit/keys.yaml"
TURN_CERTIFICATE_IN_CONTAINER = "/etc/livekit/turn/certificate.pem"
TURN_KEY_IN_CONTAINER = "/etc/livekit/turn/key.pem"


@dataclass(frozen=True)
class LiveKitSettings:
    public_ip: str
    key_file: str = KEY_FILE_IN_CONTAINER
    # The DNS-only hostname of TURN/TLS; None: TURN over UDP only.
    turn_hostname: str | None = None


def _turn(settings: LiveKitSettings) -> dict[str, Any]:
    turn: dict[str, Any] = {"enabled": True, "udp_port": ports.TURN_UDP.first}
    if settings.turn_hostname is not None:
        turn |= {
            "domain": settings.turn_hostname,
            "tls_port": ports.TURN_TLS_LISTENER.port,
            "cert_file": TURN_CERTIFICATE_IN_CONTAINER,
            "key_file": TURN_KEY_IN_CONTAINER,
        }
    return turn


def livekit_config(settings: LiveKitSettings) -> dict[str, Any]:
    return {
        "port": ports.LIVEKIT_SIGNALING.port,
        # Signaling is reached through Caddy only.
        "bind_addresses": ["127.0.0.1"],
        "rtc": {
            "tcp_port": ports.LIVEKIT_RTC_TCP.first,
            "port_range_start": ports.LIVEKIT_RTC_UDP.first,
            "port_range_end": ports.LIVEKIT_RTC_UDP.last,
            # The program knows the reserved IP, so no STUN lookup can fail the start.
            "use_external_ip": False,
            "node_ip": settings.public_ip,
        },
        "turn": _turn(settings),
        "key_file": settings.key_file,
        "logging": {"json": True, "level": "info"},
    }


def render_livekit_yaml(settings: LiveKitSettings) -> str:
    return dump(livekit_config(settings))


def render_key_file(api_key: str, api_secret: str) -> str:
    return dump({api_key: api_secret})
