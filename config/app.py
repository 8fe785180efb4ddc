"""The app on the host: the socket server (pulled as an image or built from a source folder), and
how long a rollout waits for it."""

from __future__ import annotations

import os
import re
from pathlib import Path

from config import checks
from config.keys import Key
from config.reader import Reader
from model.app import MUTABLE_TAGS, SocketServer, is_pinned_image
from model.source_tree import (
    ALWAYS_EXCLUDED,
    MAX_SOURCE_BYTES,
    SourceFile,
    SourceTree,
    is_ignored,
    parse_dockerignore,
)

# Tags that name whatever was pushed last: a rollout would not be reproducible.
PROJECT_DIR = Path(__file__).resolve().parents[1]
REQUIRED_SOURCE_FILES = ("package.json", "Dockerfile")

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
    "folder with a Dockerfile, built on the host when no image is set: shipped whole as `docker build` sees it "
    "(`.dockerignore` honoured, never `node_modules` or `.git`), up to 20 MiB",
    "reference-socket-server",
    default="reference-socket-server",
)
SOCKET_SERVER_REFERENCE = Key(
    "socketServerReference",
    "boolean",
    "bool",
    "deploy the reference socket server (`reference-socket-server`: Socket.io echo and `/health`, not the app's game "
    "server) knowingly; a stack that names neither its own `socketServerSource` nor a `socketServerImage` is refused "
    "without it",
    "true",
    default=False,
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
KEYS = (SOCKET_SERVER_IMAGE, SOCKET_SERVER_SOURCE, SOCKET_SERVER_REFERENCE, HEALTH_GATE_SECONDS, ALLOWED_ORIGINS)
_ORIGIN = re.compile(r"https?://(\*\.)?(?P<host>[a-z0-9.-]+)(:[0-9]{1,5})?")
# Long enough for a socket server image to build on a small VM.
MAX_HEALTH_GATE_SECONDS = 1800


def read_health_gate_seconds(reader: Reader) -> int:
    seconds = reader.integer(HEALTH_GATE_SECONDS)
    if not 1 <= seconds <= MAX_HEALTH_GATE_SECONDS:
        reader.problem(HEALTH_GATE_SECONDS, f"{seconds} is outside 1-{MAX_HEALTH_GATE_SECONDS} seconds")
    return seconds


def read_allowed_origins(reader: Reader, domain: str) -> tuple[str, ...]:
    # Pulumi fills in the declared default ([]) when the key is unset: empty means the default.
    given = reader.strings(ALLOWED_ORIGINS, default=())
    origins = given or (f"https://{domain}", f"https://*.{domain}")
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
    reference = reader.boolean(SOCKET_SERVER_REFERENCE)
    source_text = reader.text(SOCKET_SERVER_SOURCE) or str(SOCKET_SERVER_SOURCE.default)
    source_dir = (PROJECT_DIR / source_text).resolve()
    is_reference = image is None and source_dir == (PROJECT_DIR / str(SOCKET_SERVER_SOURCE.default)).resolve()
    if is_reference and not reference:
        # /health answers either way, so the gate would pass: the app's own server must be named.
        reader.problem(
            SOCKET_SERVER_REFERENCE,
            f"is not set, and no other socket server is named: the stack would deploy the reference server "
            f"({SOCKET_SERVER_SOURCE.default}: an echo server, not the app's game server)",
            f"{SOCKET_SERVER_SOURCE.set_command('<folder of the app socket server>')}, or "
            f"{SOCKET_SERVER_IMAGE.set_command()}, or, to run the reference server knowingly, "
            f"{SOCKET_SERVER_REFERENCE.set_command()}",
        )
    elif reference and not is_reference:
        reader.ignored(
            SOCKET_SERVER_REFERENCE,
            "the stack names its own socket server (socketServerSource or socketServerImage)",
            "keep the app's server",
        )
    if image is not None:
        if not is_pinned_image(image):
            reader.problem(
                SOCKET_SERVER_IMAGE,
                f"{image!r} is not an image reference pinned to a version tag or digest "
                f"(e.g. ghcr.io/acme/socket:1.4.2; not {', '.join(MUTABLE_TAGS)})",
            )
        return SocketServer(image, health_gate_seconds=gate, allowed_origins=origins)
    missing = [name for name in REQUIRED_SOURCE_FILES if not (source_dir / name).is_file()]
    if missing:
        reader.problem(
            SOCKET_SERVER_SOURCE,
            f"{source_text!r} has no {' or '.join(missing)}; the host builds the socket server from it",
            f"{SOCKET_SERVER_SOURCE.set_command()}, or pull an image: {SOCKET_SERVER_IMAGE.set_command()}",
        )
        return SocketServer(None, health_gate_seconds=gate, allowed_origins=origins)
    tree, problems = read_source_tree(source_dir)
    for problem in problems:
        reader.problem(SOCKET_SERVER_SOURCE, f"{source_text}: {problem}")
    return SocketServer(None, tree, gate, origins)


def read_source_tree(directory: Path) -> tuple[SourceTree, list[str]]:
    """The folder as `docker build` would send it, and what keeps it from being shipped."""
    ignore_file = directory / ".dockerignore"
    rules = parse_dockerignore(ignore_file.read_text(encoding="utf-8")) if ignore_file.is_file() else ()
    # A folder left out entirely is not walked, unless a `!` rule might bring a file of it back.
    prune = not any(rule.reinclude for rule in rules)
    files: list[SourceFile] = []
    problems: list[str] = []
    for folder, subfolders, names in os.walk(directory):
        relative = Path(folder).relative_to(directory)
        kept = []
        for name in sorted(subfolders):
            path = (relative / name).as_posix()
            if (directory / path).is_symlink():
                names.append(name)
            elif name not in ALWAYS_EXCLUDED and not (prune and is_ignored(rules, path)):
                kept.append(name)
        subfolders[:] = kept
        for name in sorted(names):
            path = (relative / name).as_posix()
            if is_ignored(rules, path):
                continue
            full = directory / path
            if full.is_symlink():
                problems.append(f"{path} is a symbolic link; ship the file itself or list it in .dockerignore")
                continue
            files.append(SourceFile(path, full.read_bytes(), os.access(full, os.X_OK)))
    tree = SourceTree(tuple(sorted(files, key=lambda file: file.path)))
    if tree.size > MAX_SOURCE_BYTES:
        largest = sorted(tree.files, key=lambda file: len(file.content), reverse=True)[:5]
        listed = ", ".join(f"{file.path} ({len(file.content) // 1024} KiB)" for file in largest)
        problems.append(
            f"is {tree.size // (1024 * 1024)} MiB as docker build would see it, above the "
            f"{MAX_SOURCE_BYTES // (1024 * 1024)} MiB a release ships; the largest: {listed}. List build output "
            "and assets in its .dockerignore, or build an image in CI and set socketServerImage"
        )
    return tree, problems
