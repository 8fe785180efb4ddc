"""The host's network services: the one table every firewall, config and proxy derives from."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Literal

Protocol = Literal["tcp", "udp"]


class Audience(Enum):
    """Who may open a connection to a public port."""

    ANYONE = "anyone"
    SSH_CLIENTS = "ssh_clients"
    # Web ports are narrowed to Cloudflare's ranges when the origin lock is on.
    WEB_CLIENTS = "web_clients"


@dataclass(frozen=True)
class PublicPort:
    name: str
    protocol: Protocol
    first: int
    last: int
    audience: Audience

    @property
    def is_range(self) -> bool:
        return self.first != self.last

    @property
    def spec(self) -> str:
        """`50000:60000` or `443`: the iptables form."""
        return f"{self.first}:{self.last}" if self.is_range else str(self.first)


@dataclass(frozen=True)
class InternalPort:
    """Bound to 127.0.0.1 on the host; never in any public rule."""

    name: str
    port: int


SSH = PublicPort("ssh", "tcp", 22, 22, Audience.SSH_CLIENTS)
HTTP = PublicPort("http", "tcp", 80, 80, Audience.WEB_CLIENTS)
HTTPS = PublicPort("https", "tcp", 443, 443, Audience.WEB_CLIENTS)
LIVEKIT_RTC_TCP = PublicPort("livekit-rtc-tcp", "tcp", 7881, 7881, Audience.ANYONE)
LIVEKIT_RTC_UDP = PublicPort("livekit-rtc-udp", "udp", 50000, 60000, Audience.ANYONE)
# LiveKit's TURN listens on UDP only; TURN over TCP would need TURN/TLS on its own
# DNS-only hostname with a publicly trusted certificate.
TURN_UDP = PublicPort("turn-udp", "udp", 3478, 3478, Audience.ANYONE)

PUBLIC_PORTS: tuple[PublicPort, ...] = (
    SSH,
    HTTP,
    HTTPS,
    LIVEKIT_RTC_TCP,
    LIVEKIT_RTC_UDP,
    TURN_UDP,
)

SOCKET_SERVER = InternalPort("socket-server", 3001)
LIVEKIT_SIGNALING = InternalPort("livekit-signaling", 7880)
# Caddy's admin API is off; this loopback-only site answers the container's health check.
CADDY_HEALTH = InternalPort("caddy-health", 2019)

INTERNAL_PORTS: tuple[InternalPort, ...] = (SOCKET_SERVER, LIVEKIT_SIGNALING, CADDY_HEALTH)

IANA_PROTOCOL_NUMBERS: dict[Protocol, str] = {"tcp": "6", "udp": "17"}
ANYWHERE = "0.0.0.0/0"
ANYWHERE_V6 = "::/0"
IpFamily = Literal[4, 6]


@dataclass(frozen=True)
class Ingress:
    """Who may open a connection to each public port: the one rule set behind the OCI security
    list (IPv4) and the host firewall (IPv4 and IPv6)."""

    ssh_cidrs: tuple[str, ...]
    # Cloudflare's ranges when the origin lock is on; None leaves the web ports open to anyone.
    origin_lock_cidrs: tuple[str, ...] | None = None
    origin_lock_cidrs_v6: tuple[str, ...] = ()

    def sources(self, port: PublicPort, family: IpFamily = 4) -> tuple[str, ...]:
        anywhere = ANYWHERE if family == 4 else ANYWHERE_V6
        if port.audience is Audience.SSH_CLIENTS:
            if family == 6:
                # sshAllowedCidrs are IPv4 blocks: SSH over IPv6 only while SSH is open to everyone.
                return (ANYWHERE_V6,) if ANYWHERE in self.ssh_cidrs else ()
            return self.ssh_cidrs
        if port.audience is Audience.WEB_CLIENTS and self.origin_lock_cidrs is not None:
            return self.origin_lock_cidrs if family == 4 else self.origin_lock_cidrs_v6
        return (anywhere,)

    def rules(self, ports: Sequence[PublicPort] = PUBLIC_PORTS, family: IpFamily = 4) -> list[tuple[PublicPort, str]]:
        """(port, source CIDR) pairs, in the table's order."""
        return [(port, source) for port in ports for source in self.sources(port, family)]
