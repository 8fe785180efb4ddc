"""The app on the host."""

from __future__ import annotations

from dataclasses import dataclass

from model.source_tree import SourceTree


@dataclass(frozen=True)
class SocketServer:
    # A registry image to pull, or None to build the source files on the host.
    image: str | None
    # The source folder as `docker build` sees it; None when an image is pulled.
    source: SourceTree | None = None
    # How long the rollout waits for each hostname to answer through Caddy.
    health_gate_seconds: int = 60
    # Browser origins allowed to connect (CORS_ORIGINS of the socket server).
    allowed_origins: tuple[str, ...] = ()
