"""The Cloudflare edge: zone, hostnames, proxying, origin certificate and strict TLS."""

from __future__ import annotations

from dataclasses import dataclass

from config import checks
from config.keys import REQUIRED, Key
from config.reader import Reader
from model.edge import ORIGIN_CERT_TYPES, ORIGIN_CERT_VALIDITY_DAYS, TLS_SCOPES, Hostname, OriginCertSpec, TlsScope

ZONE_ID = Key(
    "cloudflareZoneId",
    "string",
    "32 hex",
    "the Cloudflare zone of `domain`",
    "<32-hex zone id from the zone's Overview page>",
    default_doc="*required* (optional with `targetHost`)",
)
DOMAIN = Key(
    "domain", "string", "domain", "the zone's domain, e.g. `flow-coder.com`", "flow-coder.com", default_doc=REQUIRED
)
SOCKET_HOSTNAME = Key(
    "socketHostname",
    "string",
    "hostname",
    "Socket.io hostname, inside `domain`",
    "space-socket.flow-coder.com",
    default_doc=REQUIRED,
)
LIVEKIT_HOSTNAME = Key(
    "livekitHostname",
    "string",
    "hostname",
    "LiveKit signaling hostname, inside `domain`, different from `socketHostname`",
    "space-livekit.flow-coder.com",
    default_doc=REQUIRED,
)
SOCKET_PROXIED = Key("socketProxied", "boolean", "bool", "orange-cloud the Socket.io hostname", "true", default=True)
LIVEKIT_PROXIED = Key("livekitProxied", "boolean", "bool", "orange-cloud the LiveKit hostname", "true", default=True)
ORIGIN_LOCK = Key(
    "originLock",
    "boolean",
    "bool",
    "80/443 only from Cloudflare's IP ranges, in the security list and the host firewall",
    "true",
    default_doc="on when both hostnames are proxied",
)
TLS_SCOPE = Key(
    "cloudflareTlsScope",
    "string",
    "`hostnames` \\| `zone` \\| `none`",
    "strict TLS via a configuration rule for just the served hostnames, zone-wide `ssl=strict` + `websockets=on`, "
    "or nothing (another stack in the zone owns the rule)",
    "hostnames",
    default="hostnames",
)
STRICT_TLS_EXTRA_HOSTNAMES = Key(
    "strictTlsExtraHostnames",
    "array",
    "list of hostnames",
    "other stacks' hostnames in the zone that this stack's strict-TLS rule also covers (prod covers dev's)",
    "'[\"dev-socket.flow-coder.com\"]'",
    default=(),
)
ORIGIN_CERT_TYPE = Key(
    "originCertType",
    "string",
    "`origin-ecc` \\| `origin-rsa`",
    "Origin CA key type",
    "origin-ecc",
    default="origin-ecc",
)
ORIGIN_CERT_VALIDITY = Key(
    "originCertValidityDays",
    "integer",
    ", ".join(map(str, ORIGIN_CERT_VALIDITY_DAYS)),
    "certificate lifetime",
    "1095",
    default=1095,
)
ORIGIN_CERT_ROTATION = Key(
    "originCertRotation", "integer", "int", "bump to issue a new key and certificate", "1", default=0
)
KEYS = (
    ZONE_ID,
    DOMAIN,
    SOCKET_HOSTNAME,
    LIVEKIT_HOSTNAME,
    SOCKET_PROXIED,
    LIVEKIT_PROXIED,
    ORIGIN_LOCK,
    TLS_SCOPE,
    STRICT_TLS_EXTRA_HOSTNAMES,
    ORIGIN_CERT_TYPE,
    ORIGIN_CERT_VALIDITY,
    ORIGIN_CERT_ROTATION,
)


@dataclass(frozen=True)
class EdgeConfig:
    # None: no Cloudflare edge (only for an existing server); Caddy gets its own certificates.
    zone_id: str | None
    domain: str
    socket: Hostname
    livekit: Hostname
    origin_cert: OriginCertSpec
    tls_scope: TlsScope
    origin_lock: bool
    # Other stacks' hostnames in the same zone, covered by this stack's strict-TLS rule.
    strict_tls_extra_hostnames: tuple[str, ...] = ()

    @property
    def hostnames(self) -> tuple[Hostname, Hostname]:
        return (self.socket, self.livekit)


def _hostname(reader: Reader, key: Key, domain: str) -> str:
    name = reader.required(key, "a hostname inside the zone").lower()
    if name:
        checks.in_zone(reader, key, name, domain)
    return name


def read_edge(reader: Reader, edge_optional: bool) -> EdgeConfig:
    zone_id = reader.raw(ZONE_ID) if edge_optional else reader.required(ZONE_ID, "the Cloudflare zone id")
    if zone_id and not (len(zone_id) == 32 and all(c in "0123456789abcdef" for c in zone_id)):
        reader.problem(ZONE_ID, f"{zone_id!r} is not a 32-character hex zone id")
    domain = reader.required(DOMAIN, "the Cloudflare zone's domain").lower()
    if domain and not checks.is_hostname(domain):
        reader.problem(DOMAIN, f"{domain!r} is not a domain name")
    socket_name = _hostname(reader, SOCKET_HOSTNAME, domain)
    livekit_name = _hostname(reader, LIVEKIT_HOSTNAME, domain)
    if socket_name and socket_name == livekit_name:
        reader.problem(
            LIVEKIT_HOSTNAME,
            f"{livekit_name!r} is also socketHostname; each service needs its own hostname",
            LIVEKIT_HOSTNAME.set_command(f"space-livekit.{domain}"),
        )
    socket_proxied = reader.boolean(SOCKET_PROXIED)
    livekit_proxied = reader.boolean(LIVEKIT_PROXIED)
    cert_type = reader.choice(ORIGIN_CERT_TYPE, ORIGIN_CERT_TYPES)
    validity = reader.integer(ORIGIN_CERT_VALIDITY)
    if validity not in ORIGIN_CERT_VALIDITY_DAYS:
        reader.problem(
            ORIGIN_CERT_VALIDITY, f"{validity} is not a validity Cloudflare issues ({ORIGIN_CERT_VALIDITY.kind})"
        )
    rotation = reader.integer(ORIGIN_CERT_ROTATION)
    if rotation < 0:
        reader.problem(ORIGIN_CERT_ROTATION, f"{rotation} is negative")
    tls_scope: TlsScope = "hostnames"
    scope = reader.choice(TLS_SCOPE, TLS_SCOPES)
    for known in TLS_SCOPES:
        if scope == known:
            tls_scope = known
    extra_strict = reader.strings(STRICT_TLS_EXTRA_HOSTNAMES)
    for name in extra_strict:
        if not (checks.is_hostname(name) and name.endswith("." + domain)):
            reader.problem(
                STRICT_TLS_EXTRA_HOSTNAMES,
                f"{name!r} is not a hostname inside the zone {domain!r}",
                STRICT_TLS_EXTRA_HOSTNAMES.set_command(f"'[\"dev-socket.{domain}\"]'"),
            )
    all_proxied = socket_proxied and livekit_proxied
    origin_lock = reader.boolean(ORIGIN_LOCK, default=all_proxied and zone_id is not None)
    if origin_lock and zone_id is None:
        reader.problem(
            ORIGIN_LOCK,
            "is on without a Cloudflare edge (cloudflareZoneId is not set): nothing would reach 80/443",
            f"{ORIGIN_LOCK.set_command('false')}, or {ZONE_ID.set_command('<zone id>')}",
        )
    elif origin_lock and not all_proxied:
        dns_only = [
            key.name for key, on in ((SOCKET_PROXIED, socket_proxied), (LIVEKIT_PROXIED, livekit_proxied)) if not on
        ]
        reader.problem(
            ORIGIN_LOCK,
            f"is on while {', '.join(dns_only)} is false: a DNS-only hostname is reached directly, "
            "not through Cloudflare, so locking 80/443 to Cloudflare would cut it off",
            f"{ORIGIN_LOCK.set_command('false')}, or proxy every web hostname",
        )
    return EdgeConfig(
        zone_id=zone_id,
        domain=domain,
        socket=Hostname(socket_name, socket_proxied),
        livekit=Hostname(livekit_name, livekit_proxied),
        origin_cert=OriginCertSpec(cert_type, validity, rotation),
        tls_scope=tls_scope,
        origin_lock=origin_lock,
        strict_tls_extra_hostnames=extra_strict,
    )
