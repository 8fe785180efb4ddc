"""The Cloudflare edge: what Cloudflare offers, and the hostnames a stack serves."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

ORIGIN_CERT_TYPES = ("origin-ecc", "origin-rsa")
ORIGIN_CERT_VALIDITY_DAYS = (7, 30, 90, 365, 730, 1095, 5475)

# "none": another stack in the zone owns the configuration rule (a zone has one per phase).
TlsScope = Literal["hostnames", "zone", "none"]
TLS_SCOPES: tuple[TlsScope, ...] = ("hostnames", "zone", "none")


@dataclass(frozen=True)
class Hostname:
    name: str
    proxied: bool

    @property
    def label(self) -> str:
        """The first label, which names the hostname's resources."""
        return self.name.split(".")[0]


@dataclass(frozen=True)
class OriginCertSpec:
    request_type: str
    validity_days: int
    # Bump to renew: a new key, a new CSR, and so a new certificate.
    rotation: int
