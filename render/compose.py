"""docker-compose.yml, from Python data: pinned images, health checks, limits that fit the instance."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from model import layout, ports, versions
from model.tuning import CONTAINER_NOFILE
from render.caddy import CERTIFICATE_DIR_IN_CONTAINER
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
    # An image to pull; None builds the reference server shipped in the release.
    socket_server_image: str | None = None
    # Browser origins the socket server accepts.
    allowed_origins: tuple[str, ...] = ()
    # False: no Cloudflare origin certificate; Caddy gets its own (ACME) into caddy_data.
    origin_certificate: bool = True
    # The app's own plain variables, and LiveKit's URL when it has access (None: none).
    environment: tuple[tuple[str, str], ...] = ()
    livekit_url: str | None = None
    # Mount TURN/TLS's certificate and key into LiveKit.
    turn_tls: bool = False


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


def _healthcheck(test: list[str]) -> dict[str, Any]:
    return {"test": test, "interval": "10s", "timeout": "5s", "retries": 3, "start_period": "20s"}


NOFILE = {"nofile": {"soft": CONTAINER_NOFILE, "hard": CONTAINER_NOFILE}}


def compose_document(settings: ComposeSettings) -> dict[str, Any]:
    limits = limits_for(settings)
    socket_port = ports.SOCKET_SERVER.port
    socket_server: dict[str, Any] = (
        {"image": settings.socket_server_image}
        if settings.socket_server_image
        else {
            "build": {"context": f"./{layout.SOCKET_SERVER_DIR}", "args": {"NODE_IMAGE": versions.NODE_IMAGE}},
            "image": f"{layout.COMPOSE_PROJECT}/socket-server:local",
        }
    )
    socket_server.update(
        {
            "restart": "unless-stopped",
            "environment": {
                "NODE_ENV": "production",
                "PORT": str(socket_port),
                "CORS_ORIGINS": " ".join(settings.allowed_origins),
                **dict(settings.environment),
                **({"LIVEKIT_URL": settings.livekit_url} if settings.livekit_url else {}),
            },
            "env_file": [f"./{layout.SECRETS_DIR}/{layout.SOCKET_SERVER_ENV_FILE}"],
            "ports": [f"127.0.0.1:{socket_port}:{socket_port}"],
            "healthcheck": _healthcheck(
                [
                    "CMD",
                    "node",
                    "-e",
                    f"fetch('http://127.0.0.1:{socket_port}/health')"
                    ".then(r => process.exit(r.ok ? 0 : 1), () => process.exit(1))",
                ]
            ),
            "deploy": limits["socket-server"].as_compose(),
            "ulimits": NOFILE,
            "logging": LOGGING,
        }
    )
    return {
        "services": {
            "socket-server": socket_server,
            "livekit": {
                "image": versions.LIVEKIT_IMAGE,
                "restart": "unless-stopped",
                # Media ports are a 10,001-port UDP range: host networking, not port publishing.
                "network_mode": "host",
                "command": ["--config", LIVEKIT_CONFIG_IN_CONTAINER],
                "volumes": [
                    f"./{layout.LIVEKIT_CONFIG}:{LIVEKIT_CONFIG_IN_CONTAINER}:ro",
                    f"./{layout.SECRETS_DIR}/{layout.LIVEKIT_KEY_FILE}:{KEY_FILE_IN_CONTAINER}:ro",
                    *(
                        [
                            f"./{layout.SECRETS_DIR}/{layout.TURN_CERTIFICATE_FILE}:{TURN_CERTIFICATE_IN_CONTAINER}:ro",
                            f"./{layout.SECRETS_DIR}/{layout.TURN_KEY_FILE}:{TURN_KEY_IN_CONTAINER}:ro",
                        ]
                        if settings.turn_tls
                        else []
                    ),
                ],
                "healthcheck": _healthcheck(
                    ["CMD", "wget", "-q", "-O", "/dev/null", f"http://127.0.0.1:{ports.LIVEKIT_SIGNALING.port}/"]
                ),
                "deploy": limits["livekit"].as_compose(),
                "ulimits": NOFILE,
                "logging": LOGGING,
            },
            "caddy": {
                "image": versions.CADDY_IMAGE,
                "restart": "unless-stopped",
                # On the host network the host firewall (and its origin lock) sees Caddy's ports;
                # Docker's published ports would bypass the INPUT chain.
                "network_mode": "host",
                "env_file": [f"./{layout.SECRETS_DIR}/{layout.CADDY_ENV_FILE}"],
                "volumes": [
                    f"./{layout.CADDYFILE}:/etc/caddy/Caddyfile:ro",
                    *(
                        [
                            f"./{layout.ORIGIN_CERTIFICATE}:{CERTIFICATE_DIR_IN_CONTAINER}/origin.pem:ro",
                            f"./{layout.SECRETS_DIR}/{layout.ORIGIN_KEY_FILE}:{CERTIFICATE_DIR_IN_CONTAINER}/origin.key:ro",
                        ]
                        if settings.origin_certificate
                        else []
                    ),
                    "caddy_data:/data",
                    "caddy_config:/config",
                ],
                "depends_on": {
                    "socket-server": {"condition": "service_healthy"},
                    "livekit": {"condition": "service_healthy"},
                },
                "healthcheck": _healthcheck(
                    ["CMD", "wget", "-q", "-O", "/dev/null", f"http://127.0.0.1:{ports.CADDY_HEALTH.port}/health"]
                ),
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
