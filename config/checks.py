"""Checks of single values by their kind; each matches the whole value, newlines included."""

from __future__ import annotations

import ipaddress
import re

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.serialization import (
    load_pem_private_key,
    load_ssh_private_key,
    load_ssh_public_key,
)

from config.keys import Key
from config.reader import Reader

_OCID = re.compile(r"ocid1\.(?P<kind>[a-z0-9]+)\.oc[0-9]+\.[a-z0-9-]*\.[a-z0-9]{20,}")
_HOST_LABEL = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)")


def ocid(reader: Reader, key: Key, value: str, kinds: tuple[str, ...]) -> None:
    match = _OCID.fullmatch(value)
    if match is None or match.group("kind") not in kinds:
        wanted = " or ".join(f"ocid1.{kind}..." for kind in kinds)
        reader.problem(key, f"{value!r} is not an OCID of the form {wanted}")


def cidr(reader: Reader, key: Key, value: str, example: str) -> ipaddress.IPv4Network | None:
    try:
        return ipaddress.IPv4Network(value, strict=True)
    except ValueError:
        reader.problem(key, f"{value!r} is not an IPv4 CIDR block with its host bits zero (e.g. {example})")
        return None


def is_hostname(name: str) -> bool:
    labels = name.split(".")
    return len(name) <= 253 and len(labels) >= 2 and all(_HOST_LABEL.fullmatch(label) for label in labels)


def is_ipv4(text: str) -> bool:
    try:
        ipaddress.IPv4Address(text)
    except ValueError:
        return False
    return True


def is_public_ipv4(text: str) -> bool:
    """An address browsers on the internet can reach: not private, loopback, unspecified or multicast."""
    if not is_ipv4(text):
        return False
    address = ipaddress.IPv4Address(text)
    return address.is_global and not (address.is_multicast or address.is_reserved)


def ssh_private_key(reader: Reader, key: Key, value: str) -> None:
    """Parsed now, not at the first SSH dial; nothing of it is ever shown."""
    load = load_ssh_private_key if "OPENSSH PRIVATE KEY" in value else load_pem_private_key
    try:
        load(value.encode(), password=None)
    except TypeError:
        reader.problem(
            key,
            "is protected by a passphrase, which the rollout cannot type; give it a copy without one",
            f"cp ~/.ssh/<key> /tmp/k && ssh-keygen -p -N '' -f /tmp/k && pulumi config set --secret {key.full_name} "
            "< /tmp/k",
        )
    except UnsupportedAlgorithm:
        reader.problem(
            key,
            "cannot be read here (a passphrase-protected OpenSSH key, or an unknown algorithm); give it an "
            "ed25519 or RSA key without a passphrase",
            f"pulumi config set --secret {key.full_name} < ~/.ssh/<key>",
        )
    except ValueError:
        reader.problem(
            key,
            "is not an SSH private key (OpenSSH or PEM)",
            f"pulumi config set --secret {key.full_name} < ~/.ssh/<key>",
        )


def openssh_public_key(reader: Reader, key: Key, value: str) -> None:
    single_line = "\n" not in value and "\r" not in value
    try:
        load_ssh_public_key(value.encode())
    except (ValueError, TypeError, UnsupportedAlgorithm):
        single_line = False
    if not single_line:
        shown = value if len(value) <= 40 else value[:37] + "..."
        reader.problem(
            key,
            f"{shown!r} is not one OpenSSH public key on one line (like 'ssh-ed25519 AAAA... you@host')",
            f"pulumi config set --path '{key.full_name}[0]' \"$(cat ~/.ssh/id_ed25519.pub)\""
            if key.type == "array"
            else f"pulumi config set {key.full_name} \"$(ssh-keyscan -t ed25519 <host> | cut -d' ' -f2-)\"",
        )


def in_zone(reader: Reader, key: Key, name: str, domain: str) -> bool:
    """A valid hostname inside the zone; otherwise a problem with the key's example in the zone."""
    example = key.set_command(f"{key.example.split('.')[0]}.{domain or 'flow-coder.com'}")
    if not is_hostname(name):
        reader.problem(key, f"{name!r} is not a valid hostname", example)
        return False
    if domain and not name.endswith("." + domain):
        reader.problem(key, f"{name!r} is not inside the zone {domain!r}", example)
        return False
    return True
