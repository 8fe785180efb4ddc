"""Every image and tool the host runs, pinned to an exact version here and nowhere else."""

LIVEKIT_VERSION = "v1.13.5"
CADDY_VERSION = "2.11.7"
NODE_VERSION = "22.21.1"

LIVEKIT_IMAGE = f"livekit/livekit-server:{LIVEKIT_VERSION}"
CADDY_IMAGE = f"caddy:{CADDY_VERSION}-alpine"
NODE_IMAGE = f"node:{NODE_VERSION}-alpine"
REDIS_IMAGE = "redis:7-alpine"
# The month-to-date outbound meter publishes its count with the OCI CLI (render/egress.py).
OCI_CLI_VERSION = "3.95.1"
