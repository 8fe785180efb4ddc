"""The app on the host: the socket server (pulled as an image or built from a source folder), and
how long a rollout waits for it."""

from __future__ import annotations

import re
from pathlib import Path

from config import checks
from config.keys import Key
from config.reader import Reader
from model.app import SocketServer
from model.layout import SOCKET_SERVER_FILES

# Tags that name whatever was pushed last: a rollout would not be reproducible.
MUTABLE_TAGS = ("latest", "stable", "main", "master", "edge", "nightly")
PROJECT_DIR = Path(__file__).resolve().parents[1]
REQUIRED_SOURCE_FILES = ("package.json", "Dockerfile")
_IMAGE_REF = re.compile(
    r"[a-z0-9]+([._/-][a-z0-9]+)*(:[0-9]+)?(/[a-z0-9._-]+)*(:[A-Za-z0-9._-]{1,128})?(@sha256:[0-9a-f]{64})?"
)

SOCKET_SERVER_IMAGE = Key(
    "socketServerImage",
    "string",
    "image ref with tag or digest",
    "pull the app's socket server image instead of building",
    "ghcr.io/<owner>/<image>:<version>",
    default_doc="none",
)
SOCKET_SERVER_SOURCE = Key(
    "socketServerSource",
    "string",
    "path",
    "directory (package.json, package-lock.json, Dockerfile, server.js) built on the host when no image is set",
    "files/socket-server",
    default="files/socket-server",
)
HEALTH_GATE_SECONDS = Key(
    "healthGateSeconds",
    "integer",
    "int",
    "how long a rollout waits for each hostname to answer through Caddy before it restores the previous release",
    "120",
    default=60,
)
ALLOWED_ORIGINS = Key(
    "allowedOrigins",
    "array",
    "list of origins",
    "browser origins the socket server accepts (its `CORS_ORIGINS`); `https://*.<domain>` for every subdomain",
    "'[\"https://space.flow-coder.com\"]'",
    default_doc="`https://<domain>` and `https://*.<domain>`",
)
KEYS = (SOCKET_SERVER_IMAGE, SOCKET_SERVER_SOURCE, HEALTH_GATE_SECONDS, ALLOWED_ORIGINS)
_ORIGIN = re.compile(r"https?://(\*\.)?(?P<host>[a-z0-9.-]+)(:[0-9]{1,5})?")
# Long enough for a socket server image to build on a small VM.
MAX_HEALTH_GATE_SECONDS = 1800


def read_health_gate_seconds(reader: Reader) -> int:
    seconds = reader.integer(HEALTH_GATE_SECONDS)
    if not 1 <= seconds <= MAX_HEALTH_GATE_SECONDS:
        reader.problem(HEALTH_GATE_SECONDS, f"{seconds} is outside 1-{MAX_HEALTH_GATE_SECONDS} seconds")
    return seconds


def read_allowed_origins(reader: Reader, domain: str) -> tuple[str, ...]:
    origins = reader.strings(ALLOWED_ORIGINS, default=()) or (f"https://{domain}", f"https://*.{domain}")
    for origin in origins:
        match = _ORIGIN.fullmatch(origin)
        if match is None or not (checks.is_hostname(match["host"]) or match["host"] == "localhost"):
            reader.problem(
                ALLOWED_ORIGINS,
                f"{origin!r} is not a browser origin like https://space.flow-coder.com or https://*.flow-coder.com",
            )
    return origins


def read_socket_server(reader: Reader, domain: str) -> SocketServer:
    gate = read_health_gate_seconds(reader)
    origins = read_allowed_origins(reader, domain)
    image = reader.raw(SOCKET_SERVER_IMAGE)
    if image is not None:
        tag = image.rsplit("/", 1)[-1].partition("@")[0].partition(":")[2]
        pinned = "@sha256:" in image or (tag != "" and tag not in MUTABLE_TAGS)
        if not (_IMAGE_REF.fullmatch(image) and pinned):
            reader.problem(
                SOCKET_SERVER_IMAGE,
                f"{image!r} is not an image reference pinned to a version tag or digest "
                f"(e.g. ghcr.io/acme/socket:1.4.2; not {', '.join(MUTABLE_TAGS)})",
            )
        return SocketServer(image, health_gate_seconds=gate, allowed_origins=origins)
    source_text = reader.text(SOCKET_SERVER_SOURCE) or str(SOCKET_SERVER_SOURCE.default)
    source_dir = (PROJECT_DIR / source_text).resolve()
    missing = [name for name in REQUIRED_SOURCE_FILES if not (source_dir / name).is_file()]
    if missing:
        reader.problem(
            SOCKET_SERVER_SOURCE,
            f"{source_text!r} has no {' or '.join(missing)}; the host builds the socket server from it",
            f"{SOCKET_SERVER_SOURCE.set_command()}, or pull an image: {SOCKET_SERVER_IMAGE.set_command()}",
        )
        return SocketServer(None, health_gate_seconds=gate, allowed_origins=origins)
    files: dict[str, str] = {}
    for name in SOCKET_SERVER_FILES:
        path = source_dir / name
        if not path.is_file():
            continue
        try:
            files[name] = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            reader.problem(SOCKET_SERVER_SOURCE, f"{source_text}/{name} cannot be read as UTF-8 text ({error})")
    return SocketServer(None, files, gate, origins)
