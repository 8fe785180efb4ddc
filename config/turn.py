"""TURN/TLS: LiveKit's TURN over TLS on 443 of its own DNS-only hostname, for networks that let
nothing else out, with a Let's Encrypt certificate obtained by the program (ACME DNS-01 through
Cloudflare) and renewed by a later `pulumi up` (docs/architecture.md, "TURN/TLS")."""

from __future__ import annotations

import os
from dataclasses import dataclass

import pulumi

from config import checks
from config.cost import EMAIL
from config.edge import LIVEKIT_HOSTNAME, ORIGIN_LOCK, SOCKET_HOSTNAME, ZONE_ID, EdgeConfig
from config.keys import Key
from config.reader import Reader
from model.edge import Hostname

LETS_ENCRYPT = "https://acme-v02.api.letsencrypt.org/directory"
LETS_ENCRYPT_STAGING = "https://acme-staging-v02.api.letsencrypt.org/directory"

TURN_HOSTNAME = Key(
    "turnHostname",
    "string",
    "hostname",
    "TURN/TLS on 443 for networks that block UDP and other ports: a DNS-only hostname inside `domain` "
    "(needs the origin lock and `acmeEmail`)",
    "space-turn.flow-coder.com",
    default_doc="off",
)
ACME_EMAIL = Key(
    "acmeEmail",
    "string",
    "e-mail",
    "the ACME account's contact for the TURN/TLS certificate (expiry notices)",
    "ops@flow-coder.com",
    default_doc="*required* with `turnHostname`",
)
ACME_SERVER = Key(
    "acmeServer",
    "string",
    "https URL",
    f"the ACME directory that issues the TURN/TLS certificate; Let's Encrypt's staging is `{LETS_ENCRYPT_STAGING}`",
    LETS_ENCRYPT_STAGING,
    default=LETS_ENCRYPT,
)
KEYS = (TURN_HOSTNAME, ACME_EMAIL, ACME_SERVER)
# The DNS-01 challenge writes a TXT record with the Cloudflare provider's own token.
CLOUDFLARE_TOKEN_CONFIG = "cloudflare:apiToken"
CLOUDFLARE_TOKEN_VARIABLE = "CLOUDFLARE_API_TOKEN"


@dataclass(frozen=True)
class TurnConfig:
    hostname: str
    acme_email: str
    acme_server: str


def read_turn(reader: Reader, edge: EdgeConfig) -> TurnConfig | None:
    hostname = (reader.raw(TURN_HOSTNAME) or "").lower()
    if not hostname:
        for key in (ACME_EMAIL, ACME_SERVER):
            if reader.raw(key) not in (None, key.default):
                reader.ignored(key, "TURN/TLS is off without turnHostname", TURN_HOSTNAME.set_command())
        return None
    if checks.in_zone(reader, TURN_HOSTNAME, hostname, edge.domain) and hostname in {h.name for h in edge.hostnames}:
        reader.problem(
            TURN_HOSTNAME,
            f"{hostname!r} is already {SOCKET_HOSTNAME.name} or {LIVEKIT_HOSTNAME.name}; TURN/TLS needs a DNS-only "
            "hostname of its own (Cloudflare cannot proxy TURN)",
            TURN_HOSTNAME.set_command(),
        )
    else:
        label = Hostname(hostname, proxied=False).label
        for other in edge.hostnames:
            if other.label == label:
                reader.problem(
                    TURN_HOSTNAME,
                    f"{hostname!r} begins with the same label as {other.name!r}; each hostname's DNS record is "
                    "named after its first label, so the two would collide",
                    TURN_HOSTNAME.set_command(),
                )
    if edge.zone_id is None:
        reader.problem(
            TURN_HOSTNAME,
            "needs the Cloudflare zone: its DNS-only record and the certificate's DNS challenge live there",
            ZONE_ID.set_command("<zone id>"),
        )
    elif not edge.origin_lock:
        reader.problem(
            TURN_HOSTNAME,
            "needs the origin lock: 443 is split by source, Cloudflare's ranges to Caddy and everyone else to TURN",
            ORIGIN_LOCK.set_command("true"),
        )
    email = reader.raw(ACME_EMAIL) or ""
    if not email:
        reader.problem(ACME_EMAIL, "is required with turnHostname (the certificate's ACME account)")
    elif not EMAIL.fullmatch(email):
        reader.problem(ACME_EMAIL, f"{email!r} is not an e-mail address")
    server = reader.text(ACME_SERVER) or LETS_ENCRYPT
    if not server.startswith("https://") or any(c.isspace() for c in server):
        reader.problem(ACME_SERVER, f"{server!r} is not an https URL of an ACME directory")
    return TurnConfig(hostname, email, server)


def cloudflare_token() -> pulumi.Output[str] | None:
    """The token the Cloudflare provider uses, from its config or its environment variable."""
    configured = pulumi.Config("cloudflare").get_secret("apiToken")
    if configured is not None:
        return configured
    from_environment = os.environ.get(CLOUDFLARE_TOKEN_VARIABLE)
    return pulumi.Output.secret(from_environment) if from_environment else None
