"""The app on the host."""

from __future__ import annotations

import re
from dataclasses import dataclass

from model.source_tree import SourceTree

# Tags that name no one version: an image the host pulls is pinned to a version tag or a digest.
MUTABLE_TAGS = ("latest", "stable", "main", "master", "edge", "nightly")
_IMAGE_REF = re.compile(
    r"[a-z0-9]+([._/-][a-z0-9]+)*(:[0-9]+)?(/[a-z0-9._-]+)*(:[A-Za-z0-9._-]{1,128})?(@sha256:[0-9a-f]{64})?"
)


def is_pinned_image(image: str) -> bool:
    """A registry image reference pinned to a version tag or a digest."""
    tag = image.rsplit("/", 1)[-1].partition("@")[0].partition(":")[2]
    pinned = "@sha256:" in image or (tag != "" and tag not in MUTABLE_TAGS)
    return _IMAGE_REF.fullmatch(image) is not None and pinned


@dataclass(frozen=True)
class Registry:
    """A private registry the image is pulled from, logged in to on the host for the pull only."""

    host: str
    user: str


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
    # Where `image` is pulled from with a login; None: a public image (or a build).
    registry: Registry | None = None
    # The app's own plain environment (its secret one is a 0600 file).
    environment: tuple[tuple[str, str], ...] = ()
    # LIVEKIT_URL, LIVEKIT_API_KEY and (secret) LIVEKIT_API_SECRET, to mint tokens or call LiveKit's API.
    livekit_access: bool = False


def env_lines(text: str) -> list[tuple[int, str]]:
    """The NAME=value lines of an env file's text with their line numbers (blank lines and # comments skipped)."""
    return [
        (number, line.strip())
        for number, line in enumerate(text.splitlines(), start=1)
        if line.strip() and not line.lstrip().startswith("#")
    ]


def env_pairs(text: str) -> list[tuple[str, str]]:
    """(name, value) of each NAME=value line; the config reader has checked them."""
    return [(name, value) for _, line in env_lines(text) for name, _, value in [line.partition("=")]]
