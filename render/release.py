"""One release: every file the host needs, split into plain and secret files, with a content id."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import shlex
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cached_property

from model import layout, ports, versions
from model.app import SocketServer, env_pairs
from model.compute import InstanceSpec
from model.layout import ReleaseShape
from model.ports import Ingress
from model.tuning import CONTAINER_NOFILE
from render import HOST_FILES, egress, firewall, tuning, upkeep
from render.caddy import CADDY_ADMIN_SOCKET, CERTIFICATE_FILE, HEALTH_ROUTE, KEY_FILE, render_caddyfile, sites_for
from render.compose import ComposeSettings, render_compose, render_env_file
from render.livekit import LiveKitSettings, render_key_file, render_livekit_yaml
from render.source_archive import source_archive


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
    # The server's size and maintenance window, for the services' limits and the upkeep.
    instance: InstanceSpec
    socket_server: SocketServer
    # The month-to-date outbound meter (OCI stacks with cost alerts).
    egress_meter: bool = False
    # TURN/TLS's DNS-only hostname (the ingress redirects 443 for it); None: off.
    turn_hostname: str | None = None
    keep_releases: int = layout.KEEP_RELEASES
    firewall_script: str = layout.FIREWALL_SCRIPT_PATH
    unit_dir: str = layout.SYSTEMD_UNIT_DIR
    sysctl_path: str = layout.SYSCTL_PATH
    gate_interval_seconds: int = 2
    # How long an activation waits for another rollout on the same host.
    lock_wait_seconds: int = 600
    egress_meter_path: str = layout.EGRESS_METER_PATH
    egress_cli_requirements_path: str = layout.EGRESS_CLI_REQUIREMENTS_PATH
    egress_host_env_path: str = layout.EGRESS_HOST_ENV_PATH
    upkeep_apt_conf_path: str = layout.UPKEEP_APT_CONF_PATH
    upkeep_needrestart_path: str = layout.UPKEEP_NEEDRESTART_PATH
    health_interval_seconds: int = 5
    open_files: int = CONTAINER_NOFILE

    def __post_init__(self) -> None:
        if (self.turn_hostname is not None) != self.ingress.turn_tls:
            raise ValueError("a TURN/TLS hostname and the ingress's TURN/TLS redirect go together")
        if self.socket_server.image is None and self.socket_server.source is None:
            raise ValueError("the socket server needs an image or a source to build")

    @property
    def shape(self) -> ReleaseShape:
        return release_shape(
            self.socket_server, self.certificate_pem is not None, self.egress_meter, self.turn_hostname is not None
        )

    @cached_property
    def archive(self) -> str | None:
        """The socket server's source as shipped, when the release builds its image."""
        server = self.socket_server
        return source_archive(server.source) if server.image is None and server.source is not None else None

    @property
    def socket_server_image_name(self) -> str:
        archive = self.archive
        if archive is None:
            assert self.socket_server.image is not None
            return self.socket_server.image
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
            *(turn if self.shape.turn_tls else ()),
        )

    @property
    def caddy_files(self) -> dict[str, str]:
        """Caddy's folder: its path there → the file in the release."""
        files = {layout.CADDYFILE: layout.CADDYFILE}
        if self.shape.origin_certificate:
            files[CERTIFICATE_FILE] = layout.ORIGIN_CERTIFICATE
            files[KEY_FILE] = f"{layout.SECRETS_DIR}/{layout.ORIGIN_KEY_FILE}"
        return files


def _release_env(settings: ReleaseSettings) -> str:
    server, shape = settings.socket_server, settings.shape
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
        "GATE_ATTEMPTS": str(max(1, -(-server.health_gate_seconds // max(1, settings.gate_interval_seconds)))),
        "GATE_INTERVAL_SECONDS": str(settings.gate_interval_seconds),
        "LOG_LINES": "40",
        "KEEP_RELEASES": str(settings.keep_releases),
        "FIREWALL_SCRIPT": settings.firewall_script,
        "FIREWALL_UNIT": layout.FIREWALL_UNIT,
        "FIREWALL_CHAIN": firewall.CHAIN,
        "SYSCTL_CONF": layout.SYSCTL_CONF,
        "SYSCTL_PATH": settings.sysctl_path,
        "UNIT_DIR": settings.unit_dir,
        "EGRESS_METER": layout.EGRESS_METER if shape.egress_meter else "",
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
        "SECRET_FILES": " ".join(shape.secret_files),
        "REGISTRY": server.registry.host if server.registry else "",
        "REGISTRY_USER": server.registry.user if server.registry else "",
        "REGISTRY_PASSWORD_FILE": layout.REGISTRY_PASSWORD_FILE,
        "GATE_CA_FILE": layout.ORIGIN_CERTIFICATE if shape.origin_certificate else "",
    }
    return "".join(f"{key}={shlex.quote(value)}\n" for key, value in values.items())


def render_plain_files(settings: ReleaseSettings) -> dict[str, str]:
    """The files the release's shape names, and only those."""
    server, shape = settings.socket_server, settings.shape
    renderers: dict[str, Callable[[], str]] = {
        layout.COMPOSE_FILE: lambda: render_compose(
            ComposeSettings(
                ocpus=settings.instance.ocpus,
                memory_gb=settings.instance.memory_gb,
                socket_server_image=settings.socket_server_image_name,
                socket_server_built=shape.socket_server_archive,
                allowed_origins=server.allowed_origins,
                origin_certificate=shape.origin_certificate,
                environment=server.environment,
                livekit_url=f"https://{settings.livekit_hostname}" if server.livekit_access else None,
                turn_tls=shape.turn_tls,
                health_interval_seconds=settings.health_interval_seconds,
                open_files=settings.open_files,
            )
        ),
        layout.LIVEKIT_CONFIG: lambda: render_livekit_yaml(
            LiveKitSettings(settings.public_ip, turn_hostname=settings.turn_hostname)
        ),
        layout.CADDYFILE: lambda: render_caddyfile(
            sites_for(settings.socket_hostname, settings.livekit_hostname),
            # Behind Cloudflare's ranges the client address comes from CF-Connecting-IP/X-Forwarded-For.
            trusted_proxies=settings.ingress.origin_lock_cidrs or (),
            origin_certificate=shape.origin_certificate,
        ),
        layout.FIREWALL_RULES: lambda: firewall.render_firewall_script(settings.ingress),
        layout.FIREWALL_UNIT: lambda: firewall.render_firewall_unit(settings.firewall_script),
        layout.SYSCTL_CONF: tuning.render_sysctl_conf,
        layout.UPKEEP_APT_CONF: lambda: upkeep.render_apt_upkeep(settings.instance.maintenance_window_utc),
        layout.UPKEEP_NEEDRESTART: upkeep.render_needrestart,
        layout.RELEASE_SCRIPT: (HOST_FILES / layout.RELEASE_SCRIPT).read_text,
        layout.RELEASE_ENV: lambda: _release_env(settings),
        layout.ORIGIN_CERTIFICATE: lambda: settings.certificate_pem or "",
        layout.EGRESS_METER: egress.render_egress_meter,
        layout.EGRESS_SERVICE: egress.render_egress_service,
        layout.EGRESS_TIMER: egress.render_egress_timer,
        layout.EGRESS_CLI_REQUIREMENTS: egress.render_cli_requirements,
        layout.SOCKET_SERVER_ARCHIVE: lambda: settings.archive or "",
    }
    return {name: renderers[name]() for name in shape.plain_files}


def release_shape(
    socket_server: SocketServer, origin_certificate: bool, egress_meter: bool, turn_tls: bool
) -> layout.ReleaseShape:
    """Which optional files a release has, from what is known before any value is."""
    return layout.ReleaseShape(
        origin_certificate=origin_certificate,
        socket_server_archive=socket_server.image is None and socket_server.source is not None,
        egress_meter=egress_meter,
        registry=socket_server.registry is not None,
        turn_tls=turn_tls,
    )


def activate_command(script_path: str, server: str) -> str:
    """The activation, for this server: a replaced server is a new host, and gets the release again."""
    return f"sh {shlex.quote(script_path)} activate {shlex.quote(server)}"


def retire_command(script_path: str, server: str) -> str:
    """The delete of an activation: a release already pruned from the host, or a host that is now
    another server (the reserved address moved to a replacement), has nothing to retire."""
    quoted = shlex.quote(script_path)
    return f"if [ -f {quoted} ]; then sh {quoted} retire {shlex.quote(server)}; fi"


@dataclass(frozen=True)
class SecretValues:
    """Every secret value a release may hold, by name; None where the stack has none."""

    livekit_api_key: str
    livekit_api_secret: str
    metrics_token: str
    origin_key_pem: str | None = None
    # The socket server's secret NAME=value lines (checked by the config reader).
    app_environment: str | None = None
    registry_password: str | None = None
    turn_certificate_chain_pem: str | None = None
    turn_key_pem: str | None = None


def render_secret_files(values: SecretValues, shape: ReleaseShape, livekit_access: bool = False) -> dict[str, str]:
    """The secret files the release's shape names; a value the shape needs and lacks is refused."""
    app_environment = env_pairs(values.app_environment or "")
    if livekit_access:
        # The key too, though not secret: the plain files stay free of generated values.
        app_environment += [
            ("LIVEKIT_API_KEY", values.livekit_api_key),
            ("LIVEKIT_API_SECRET", values.livekit_api_secret),
        ]
    contents: dict[str, str | None] = {
        layout.LIVEKIT_KEY_FILE: render_key_file(values.livekit_api_key, values.livekit_api_secret),
        layout.CADDY_ENV_FILE: render_env_file([(layout.METRICS_TOKEN_VARIABLE, values.metrics_token)]),
        layout.SOCKET_SERVER_ENV_FILE: "# the socket server's secret environment\n" + render_env_file(app_environment),
        layout.REGISTRY_PASSWORD_FILE: values.registry_password,
        layout.ORIGIN_KEY_FILE: values.origin_key_pem,
        layout.TURN_CERTIFICATE_FILE: values.turn_certificate_chain_pem,
        layout.TURN_KEY_FILE: values.turn_key_pem,
    }
    missing = [name for name in shape.secret_files if contents[name] is None]
    if missing:
        raise ValueError(f"the release needs a value for {', '.join(missing)}")
    return {name: str(contents[name]) for name in shape.secret_files}


@dataclass(frozen=True)
class Release:
    """One release: the plain files uploaded into its folder, the secret files sent on stdin."""

    plain: Mapping[str, str]
    secret: Mapping[str, str]

    @property
    def id(self) -> str:
        return release_id(self.plain, secret_digests(self.secret, ""))


def build_release(settings: ReleaseSettings, secrets: SecretValues) -> Release:
    """The whole release: what the rollout renders in two halves (the plain files are known in a preview)."""
    livekit_access = settings.socket_server.livekit_access
    return Release(render_plain_files(settings), render_secret_files(secrets, settings.shape, livekit_access))


def release_id(plain_files: Mapping[str, str], digests: str) -> str:
    """A content hash of the plain files and the secret files' keyed digests (`secret_digests`): equal
    files give an equal id; any change (a rotated secret too) a new one."""
    digest = hashlib.sha256(json.dumps(sorted(plain_files.items())).encode())
    digest.update(digests.encode())
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
