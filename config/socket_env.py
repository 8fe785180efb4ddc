"""The socket server's own environment (plain and secret), its access to LiveKit, and the login
for a private registry."""

from __future__ import annotations

import re
from dataclasses import dataclass

import pulumi

from config.keys import Key
from config.reader import Reader
from model.app import env_lines

ENVIRONMENT = Key(
    "socketServerEnv",
    "array",
    "list of `NAME=value`",
    "plain environment variables of the socket server",
    '\'["GAME_TICK_MS=50", "LOG_LEVEL=info"]\'',
    default=(),
)
SECRET_ENVIRONMENT = Key(
    "socketServerSecretEnv",
    "string",
    "`NAME=value` lines",
    "secret environment variables of the socket server, from a file: "
    "`pulumi config set --secret flowspace:socketServerSecretEnv < server.env`; on the host a 0600 file",
    "~/server.env",
    default_doc="none",
    secret=True,
)
LIVEKIT_ACCESS = Key(
    "socketServerLivekitAccess",
    "boolean",
    "bool",
    "give the socket server LIVEKIT_URL, LIVEKIT_API_KEY and (secret) LIVEKIT_API_SECRET",
    "true",
    default=False,
)
REGISTRY_USER = Key(
    "socketServerRegistryUser",
    "string",
    "string",
    "user for the registry of `socketServerImage` (private images; e.g. the GitHub user for ghcr.io)",
    "flowcoder-bot",
    default_doc="none: a public image",
)
REGISTRY_PASSWORD = Key(
    "socketServerRegistryPassword",
    "string",
    "secret",
    "its password or token (ghcr.io: a token with `read:packages`); handed to `docker login` on stdin",
    "<token>",
    default_doc="none",
    secret=True,
)
KEYS = (ENVIRONMENT, SECRET_ENVIRONMENT, LIVEKIT_ACCESS, REGISTRY_USER, REGISTRY_PASSWORD)

# Set by the stack itself: an app variable of the same name would be silently replaced.
RESERVED = frozenset(
    {"NODE_ENV", "PORT", "HOST", "CORS_ORIGINS", "LIVEKIT_URL", "LIVEKIT_API_KEY", "LIVEKIT_API_SECRET"}
)
_NAME = re.compile(r"[A-Z_][A-Z0-9_]*")
_USER = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,127}")


@dataclass(frozen=True)
class SocketSecrets:
    # NAME=value lines as set; checked here, written to the host as a 0600 env file.
    environment: pulumi.Output[str] | None = None
    registry_password: pulumi.Output[str] | None = None


def _check_pair(reader: Reader, key: Key, line: str, where: str | None = None) -> tuple[str, str] | None:
    """`where` names a secret line instead of showing it."""
    name, equals, value = line.partition("=")
    if not equals or not _NAME.fullmatch(name):
        reader.problem(key, f"{where or repr(line)} is not NAME=value with an upper-case NAME")
    elif name in RESERVED:
        reader.problem(key, f"{name} is set by the stack itself; choose another name")
    elif "'" in value:
        # The env file quotes values literally in single quotes.
        reader.problem(key, f"the value of {name} contains a single quote, which an env file cannot carry")
    else:
        return name, value
    return None


def read_environment(reader: Reader) -> tuple[tuple[str, str], ...]:
    pairs = [_check_pair(reader, ENVIRONMENT, line) for line in reader.strings(ENVIRONMENT)]
    return tuple(pair for pair in pairs if pair is not None)


def read_secret_environment(reader: Reader, plain_names: set[str]) -> pulumi.Output[str] | None:
    # Read as text only to check it; the values are never echoed.
    text = reader.multiline(SECRET_ENVIRONMENT)
    if text is None:
        return None
    for number, line in env_lines(text):
        pair = _check_pair(reader, SECRET_ENVIRONMENT, line, f"line {number}")
        if pair is not None and pair[0] in plain_names:
            reader.problem(SECRET_ENVIRONMENT, f"{pair[0]} is also in socketServerEnv; set it in one place")
    return reader.secret(SECRET_ENVIRONMENT)


def registry_host(image: str) -> str:
    """Docker's rule: the first path segment is a registry when it has a dot or a port, or is localhost."""
    first, slash, _ = image.partition("/")
    return first if slash and ("." in first or ":" in first or first == "localhost") else "docker.io"


def read_registry(reader: Reader, image: str | None) -> tuple[str | None, pulumi.Output[str] | None]:
    user = reader.raw(REGISTRY_USER)
    password = reader.secret(REGISTRY_PASSWORD)
    if user is None and password is None:
        return None, None
    if image is None:
        reader.ignored(
            REGISTRY_USER if user else REGISTRY_PASSWORD,
            "socketServerImage is not set; the socket server is built from source",
            "pulumi config set flowspace:socketServerImage <registry>/<image>@sha256:<digest>",
        )
        return None, None
    if user is None or password is None:
        missing = REGISTRY_USER if user is None else REGISTRY_PASSWORD
        reader.problem(missing, "is not set; a registry login needs both the user and the password")
        return None, None
    if not _USER.fullmatch(user):
        reader.problem(REGISTRY_USER, f"{user!r} is not a registry user name")
    if "@sha256:" not in image:
        reader.problem(
            REGISTRY_USER,
            f"the private image {image!r} is not pinned by digest; a rollout must pull exactly what CI pushed",
            "pulumi config set flowspace:socketServerImage <registry>/<image>@sha256:<digest>",
        )
    return user, password
