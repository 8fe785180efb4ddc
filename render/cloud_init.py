"""cloud-init user data for the first boot: Docker with compose v2, the host firewall, the pinned host key.

It runs once; everything that may change later is the rollout's job.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from model.layout import ENGINE_PACKAGES, FIREWALL_SCRIPT_PATH, FIREWALL_UNIT, SYSCTL_PATH, app_dir
from model.ports import Ingress
from render import firewall, tuning
from render.yaml_text import dump

# AcceptEnv: pulumi-command hands a delete its create's output, and the activation's delete needs
# the activation's id to tell a destroy from a replacement (release.sh retire).
SSHD_SETTINGS = """PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin no
AcceptEnv PULUMI_COMMAND_STDOUT
"""


@dataclass(frozen=True)
class CloudInitSettings:
    deploy_user: str
    host_private_key_openssh: str
    host_public_key_openssh: str
    ingress: Ingress


def cloud_config(settings: CloudInitSettings) -> dict[str, Any]:
    user = settings.deploy_user
    return {
        "package_update": True,
        "packages": [*ENGINE_PACKAGES, "curl"],
        # Only the generated host key, so the rollout can pin it from its first connection.
        "ssh_deletekeys": True,
        "ssh_genkeytypes": ["ed25519"],
        "ssh_keys": {
            "ed25519_private": settings.host_private_key_openssh,
            "ed25519_public": settings.host_public_key_openssh.strip(),
        },
        "write_files": [
            {
                "path": FIREWALL_SCRIPT_PATH,
                "permissions": "0755",
                "content": firewall.render_firewall_script(settings.ingress),
            },
            {
                "path": f"/etc/systemd/system/{FIREWALL_UNIT}",
                "permissions": "0644",
                "content": firewall.render_firewall_unit(),
            },
            {"path": "/etc/ssh/sshd_config.d/60-flowspace.conf", "permissions": "0644", "content": SSHD_SETTINGS},
            {"path": SYSCTL_PATH, "permissions": "0644", "content": tuning.render_sysctl_conf()},
        ],
        "runcmd": [
            ["sysctl", "--quiet", "--load", SYSCTL_PATH],
            ["systemctl", "daemon-reload"],
            ["systemctl", "enable", "--now", FIREWALL_UNIT],
            ["systemctl", "enable", "--now", "docker.service"],
            ["usermod", "-aG", "docker", user],
            ["install", "-d", "-m", "0750", "-o", user, "-g", user, app_dir(user)],
        ],
    }


def render_cloud_init(settings: CloudInitSettings) -> str:
    return "#cloud-config\n" + dump(cloud_config(settings))
