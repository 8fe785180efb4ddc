"""Taking over a running setup: adopt its DNS records and Vercel variables, keep its LiveKit keys,
and point DNS back at it to roll a switch back (docs/operations.md, "Cutover")."""

from __future__ import annotations

import re
from dataclasses import dataclass

import pulumi

from config import checks
from config.keys import Key
from config.reader import Reader

ADOPT_EXISTING = Key(
    "adoptExisting",
    "boolean",
    "bool",
    "import the DNS records of the two hostnames and the app's Vercel variables that already exist (looked up by "
    "name), so the first `up` updates them in place instead of failing on them",
    "true",
    default=False,
)
DNS_TARGET_IP = Key(
    "dnsTargetIp",
    "string",
    "IPv4",
    "point the two hostnames here instead of at this stack's host: rolls a switch back to the old server",
    "203.0.113.7",
    default_doc="the host's public IP",
)
LIVEKIT_API_KEY = Key(
    "livekitApiKey",
    "string",
    "LiveKit key id",
    "carry over the API key in use (with `livekitApiSecret`), so tokens the running app mints stay valid through "
    "the switch",
    "APIxxxxxxxxxxxx",
    default_doc="generated",
)
LIVEKIT_API_SECRET = Key(
    "livekitApiSecret",
    "string",
    "32+ characters",
    "the secret of `livekitApiKey`",
    "<the old server's secret>",
    default_doc="generated",
    secret=True,
)
KEYS = (ADOPT_EXISTING, DNS_TARGET_IP, LIVEKIT_API_KEY, LIVEKIT_API_SECRET)

# LiveKit refuses shorter secrets; a key is an identifier in a YAML map and a token's issuer.
MIN_LIVEKIT_SECRET_LENGTH = 32
_LIVEKIT_KEY = re.compile(r"[A-Za-z0-9_-]{3,64}")
_LIVEKIT_SECRET = re.compile(r"[A-Za-z0-9_+/=-]+")


@dataclass(frozen=True)
class CutoverConfig:
    adopt_existing: bool = False
    # None: the records point at the host this stack serves from.
    dns_target_ip: str | None = None
    # None: the stack generates its own key pair.
    livekit_api_key: str | None = None
    livekit_api_secret: pulumi.Output[str] | None = None


def read_cutover(reader: Reader, has_edge: bool, has_vercel: bool) -> CutoverConfig:
    adopt = reader.boolean(ADOPT_EXISTING)
    if adopt and not (has_edge or has_vercel):
        reader.ignored(
            ADOPT_EXISTING,
            "the stack manages no DNS records and no Vercel variables",
            "set cloudflareZoneId or vercelProjectId",
        )
    target = reader.raw(DNS_TARGET_IP)
    if target is not None and not has_edge:
        reader.ignored(
            DNS_TARGET_IP, "the stack manages no DNS records (cloudflareZoneId is not set)", "set cloudflareZoneId"
        )
    elif target is not None and not checks.is_public_ipv4(target):
        reader.problem(DNS_TARGET_IP, f"{target!r} is not a public IPv4 address (the old server's)")
    api_key = reader.raw(LIVEKIT_API_KEY)
    # Read as text only to check it; what reaches a resource is the secret output.
    secret_text = reader.raw(LIVEKIT_API_SECRET)
    if (api_key is None) != (secret_text is None):
        missing, given = (
            (LIVEKIT_API_SECRET, LIVEKIT_API_KEY) if secret_text is None else (LIVEKIT_API_KEY, LIVEKIT_API_SECRET)
        )
        reader.problem(missing, f"is not set while {given.name} is; a key is carried over with its secret")
    if api_key is not None and not _LIVEKIT_KEY.fullmatch(api_key):
        reader.problem(LIVEKIT_API_KEY, f"{api_key!r} is not a LiveKit key id (3-64 letters, digits, _ or -)")
    if secret_text is not None and not (
        len(secret_text) >= MIN_LIVEKIT_SECRET_LENGTH and _LIVEKIT_SECRET.fullmatch(secret_text)
    ):
        # The value is never echoed.
        reader.problem(
            LIVEKIT_API_SECRET,
            f"is not a LiveKit secret ({MIN_LIVEKIT_SECRET_LENGTH}+ letters, digits or base64 characters)",
        )
    secret = reader.secret(LIVEKIT_API_SECRET) if api_key is not None and secret_text is not None else None
    return CutoverConfig(adopt, target, api_key if secret is not None else None, secret)
