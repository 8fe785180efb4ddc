"""Test prerequisites: in CI a missing tool fails the run; elsewhere it skips with the reason."""

from __future__ import annotations

import os
import shutil

import pytest


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


def require(condition: bool, why: str) -> None:
    if condition:
        return
    if in_ci():
        pytest.fail(f"{why} (CI=true: a missing prerequisite is a failure; scripts/test installs it)")
    pytest.skip(why)


def require_tool(name: str) -> str:
    path = shutil.which(name)
    require(path is not None, f"{name} is not installed")
    assert path is not None
    return path


def require_root() -> None:
    require(os.geteuid() == 0, "network namespaces and iptables need root")
