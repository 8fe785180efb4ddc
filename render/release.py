"""One release: every file the host needs, split into plain and secret files, with a content id."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from model import layout, ports, versions
from model.app import Registry, env_pairs
from model.compute import DEFAULT_MAINTENANCE_WINDOW_UTC
from model.ports import Ingress
from model.source_tree import SourceTree
from model.tuning import CONTAINER_NOFILE
from render import egress, firewall, tuning, upkeep
from render.caddy import CADDY_ADMIN_SOCKET, CERTIFICATE_FILE, HEALTH_ROUTE, KEY_FILE, render_caddyfile, sites_for
from render.compose import ComposeSettings, render_compose, render_env_file
from render.livekit import LiveKitSettings, render_key_file, render_livekit_yaml
from render.source_archive import source_archive

FILES = Path(__file__).resolve().parents[1] / "files"


@dataclass(frozen=True)
class ReleaseSettings:
    # The stack the release belongs to: a host serves one stack.
    stack: str
    public_ip: str
    socket_hostname: str
    livekit_hostname: str
    # The Cloudflare Origin CA certificate; None lets Caddy obtain its own.
    certificate_pem: str | None
    ingress: Ingress
    ocpus: int
    memory_gb: int
    socket_server_image: str | None = None
    socket_server_source: SourceTree | None = None
    socket_server_environment: tuple[tuple[str, str], ...] = ()
    # The socket server gets LiveKit's URL (and, in its secret file, the key and secret).
    livekit_access: bool = False
    registry: Registry | None = None
    allowed_origins: Sequence[str] = ()
    keep_releases: int = layout.KEEP_RELEASES
    firewall_script: str = layout.FIREWALL_SCRIPT_PATH
    unit_dir: str = layout.SYSTEMD_UNIT_DIR
    sysctl_path: str = layout.SYSCTL_PATH
    gate_seconds: int = 60
    gate_interval_seconds: int = 2
    # How long an activation waits for another rollout on the same host.
    lock_wait_seconds: int = 600
    # The month-to-date outbound meter (OCI stacks with cost alerts).
    egress_meter: bool = False
    egress_meter_path: str = layout.EGRESS_METER_PATH
    egress_cli_requirements_path: str = layout.EGRESS_CLI_REQUIREMENTS_PATH
    egress_host_env_path: str = layout.EGRESS_HOST_ENV_PATH
    maintenance_window_utc: str = DEFAULT_MAINTENANCE_WINDOW_UTC
    upkeep_apt_conf_path: str = layout.UPKEEP_APT_CONF_PATH
    upkeep_needrestart_path: str = layout.UPKEEP_NEEDRESTART_PATH
    # TURN/TLS's DNS-only hostname (the ingress redirects 443 for it); None: off.
    turn_hostname: str | None = None
    health_interval_seconds: int = 5
    open_files: int = CONTAINER_NOFILE

    def __post_init__(self) -> None:
        if (self.turn_hostname is not None) != self.ingress.turn_tls:
            raise ValueError("a TURN/TLS hostname and the ingress's TURN/TLS redirect go together")
        if self.socket_server_image is None and self.socket_server_source is None:
            raise ValueError("the socket server needs an image or a source to build")

    @cached_property
    def archive(self) -> str | None:
        """The socket server's source as shipped, when the release builds its image."""
        if self.socket_server_image is None and self.socket_server_source is not None:
            return source_archive(self.socket_server_source)
        return None

    @property
    def socket_server_image_name(self) -> str:
        archive = self.archive
        if archive is None:
            assert self.socket_server_image is not None
            return self.socket_server_image
        return f"{layout.SOCKET_SERVER_BUILT_IMAGE}:{hashlib.sha256(archive.encode()).hexdigest()[:16]}"

    @property
    def mounted_files(self) -> tuple[str, ...]:
        """What LiveKit and the env files of compose read, by path in the release."""
        secrets = layout.SECRETS_DIR
        turn = (f"{secrets}/{layout.TURN_CERTIFICATE_FILE}", f"{secrets}/{layout.TURN_KEY_FILE}")
        return (
            layout.LIVEKIT_CONFIG,
            f"{secrets}/{layout.LIVEKIT_KEY_FILE}",
            f"{secrets}/{layout.CADDY_ENV_FILE}",
            f"{secrets}/{layout.SOCKET_SERVER_ENV_FILE}",
            *(turn if self.turn_hostname is not None else ()),
        )

    @property
    def caddy_files(self) -> dict[str, str]:
        """Caddy's folder: its path there → the file in the release."""
        files = {layout.CADDYFILE: layout.CADDYFILE}
        if self.certificate_pem is not None:
            files[CERTIFICATE_FILE] = layout.ORIGIN_CERTIFICATE
            files[KEY_FILE] = f"{layout.SECRETS_DIR}/{layout.ORIGIN_KEY_FILE}"
        return files


def _release_env(settings: ReleaseSettings) -> str:
    services = {settings.socket_hostname: "socket-server", settings.livekit_hostname: "livekit"}
    values = {
        "STACK": settings.stack,
        "RELEASE_SCRIPT": layout.RELEASE_SCRIPT,
        "LOCK_WAIT_SECONDS": str(settings.lock_wait_seconds),
        "COMPOSE_PROJECT": layout.COMPOSE_PROJECT,
        "COMPOSE_FILE": layout.COMPOSE_FILE,
        "FIREWALL_RULES": layout.FIREWALL_RULES,
        "SECRETS_DIR": layout.SECRETS_DIR,
        "SOCKET_SERVER_ARCHIVE": layout.SOCKET_SERVER_ARCHIVE,
        "SOCKET_SERVER_DIR": layout.SOCKET_SERVER_DIR,
        # Built here from the archive when there is one; else pulled.
        "SOCKET_SERVER_IMAGE": settings.socket_server_image_name,
        "SOCKET_SERVER_BUILT_IMAGE": layout.SOCKET_SERVER_BUILT_IMAGE,
        "NODE_IMAGE": versions.NODE_IMAGE,
        "SOCKET_SLOTS": " ".join(f"{slot}={port.port}" for slot, port in ports.SOCKET_SERVER_SLOTS.items()),
        "MOUNTS_DIR": layout.MOUNTS_DIR,
        "MOUNTS_ENV": layout.MOUNTS_ENV,
        "MOUNTS": " ".join(f"{layout.mount_variable(name)}={name}" for name in settings.mounted_files),
        "CADDY_DIR": layout.CADDY_DIR,
        "CADDY_DIR_VARIABLE": layout.CADDY_DIR_VARIABLE,
        "CADDY_DIR_IN_CONTAINER": layout.CADDY_DIR_IN_CONTAINER,
        "CADDYFILE": layout.CADDYFILE,
        "CADDY_FILES": " ".join(f"{target}={name}" for target, name in settings.caddy_files.items()),
        "CADDY_ADMIN": CADDY_ADMIN_SOCKET,
        "SOCKET_UPSTREAM_FILE": layout.SOCKET_UPSTREAM_FILE,
        "LIVE_SLOT_FILE": layout.LIVE_SLOT_FILE,
        "SLOTS_DIR": layout.SLOTS_DIR,
        "GATE_CHECKS": " ".join(f"{host}={service}" for host, service in services.items()),
        "HEALTH_ROUTE": HEALTH_ROUTE,
        "HTTPS_PORT": str(ports.HTTPS.first),
        "GATE_ATTEMPTS": str(max(1, -(-settings.gate_seconds // max(1, settings.gate_interval_seconds)))),
        "GATE_INTERVAL_SECONDS": str(settings.gate_interval_seconds),
        "LOG_LINES": "40",
        "KEEP_RELEASES": str(settings.keep_releases),
        "FIREWALL_SCRIPT": settings.firewall_script,
        "FIREWALL_UNIT": layout.FIREWALL_UNIT,
        "FIREWALL_CHAIN": firewall.CHAIN,
        "SYSCTL_CONF": layout.SYSCTL_CONF,
        "SYSCTL_PATH": settings.sysctl_path,
        "UNIT_DIR": settings.unit_dir,
        "EGRESS_METER": layout.EGRESS_METER if settings.egress_meter else "",
        "EGRESS_METER_PATH": settings.egress_meter_path,
        "EGRESS_SERVICE": layout.EGRESS_SERVICE,
        "EGRESS_TIMER": layout.EGRESS_TIMER,
        "EGRESS_CLI_REQUIREMENTS": layout.EGRESS_CLI_REQUIREMENTS,
        "EGRESS_CLI_REQUIREMENTS_PATH": settings.egress_cli_requirements_path,
        "EGRESS_HOST_ENV_PATH": settings.egress_host_env_path,
        "UPKEEP_APT_CONF": layout.UPKEEP_APT_CONF,
        "UPKEEP_APT_CONF_PATH": settings.upkeep_apt_conf_path,
        "UPKEEP_NEEDRESTART": layout.UPKEEP_NEEDRESTART,
        "UPKEEP_NEEDRESTART_PATH": settings.upkeep_needrestart_path,
        "SECRET_FILES": " ".join(
            layout.secret_file_names(
                settings.certificate_pem is not None, settings.registry is not None, settings.turn_hostname is not None
            )
        ),
        "REGISTRY": settings.registry.host if settings.registry else "",
        "REGISTRY_USER": settings.registry.user if settings.registry else "",
        "REGISTRY_PASSWORD_FILE": layout.REGISTRY_PASSWORD_FILE,
        "GATE_CA_FILE": layout.ORIGIN_CERTIFICATE if settings.certificate_pem is not None else "",
    }
    return "".join(f"{key}={shlex.quote(value)}\n" for key, value in values.items())


def render_plain_files(settings: ReleaseSettings) -> dict[str, str]:
    has_certificate = settings.certificate_pem is not None
    files = {
        layout.COMPOSE_FILE: render_compose(
            ComposeSettings(
                ocpus=settings.ocpus,
                memory_gb=settings.memory_gb,
                socket_server_image=settings.socket_server_image_name,
                socket_server_built=settings.archive is not None,
                allowed_origins=tuple(settings.allowed_origins),
                origin_certificate=has_certificate,
                environment=settings.socket_server_environment,
                livekit_url=f"https://{settings.livekit_hostname}" if settings.livekit_access else None,
                turn_tls=settings.turn_hostname is not None,
                health_interval_seconds=settings.health_interval_seconds,
                open_files=settings.open_files,
            )
        ),
        layout.LIVEKIT_CONFIG: render_livekit_yaml(
            LiveKitSettings(settings.public_ip, turn_hostname=settings.turn_hostname)
        ),
        layout.CADDYFILE: render_caddyfile(
            sites_for(settings.socket_hostname, settings.livekit_hostname),
            # Behind Cloudflare's ranges the client address comes from CF-Connecting-IP/X-Forwarded-For.
            trusted_proxies=settings.ingress.origin_lock_cidrs or (),
            origin_certificate=has_certificate,
        ),
        layout.FIREWALL_RULES: firewall.render_firewall_script(settings.ingress),
        layout.FIREWALL_UNIT: firewall.render_firewall_unit(settings.firewall_script),
        layout.SYSCTL_CONF: tuning.render_sysctl_conf(),
        layout.UPKEEP_APT_CONF: upkeep.render_apt_upkeep(settings.maintenance_window_utc),
        layout.UPKEEP_NEEDRESTART: upkeep.render_needrestart(),
        layout.RELEASE_SCRIPT: (FILES / layout.RELEASE_SCRIPT).read_text(),
        layout.RELEASE_ENV: _release_env(settings),
    }
    if settings.certificate_pem is not None:
        files[layout.ORIGIN_CERTIFICATE] = settings.certificate_pem
    if settings.egress_meter:
        files[layout.EGRESS_METER] = egress.render_egress_meter()
        files[layout.EGRESS_SERVICE] = egress.render_egress_service()
        files[layout.EGRESS_TIMER] = egress.render_egress_timer()
        files[layout.EGRESS_CLI_REQUIREMENTS] = egress.render_cli_requirements()
    archive = settings.archive
    if archive is not None:
        files[layout.SOCKET_SERVER_ARCHIVE] = archive
    return files


def activate_command(script_path: str, server: str) -> str:
    """The activation, for this server: a replaced server is a new host, and gets the release again."""
    return f"sh {shlex.quote(script_path)} activate {shlex.quote(server)}"


def retire_command(script_path: str, server: str) -> str:
    """The delete of an activation: a release already pruned from the host, or a host that is now
    another server (the reserved address moved to a replacement), has nothing to retire."""
    quoted = shlex.quote(script_path)
    return f"if [ -f {quoted} ]; then sh {quoted} retire {shlex.quote(server)}; fi"


def render_secret_files(
    livekit_api_key: str,
    livekit_api_secret: str,
    origin_key_pem: str | None,
    metrics_token: str,
    app_secrets: AppSecrets | None = None,
) -> dict[str, str]:
    app_secrets = app_secrets or AppSecrets()
    app_environment = env_pairs(app_secrets.environment or "")
    if app_secrets.livekit_access:
        # The key too, though not secret: the plain files stay free of generated values.
        app_environment += [("LIVEKIT_API_KEY", livekit_api_key), ("LIVEKIT_API_SECRET", livekit_api_secret)]
    files = {
        layout.LIVEKIT_KEY_FILE: render_key_file(livekit_api_key, livekit_api_secret),
        layout.CADDY_ENV_FILE: render_env_file([(layout.METRICS_TOKEN_VARIABLE, metrics_token)]),
        layout.SOCKET_SERVER_ENV_FILE: "# the socket server's secret environment\n" + render_env_file(app_environment),
    }
    if app_secrets.registry_password is not None:
        files[layout.REGISTRY_PASSWORD_FILE] = app_secrets.registry_password
    if origin_key_pem is not None:
        files[layout.ORIGIN_KEY_FILE] = origin_key_pem
    if app_secrets.turn is not None:
        files[layout.TURN_CERTIFICATE_FILE] = app_secrets.turn.certificate_chain_pem
        files[layout.TURN_KEY_FILE] = app_secrets.turn.key_pem
    return files


@dataclass(frozen=True)
class TurnKeyPair:
    certificate_chain_pem: str
    key_pem: str


@dataclass(frozen=True)
class AppSecrets:
    # NAME=value lines (checked by the config reader).
    environment: str | None = None
    registry_password: str | None = None
    livekit_access: bool = False
    turn: TurnKeyPair | None = None


@dataclass(frozen=True)
class Release:
    """One release: the plain files uploaded into its folder, the secret files sent on stdin."""

    plain: Mapping[str, str]
    secret: Mapping[str, str]

    @property
    def id(self) -> str:
        return release_id(self.plain, self.secret)


def build_release(settings: ReleaseSettings, secret_files: Mapping[str, str]) -> Release:
    return Release(render_plain_files(settings), secret_files)


def release_id(plain_files: Mapping[str, str], secret_files: Mapping[str, str]) -> str:
    """A content hash: equal files give an equal id; any change (a rotated secret too) a new one."""
    digest = hashlib.sha256()
    for files in (plain_files, secret_files):
        digest.update(json.dumps(sorted(files.items())).encode())
    return digest.hexdigest()[:16]


def secret_digests(secret_files: Mapping[str, str], key: str) -> str:
    """`name=digest ...`: tells which secret file changed between releases without revealing any.
    Keyed (HMAC with the stack's own secret key): a short secret cannot be guessed from its digest."""
    return " ".join(
        f"{name}={hmac.new(key.encode(), content.encode(), hashlib.sha256).hexdigest()[:16]}"
        for name, content in sorted(secret_files.items())
    )


def parse_secret_digests(text: str) -> dict[str, str]:
    return dict(item.split("=", 1) for item in text.split() if "=" in item)


def secrets_stdin(secret_files: Mapping[str, str]) -> str:
    """What `release.sh receive-secrets` reads: one `name base64` line per secret file."""
    return "".join(
        f"{name} {base64.b64encode(content.encode()).decode()}\n" for name, content in sorted(secret_files.items())
    )
