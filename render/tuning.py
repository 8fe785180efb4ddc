"""The host settings of model/tuning.py as a sysctl.d file."""

from __future__ import annotations

from model.tuning import SYSCTLS


def render_sysctl_conf() -> str:
    return "".join(f"{key}={value}\n" for key, value in SYSCTLS)
