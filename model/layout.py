"""Where things live on the host: the app folder, a release's files, the firewall's script and unit.

`host-files/release.sh` reads the names it needs from the release's `release.env`, rendered from here.
"""

from __future__ import annotations

from dataclasses import dataclass

APP_DIR_NAME = "flowspace"
COMPOSE_PROJECT = "flowspace"
RELEASES_DIR = "releases"
KEEP_RELEASES = 3

COMPOSE_FILE = "docker-compose.yml"
LIVEKIT_CONFIG = "livekit.yaml"
CADDYFILE = "Caddyfile"
FIREWALL_RULES = "firewall.sh"
RELEASE_SCRIPT = "release.sh"
RELEASE_ENV = "release.env"
ORIGIN_CERTIFICATE = "origin.pem"
SOCKET_SERVER_DIR = "socket-server"
# The image a release builds from its socket server source: tagged by the source's digest.
SOCKET_SERVER_BUILT_IMAGE = f"{COMPOSE_PROJECT}/socket-server"
# The socket server's source, one archive per release, unpacked into SOCKET_SERVER_DIR on the host.
SOCKET_SERVER_ARCHIVE = "socket-server.tgz.b64"

# The month-to-date outbound meter (OCI stacks with cost alerts): script, service and hourly timer.
EGRESS_METER = "egress-meter.sh"
EGRESS_METER_PATH = "/usr/local/sbin/flowspace-egress-meter"
EGRESS_SERVICE = "flowspace-egress.service"
EGRESS_TIMER = "flowspace-egress.timer"
EGRESS_STATE = "/var/lib/flowspace/egress"
# The OCI CLI it publishes with: every package pinned by hash (scripts/lock-oci-cli writes it).
EGRESS_CLI_REQUIREMENTS = "oci-cli-requirements.txt"
EGRESS_CLI_REQUIREMENTS_PATH = f"/usr/local/share/flowspace/{EGRESS_CLI_REQUIREMENTS}"
# Written by release.sh for the meter's unit: where this host's app folder is (its health checks).
EGRESS_HOST_ENV_PATH = "/etc/flowspace/meter.env"

# Files the services mount are copied to MOUNTS_DIR under their content's digest: a release that
# leaves a file as it was leaves the mount, and so the container, as it was. release.sh writes each
# release's MOUNTS_ENV (compose's --env-file) with the paths.
MOUNTS_DIR = "mounts"
MOUNTS_ENV = "mounts.env"
MOUNT_VARIABLE_PREFIX = "FLOWSPACE_MOUNT_"
# Caddy's files sit in one folder that outlives releases, mounted whole: a change to them is a
# graceful reload, not a restart. The socket server's upstream (the live slot) is one of them.
CADDY_DIR = "caddy"
CADDY_DIR_VARIABLE = "FLOWSPACE_CADDY_DIR"
CADDY_DIR_IN_CONTAINER = "/etc/caddy"
SOCKET_UPSTREAM_FILE = "socket-server.upstream"
# Which socket server slot Caddy serves from; and per slot, what its container was created from.
LIVE_SLOT_FILE = "socket-server.slot"
SLOTS_DIR = "socket-server-slots"

SECRETS_DIR = "secrets"
LIVEKIT_KEY_FILE = "livekit-keys.yaml"
ORIGIN_KEY_FILE = "origin.key"
# Caddy's environment: the bearer token of the socket server's metrics route.
CADDY_ENV_FILE = "caddy.env"
METRICS_TOKEN_VARIABLE = "METRICS_TOKEN"
# The socket server's secret environment (its own, and LiveKit's secret when it has access).
SOCKET_SERVER_ENV_FILE = "socket-server.env"
# The private registry's password, handed to `docker login` on stdin.
REGISTRY_PASSWORD_FILE = "registry-password"
# TURN/TLS: the publicly trusted certificate (with its chain) and its key. The certificate is
# public, yet travels with the key: it is unknown until issued, and no upload may be unknown.
TURN_CERTIFICATE_FILE = "turn-certificate.pem"
TURN_KEY_FILE = "turn.key"

# The host settings LiveKit asks for (model/tuning.py): applied by every release, kept for boots.
SYSCTL_CONF = "sysctl.conf"
# Host upkeep: unattended security updates, Docker's packages held back, reboots in the window.
UPKEEP_APT_CONF = "unattended-upgrades.conf"
UPKEEP_APT_CONF_PATH = "/etc/apt/apt.conf.d/52flowspace-upgrades"
UPKEEP_NEEDRESTART = "needrestart.conf"
UPKEEP_NEEDRESTART_PATH = "/etc/needrestart/conf.d/60-flowspace.conf"
# What an upgrade of would restart every container: installed at first boot, upgraded by hand.
ENGINE_PACKAGES = ("docker.io", "docker-compose-v2")
ENGINE_DEPENDENCIES = ("containerd", "runc")
SYSCTL_PATH = "/etc/sysctl.d/60-flowspace.conf"

FIREWALL_SCRIPT_PATH = "/usr/local/sbin/flowspace-firewall"
# The boot unit that re-applies it: installed by cloud-init on OCI and by every release elsewhere.
FIREWALL_UNIT = "flowspace-firewall.service"
SYSTEMD_UNIT_DIR = "/etc/systemd/system"


def mount_variable(file_name: str) -> str:
    """The compose variable holding a mounted file's content-addressed path."""
    stem = file_name.rsplit("/", 1)[-1]
    return MOUNT_VARIABLE_PREFIX + "".join(c if c.isalnum() else "_" for c in stem.upper())


def app_dir(user: str) -> str:
    return f"/home/{user}/{APP_DIR_NAME}"


@dataclass(frozen=True)
class ReleaseShape:
    """Which of its optional files a release has: decided once for its plain and its secret files,
    and known before any value is (so a preview names every upload)."""

    origin_certificate: bool
    socket_server_archive: bool = False
    egress_meter: bool = False
    registry: bool = False
    turn_tls: bool = False

    @property
    def plain_files(self) -> tuple[str, ...]:
        names = [
            COMPOSE_FILE,
            LIVEKIT_CONFIG,
            CADDYFILE,
            FIREWALL_RULES,
            FIREWALL_UNIT,
            RELEASE_SCRIPT,
            RELEASE_ENV,
            SYSCTL_CONF,
            UPKEEP_APT_CONF,
            UPKEEP_NEEDRESTART,
        ]
        if self.egress_meter:
            names += [EGRESS_METER, EGRESS_SERVICE, EGRESS_TIMER, EGRESS_CLI_REQUIREMENTS]
        if self.origin_certificate:
            names.append(ORIGIN_CERTIFICATE)
        if self.socket_server_archive:
            names.append(SOCKET_SERVER_ARCHIVE)
        return tuple(sorted(names))

    @property
    def secret_files(self) -> tuple[str, ...]:
        return (
            LIVEKIT_KEY_FILE,
            CADDY_ENV_FILE,
            SOCKET_SERVER_ENV_FILE,
            *((ORIGIN_KEY_FILE,) if self.origin_certificate else ()),
            *((REGISTRY_PASSWORD_FILE,) if self.registry else ()),
            *((TURN_CERTIFICATE_FILE, TURN_KEY_FILE) if self.turn_tls else ()),
        )
