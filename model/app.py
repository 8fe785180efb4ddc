"""The app on the host."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class SocketServer:
    # A registry image to pull, or None to build the source files on the host.
    image: str | None
    # The files a release ships, by name; empty when an image is pulled.
    source_files: dict[str, str] = field(default_factory=dict)
    # How long the rollout waits for each hostname to answer through Caddy.
    health_gate_seconds: int = 60
    # Browser origins allowed to connect (CORS_ORIGINS of the socket server).
    allowed_origins: tuple[str, ...] = ()
