"""docker-compose.yml, from Python data: pinned images, health checks, limits that fit the instance."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from model import layout, ports, versions
from model.tuning import CONTAINER_NOFILE
from render.livekit import KEY_FILE_IN_CONTAINER, TURN_CERTIFICATE_IN_CONTAINER, TURN_KEY_IN_CONTAINER
from render.yaml_text import dump

LIVEKIT_CONFIG_IN_CONTAINER = "/etc/livekit/livekit.yaml"
LOGGING = {"driver": "json-file", "options": {"max-size": "10m", "max-file": "3"}}
# What the OS, Docker and page cache keep; the services share the rest.
HOST_RESERVE_GB = 1.0


@dataclass(frozen=True)
class ComposeSettings:
    ocpus: int
    memory_gb: int
    # The socket server's image: one to pull, or the one the release builds from its source.
    socket_server_image: str
    # True: the image is built on the host (never pulled).
    socket_server_built: bool = True
    # Browser origins the socket server accepts.
    allowed_origins: tuple[str, ...] = ()
    # False: no Cloudflare origin certificate; Caddy gets its own (ACME) into caddy_data.
    origin_certificate: bool = True
    # The app's own plain variables, and LiveKit's URL when it has access (None: none).
    environment: tuple[tuple[str, str], ...] = ()
    livekit_url: str | None = None
    # Mount TURN/TLS's certificate and key into LiveKit.
    turn_tls: bool = False
    health_interval_seconds: int = 5
    # LiveKit's and the socket server's open files (soft and hard); a container may only lower
    # dockerd's own limit, which is Debian's docker.service's (LimitNOFILE=infinity) on the VM.
    open_files: int = CONTAINER_NOFILE


@dataclass(frozen=True)
class Limits:
    cpus: float
    memory_mb: int

    def as_compose(self) -> dict[str, Any]:
        return {"resources": {"limits": {"cpus": f"{self.cpus:g}", "memory": f"{self.memory_mb}M"}}}


# Shares of the instance per service: LiveKit does the media work (seeds/001 §2.3).
SHARES = {"livekit": (0.6, 0.5), "socket-server": (0.3, 0.25), "caddy": (0.1, 0.1)}


def limits_for(settings: ComposeSettings) -> dict[str, Limits]:
    usable_mb = int((settings.memory_gb - HOST_RESERVE_GB) * 1024)
    return {
        service: Limits(
            cpus=round(max(0.1, settings.ocpus * cpu_share), 2), memory_mb=max(128, int(usable_mb * memory_share))
        )
        for service, (cpu_share, memory_share) in SHARES.items()
    }


def literal(value: str) -> str:
    """A value compose takes as written: `$` would start an interpolation."""
    return value.replace("$", "$$")


def _mounted(file_name: str, target: str) -> str:
    """A file mounted from its content-addressed copy (release.sh sets the variable)."""
    return f"${{{layout.mount_variable(file_name)}:?}}:{target}:ro"


def _env_file(file_name: str) -> list[str]:
    return [f"${{{layout.mount_variable(file_name)}:?}}"]


# Every capability is dropped; these are added back where a service needs them. The mounted files
# are the deploy user's, secrets among them mode 0600: root in a container reads them with this.
READ_DEPLOY_USER_FILES = "DAC_READ_SEARCH"
HARDENING: dict[str, Any] = {"cap_drop": ["ALL"], "security_opt": ["no-new-privileges:true"]}


def compose_document(settings: ComposeSettings) -> dict[str, Any]:
    limits = limits_for(settings)
    secrets = layout.SECRETS_DIR
    open_files = {"nofile": {"soft": settings.open_files, "hard": settings.open_files}}

    def healthcheck(test: list[str]) -> dict[str, Any]:
        interval = f"{settings.health_interval_seconds}s"
        return {"test": test, "interval": interval, "timeout": "5s", "retries": 3, "start_period": "30s"}

    def socket_server(slot_port: int) -> dict[str, Any]:
        container_port = ports.SOCKET_SERVER.port
        return {
            "image": settings.socket_server_image,
            **({"pull_policy": "never"} if settings.socket_server_built else {}),
            "restart": "unless-stopped",
            "environment": {
                name: literal(value)
                for name, value in {
                    "NODE_ENV": "production",
                    "PORT": str(container_port),
                    "CORS_ORIGINS": " ".join(settings.allowed_origins),
                    **dict(settings.environment),
                    **({"LIVEKIT_URL": settings.livekit_url} if settings.livekit_url else {}),
                }.items()
            },
            "env_file": _env_file(f"{secrets}/{layout.SOCKET_SERVER_ENV_FILE}"),
            "ports": [f"127.0.0.1:{slot_port}:{container_port}"],
            "healthcheck": healthcheck(
                [
                    "CMD",
                    "node",
                    "-e",
                    f"fetch('http://127.0.0.1:{container_port}/health')"
                    ".then(r => process.exit(r.ok ? 0 : 1), () => process.exit(1))",
                ]
            ),
            **HARDENING,
            "deploy": limits["socket-server"].as_compose(),
            "ulimits": open_files,
            "logging": LOGGING,
        }

    turn_files = (
        [
            _mounted(f"{secrets}/{layout.TURN_CERTIFICATE_FILE}", TURN_CERTIFICATE_IN_CONTAINER),
            _mounted(f"{secrets}/{layout.TURN_KEY_FILE}", TURN_KEY_IN_CONTAINER),
        ]
        if settings.turn_tls
        else []
    )
    return {
        "services": {
            **{f"socket-server-{slot}": socket_server(port.port) for slot, port in ports.SOCKET_SERVER_SLOTS.items()},
            "livekit": {
                "image": versions.LIVEKIT_IMAGE,
                "restart": "unless-stopped",
                # Media ports are a 10,001-port UDP range: host networking, not port publishing.
                "network_mode": "host",
                "command": ["--config", LIVEKIT_CONFIG_IN_CONTAINER],
                "volumes": [
                    _mounted(layout.LIVEKIT_CONFIG, LIVEKIT_CONFIG_IN_CONTAINER),
                    _mounted(f"{secrets}/{layout.LIVEKIT_KEY_FILE}", KEY_FILE_IN_CONTAINER),
                    *turn_files,
                ],
                "healthcheck": healthcheck(
                    ["CMD", "wget", "-q", "-O", "/dev/null", f"http://127.0.0.1:{ports.LIVEKIT_SIGNALING.port}/"]
                ),
                **HARDENING,
                "cap_add": [READ_DEPLOY_USER_FILES],
                "deploy": limits["livekit"].as_compose(),
                "ulimits": open_files,
                "logging": LOGGING,
            },
            "caddy": {
                "image": versions.CADDY_IMAGE,
                "restart": "unless-stopped",
                # On the host network the host firewall (and its origin lock) sees Caddy's ports;
                # Docker's published ports would bypass the INPUT chain.
                "network_mode": "host",
                "env_file": _env_file(f"{secrets}/{layout.CADDY_ENV_FILE}"),
                "volumes": [
                    f"${{{layout.CADDY_DIR_VARIABLE}:?}}:{layout.CADDY_DIR_IN_CONTAINER}:ro",
                    "caddy_data:/data",
                    "caddy_config:/config",
                ],
                "healthcheck": healthcheck(
                    ["CMD", "wget", "-q", "-O", "/dev/null", f"http://127.0.0.1:{ports.CADDY_HEALTH.port}/health"]
                ),
                **HARDENING,
                # Ports 80 and 443.
                "cap_add": ["NET_BIND_SERVICE", READ_DEPLOY_USER_FILES],
                "deploy": limits["caddy"].as_compose(),
                "logging": LOGGING,
            },
        },
        "volumes": {"caddy_data": {}, "caddy_config": {}},
    }


def render_compose(settings: ComposeSettings) -> str:
    return dump(compose_document(settings))


def render_env_file(variables: Sequence[tuple[str, str]]) -> str:
    """compose's env_file: single-quoted values are taken literally (no interpolation)."""
    return "".join(f"{name}='{value}'\n" for name, value in variables)
