"""The host's upkeep, as files the release installs: security updates unattended, Docker's packages
never (their upgrade restarts every container, which ends every call), and a reboot an update
asks for only in the maintenance window. Ubuntu's unattended-upgrades and needrestart read them."""

from __future__ import annotations

from model.layout import ENGINE_DEPENDENCIES, ENGINE_PACKAGES


def render_apt_upkeep(maintenance_window_utc: str) -> str:
    held = " ".join(f'"{package}";' for package in (*ENGINE_PACKAGES, *ENGINE_DEPENDENCIES))
    return (
        "// Written by each FlowSpace release; edits are replaced by the next one.\n"
        f"Unattended-Upgrade::Package-Blacklist {{ {held} }};\n"
        'Unattended-Upgrade::Automatic-Reboot "true";\n'
        'Unattended-Upgrade::Automatic-Reboot-WithUsers "true";\n'
        f'Unattended-Upgrade::Automatic-Reboot-Time "{maintenance_window_utc}";\n'
    )


def render_needrestart() -> str:
    """needrestart would restart a service whose libraries an update replaced: never Docker's."""
    return (
        "# Written by each FlowSpace release; edits are replaced by the next one.\n"
        "$nrconf{override_rc}{qr(^(docker|containerd)\\.service$)} = 0;\n"
    )
