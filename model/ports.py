"""The host's network services: the one table every firewall, config and proxy derives from."""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import Enum
from typing import Literal

Protocol = Literal["tcp", "udp"]


class Audience(Enum):
    """Who may open a connection to a public port."""

    ANYONE = "anyone"
    SSH_CLIENTS = "ssh_clients"
    # Web ports are narrowed to Cloudflare's ranges when the origin lock is on.
    WEB_CLIENTS = "web_clients"
    # Everyone outside Cloudflare's ranges: the same port as the web, split by source on the host.
    OUTSIDE_THE_EDGE = "outside_the_edge"


@dataclass(frozen=True)
class InternalPort:
    """Never reachable from outside directly: bound to 127.0.0.1, or (a redirect's target) reached
    only through the host firewall's redirect of a public port."""

    name: str
    port: int


@dataclass(frozen=True)
class PublicPort:
    name: str
    protocol: Protocol
    first: int
    last: int
    audience: Audience
    # Where the host firewall redirects the port's connections (the service cannot listen on it).
    redirected_to: InternalPort | None = None

    @property
    def is_range(self) -> bool:
        return self.first != self.last

    @property
    def spec(self) -> str:
        """`50000:60000` or `443`: the iptables form."""
        return f"{self.first}:{self.last}" if self.is_range else str(self.first)


SSH = PublicPort("ssh", "tcp", 22, 22, Audience.SSH_CLIENTS)
HTTP = PublicPort("http", "tcp", 80, 80, Audience.WEB_CLIENTS)
HTTPS = PublicPort("https", "tcp", 443, 443, Audience.WEB_CLIENTS)
LIVEKIT_RTC_TCP = PublicPort("livekit-rtc-tcp", "tcp", 7881, 7881, Audience.ANYONE)
LIVEKIT_RTC_UDP = PublicPort("livekit-rtc-udp", "udp", 50000, 60000, Audience.ANYONE)
TURN_UDP = PublicPort("turn-udp", "udp", 3478, 3478, Audience.ANYONE)
# TURN over TLS, for networks that let only 443 out. LiveKit hands it out as `turns:<domain>:443`
# whatever its own port, and 443 is Caddy's: connections from outside Cloudflare's ranges are
# redirected to LiveKit's listener, those from the ranges still reach Caddy (render/firewall.py).
TURN_TLS_LISTENER = InternalPort("turn-tls-listener", 5349)
TURN_TLS = PublicPort("turn-tls", "tcp", 443, 443, Audience.OUTSIDE_THE_EDGE, redirected_to=TURN_TLS_LISTENER)

PUBLIC_PORTS: tuple[PublicPort, ...] = (
    SSH,
    HTTP,
    HTTPS,
    LIVEKIT_RTC_TCP,
    LIVEKIT_RTC_UDP,
    TURN_UDP,
)

# The socket server listens on this port inside its container.
SOCKET_SERVER = InternalPort("socket-server", 3001)
# Two loopback slots on the host: a release starts the new socket server in the idle slot, Caddy
# moves to it once it is healthy, and the old one stops after the health gate.
SOCKET_SERVER_SLOTS: dict[str, InternalPort] = {
    "blue": InternalPort("socket-server-blue", SOCKET_SERVER.port),
    "green": InternalPort("socket-server-green", 3002),
}
LIVEKIT_SIGNALING = InternalPort("livekit-signaling", 7880)
# Caddy's admin API is off; this loopback-only site answers the container's health check.
CADDY_HEALTH = InternalPort("caddy-health", 2019)

INTERNAL_PORTS: tuple[InternalPort, ...] = (
    *SOCKET_SERVER_SLOTS.values(),
    LIVEKIT_SIGNALING,
    CADDY_HEALTH,
    TURN_TLS_LISTENER,
)

# The cluster kind (model/cluster.py): Redis, LiveKit's room routing and the socket server's adapter,
# reached inside the cluster only; and the Kubernetes API of an OKE cluster, for its operators.
REDIS = InternalPort("redis", 6379)
KUBERNETES_API = PublicPort("kubernetes-api", "tcp", 6443, 6443, Audience.SSH_CLIENTS)
# A cluster's TURN/TLS: LiveKit's listener on each node, reached through the network load balancer
# (components/turn_entry.py), which keeps the clients' addresses.
CLUSTER_TURN_TLS = PublicPort(
    "turn-tls-listener", "tcp", TURN_TLS_LISTENER.port, TURN_TLS_LISTENER.port, Audience.ANYONE
)

IANA_PROTOCOL_NUMBERS: dict[str, str] = {"icmp": "1", "tcp": "6", "udp": "17"}
ANYWHERE = "0.0.0.0/0"
ANYWHERE_V6 = "::/0"
IpFamily = Literal[4, 6]


@dataclass(frozen=True)
class SshAccess:
    """Who may open SSH, and on which port sshd listens."""

    cidrs: tuple[str, ...]
    port: int = SSH.first


@dataclass(frozen=True)
class Ingress:
    """Who may open a connection to each public port: the one rule set behind the OCI security
    list (IPv4) and the host firewall (IPv4 and IPv6)."""

    ssh_cidrs: tuple[str, ...]
    # Cloudflare's ranges when the origin lock is on; None leaves the web ports open to anyone.
    origin_lock_cidrs: tuple[str, ...] | None = None
    origin_lock_cidrs_v6: tuple[str, ...] = ()
    # TURN/TLS on 443 for everyone outside the edge (needs the origin lock); IPv4 only, as its record.
    turn_tls: bool = False
    # Where sshd listens: an existing server's targetPort; the narrowing to ssh_cidrs follows it.
    ssh_port: int = SSH.first

    def __post_init__(self) -> None:
        if self.turn_tls and self.origin_lock_cidrs is None:
            # Without the edge's ranges every connection to 443 would go to TURN, none to Caddy.
            raise ValueError("TURN/TLS on 443 needs the origin lock (Cloudflare's ranges)")

    @property
    def public_ports(self) -> tuple[PublicPort, ...]:
        ssh = replace(SSH, first=self.ssh_port, last=self.ssh_port)
        table = tuple(ssh if port is SSH else port for port in PUBLIC_PORTS)
        return (*table, TURN_TLS) if self.turn_tls else table

    def sources(self, port: PublicPort, family: IpFamily = 4) -> tuple[str, ...]:
        anywhere = ANYWHERE if family == 4 else ANYWHERE_V6
        if port.audience is Audience.SSH_CLIENTS:
            if family == 6:
                # sshAllowedCidrs are IPv4 blocks: SSH over IPv6 only while SSH is open to everyone.
                return (ANYWHERE_V6,) if ANYWHERE in self.ssh_cidrs else ()
            return self.ssh_cidrs
        if port.audience is Audience.OUTSIDE_THE_EDGE:
            # The security list cannot exclude the edge; the host firewall splits by source.
            return (ANYWHERE,) if family == 4 else ()
        if port.audience is Audience.WEB_CLIENTS and self.origin_lock_cidrs is not None:
            return self.origin_lock_cidrs if family == 4 else self.origin_lock_cidrs_v6
        return (anywhere,)

    def rules(self, family: IpFamily = 4) -> list[tuple[PublicPort, str]]:
        """(port, source CIDR) pairs, in the table's order."""
        return [(port, source) for port in self.public_ports for source in self.sources(port, family)]
