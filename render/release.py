"""One release: every file the host needs, split into plain and secret files, with a content id."""

from __future__ import annotations

import base64
import hashlib
import json
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from components import ports
from render import firewall
from render.caddy import CERTIFICATE_DIR_IN_CONTAINER, HEALTH_ROUTE, render_caddyfile, sites_for
from render.compose import PROJECT, SOCKET_SERVER_SOURCE_DIR, ComposeSettings, render_compose
from render.livekit import LiveKitSettings, render_key_file, render_livekit_yaml

FILES = Path(__file__).resolve().parents[1] / "files"
LIVEKIT_KEY_FILE = "livekit-keys.yaml"
ORIGIN_KEY_FILE = "origin.key"
SECRET_FILE_NAMES = (LIVEKIT_KEY_FILE, ORIGIN_KEY_FILE)
SOCKET_SERVER_FILES = ("package.json", "package-lock.json", "server.js", "Dockerfile", ".dockerignore")
KEEP_RELEASES = 3


@dataclass(frozen=True)
class ReleaseSettings:
    public_ip: str
    socket_hostname: str
    livekit_hostname: str
    # The Cloudflare Origin CA certificate; None lets Caddy obtain its own.
    certificate_pem: str | None
    ssh_cidrs: Sequence[str]
    web_cidrs: Sequence[str]
    ocpus: int
    memory_gb: int
    socket_server_image: str | None = None
    socket_server_source: Mapping[str, str] = field(default_factory=dict)
    keep_releases: int = KEEP_RELEASES
    firewall_script: str = firewall.SCRIPT_PATH
    gate_attempts: int = 30
    gate_interval_seconds: int = 2


def read_socket_server_source(directory: Path) -> dict[str, str]:
    """The files of a socket server source directory that a release ships (no node_modules)."""
    return {name: (directory / name).read_text() for name in SOCKET_SERVER_FILES if (directory / name).exists()}


def _release_env(settings: ReleaseSettings) -> str:
    services = {settings.socket_hostname: "socket-server", settings.livekit_hostname: "livekit"}
    values = {
        "COMPOSE_PROJECT": PROJECT,
        "GATE_CHECKS": " ".join(f"{host}={service}" for host, service in services.items()),
        "HEALTH_ROUTE": HEALTH_ROUTE,
        "HTTPS_PORT": str(ports.HTTPS.first),
        "GATE_ATTEMPTS": str(settings.gate_attempts),
        "GATE_INTERVAL_SECONDS": str(settings.gate_interval_seconds),
        "LOG_LINES": "40",
        "KEEP_RELEASES": str(settings.keep_releases),
        "FIREWALL_SCRIPT": settings.firewall_script,
        "SECRET_FILES": " ".join(secret_file_names(settings.certificate_pem is not None)),
    }
    return "".join(f"{key}={shlex.quote(value)}\n" for key, value in values.items())


def render_plain_files(settings: ReleaseSettings) -> dict[str, str]:
    # Behind Cloudflare's ranges the client address comes from CF-Connecting-IP/X-Forwarded-For.
    origin_locked = tuple(settings.web_cidrs) != ("0.0.0.0/0",)
    has_certificate = settings.certificate_pem is not None
    files = {
        "docker-compose.yml": render_compose(
            ComposeSettings(settings.ocpus, settings.memory_gb, settings.socket_server_image, has_certificate)
        ),
        "livekit.yaml": render_livekit_yaml(LiveKitSettings(public_ip=settings.public_ip)),
        "Caddyfile": render_caddyfile(
            sites_for(settings.socket_hostname, settings.livekit_hostname),
            trusted_proxies=settings.web_cidrs if origin_locked else (),
            certificate_dir=CERTIFICATE_DIR_IN_CONTAINER if has_certificate else None,
        ),
        "firewall.sh": firewall.render_firewall_script(settings.ssh_cidrs, settings.web_cidrs),
        "release.sh": (FILES / "release.sh").read_text(),
        "release.env": _release_env(settings),
    }
    if settings.certificate_pem is not None:
        files["origin.pem"] = settings.certificate_pem
    if settings.socket_server_image is None:
        for name, content in sorted(settings.socket_server_source.items()):
            files[f"{SOCKET_SERVER_SOURCE_DIR}/{name}"] = content
    return files


def secret_file_names(with_origin_key: bool) -> tuple[str, ...]:
    return SECRET_FILE_NAMES if with_origin_key else (LIVEKIT_KEY_FILE,)


def render_secret_files(livekit_api_key: str, livekit_api_secret: str, origin_key_pem: str | None) -> dict[str, str]:
    files = {LIVEKIT_KEY_FILE: render_key_file(livekit_api_key, livekit_api_secret)}
    if origin_key_pem is not None:
        files[ORIGIN_KEY_FILE] = origin_key_pem
    return files


def release_id(plain_files: Mapping[str, str], secret_files: Mapping[str, str]) -> str:
    """A content hash: equal files give an equal id; any change (a rotated secret too) a new one."""
    digest = hashlib.sha256()
    for files in (plain_files, secret_files):
        digest.update(json.dumps(sorted(files.items())).encode())
    return digest.hexdigest()[:16]


def secrets_stdin(secret_files: Mapping[str, str]) -> str:
    """What `release.sh receive-secrets` reads: one `name base64` line per secret file."""
    return "".join(
        f"{name} {base64.b64encode(content.encode()).decode()}\n" for name, content in sorted(secret_files.items())
    )
