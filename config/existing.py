"""An existing server: a host that already runs (any provider), rolled onto over SSH."""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass

import pulumi

from config import checks
from config.keys import Key
from config.reader import Reader
from model import ports
from model.tuning import CONTAINER_NOFILE

TARGET_HOST = Key(
    "targetHost",
    "string",
    "IPv4 or hostname",
    "the server to deploy onto; turns this mode on (`compartmentId` is then not needed)",
    "203.0.113.7",
    default_doc="none",
)
TARGET_USER = Key("targetUser", "string", "string", "SSH login", "ubuntu", default="ubuntu")
TARGET_PRIVATE_KEY = Key(
    "targetPrivateKey",
    "string",
    "secret",
    "the SSH private key: `pulumi config set --secret flowspace:targetPrivateKey < ~/.ssh/<key>`",
    "~/.ssh/<key>",
    default_doc="*required* with `targetHost`",
    secret=True,
)
TARGET_HOST_KEY = Key(
    "targetHostKey",
    "string",
    "OpenSSH public key",
    "pin the server's host key (`ssh-keyscan -t ed25519 <host>`, checked out of band); without it the host key is "
    "not verified",
    '"ssh-ed25519 AAAA..."',
    default_doc="none",
)
TARGET_PUBLIC_IP = Key(
    "targetPublicIp",
    "string",
    "IPv4",
    "what LiveKit advertises for media",
    "203.0.113.7",
    default_doc="`targetHost` when it is an address",
)
TARGET_PORT = Key("targetPort", "integer", "int", "SSH port of the server", "2222", default=ports.SSH.first)
ACCEPT_ANY_HOST_KEY = Key(
    "acceptAnyHostKey",
    "boolean",
    "bool",
    "connect without verifying the server's host key when `targetHostKey` is not set (a warning on every run)",
    "true",
    default=False,
)
TARGET_OPEN_FILES = Key(
    "targetOpenFiles",
    "integer",
    "int",
    "the services' open-file limit (4096-65536); lower it only for a host (a container, some VPS) whose dockerd "
    "cannot raise its hard limit that far, which fails every container's start",
    "20000",
    default=CONTAINER_NOFILE,
)
KEYS = (
    TARGET_HOST,
    TARGET_PORT,
    TARGET_USER,
    TARGET_PRIVATE_KEY,
    TARGET_HOST_KEY,
    ACCEPT_ANY_HOST_KEY,
    TARGET_PUBLIC_IP,
    TARGET_OPEN_FILES,
)
# Below this LiveKit runs out of sockets with a few rooms.
MIN_OPEN_FILES = 4096
_POSIX_USER = re.compile(r"[a-z_][a-z0-9_-]{0,31}")


@dataclass(frozen=True)
class ExistingServerConfig:
    address: str
    port: int
    user: str
    public_ip: str
    private_key: pulumi.Output[str]
    # Pinned when given; without it the SSH host key is not checked.
    host_key: str | None
    # The services' open-file limit (ulimit nofile).
    open_files: int = CONTAINER_NOFILE

    @property
    def identity(self) -> str:
        """Which machine this is: the address, and the host key's fingerprint when it is pinned (a
        machine replaced at the same address has a new one, and gets the release again)."""
        if self.host_key is None:
            return self.address
        blob = base64.b64decode(self.host_key.split()[1])
        return f"{self.address}#SHA256:{base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip('=')}"


def _refuse_dropped(reader: Reader) -> None:
    """Without targetHost the program creates the server: a target setting would silently do nothing."""
    for key in KEYS:
        if key is TARGET_HOST:
            continue
        value = reader.raw(key) if not key.secret else ("set" if reader.secret(key) is not None else None)
        default = None if key.default is None else str(key.default).lower()
        if value is not None and value.lower() != default:
            reader.ignored(
                key,
                "targetHost is not set, so the program creates the server itself",
                f"{TARGET_HOST.set_command()} to deploy onto an existing server",
            )


def read_existing_server(reader: Reader) -> ExistingServerConfig | None:
    address = reader.raw(TARGET_HOST)
    if address is None:
        _refuse_dropped(reader)
        return None
    if not (checks.is_ipv4(address) or checks.is_hostname(address.lower())):
        reader.problem(TARGET_HOST, f"{address!r} is neither an IPv4 address nor a hostname")
    port = reader.integer(TARGET_PORT)
    if not 1 <= port <= 65535:
        reader.problem(TARGET_PORT, f"{port} is not a TCP port (1-65535)")
    user = reader.text(TARGET_USER) or "ubuntu"
    if not _POSIX_USER.fullmatch(user):
        reader.problem(TARGET_USER, f"{user!r} is not a POSIX user name (lower case, digits, _ and -)")
    public_ip = reader.raw(TARGET_PUBLIC_IP) or (address if checks.is_ipv4(address) else "")
    if not checks.is_public_ipv4(public_ip):
        reader.problem(
            TARGET_PUBLIC_IP,
            f"{public_ip or 'nothing'!r} is not the server's public IPv4 address (LiveKit advertises it to browsers "
            "for media, so a private, loopback or unspecified address would leave every call without media)",
        )
    host_key = reader.raw(TARGET_HOST_KEY)
    accept_any = reader.boolean(ACCEPT_ANY_HOST_KEY)
    if host_key is not None:
        checks.openssh_public_key(reader, TARGET_HOST_KEY, host_key)
        if accept_any:
            reader.problem(
                ACCEPT_ANY_HOST_KEY,
                "is true while targetHostKey pins the server's key; the pin is what protects the secrets",
                f"pulumi config rm {ACCEPT_ANY_HOST_KEY.full_name}",
            )
    elif not accept_any:
        reader.problem(
            TARGET_HOST_KEY,
            "is not set: the rollout sends secrets over SSH and must know the server's host key",
            f"{TARGET_HOST_KEY.set_command()} (ssh-keyscan -t ed25519 {address}, checked out of band), or accept "
            f"any key knowingly: {ACCEPT_ANY_HOST_KEY.set_command()}",
        )
    private_key = reader.secret(TARGET_PRIVATE_KEY)
    key_text = reader.multiline(TARGET_PRIVATE_KEY)
    if key_text is not None:
        checks.ssh_private_key(reader, TARGET_PRIVATE_KEY, key_text)
    if private_key is None:
        reader.problem(TARGET_PRIVATE_KEY, "is not set; it is the SSH private key the rollout logs in with")
        private_key = pulumi.Output.secret("")
    open_files = reader.integer(TARGET_OPEN_FILES)
    if not MIN_OPEN_FILES <= open_files <= CONTAINER_NOFILE:
        reader.problem(TARGET_OPEN_FILES, f"{open_files} is not between {MIN_OPEN_FILES} and {CONTAINER_NOFILE}")
    return ExistingServerConfig(address, port, user, public_ip, private_key, host_key, open_files)
