"""Test prerequisites: in CI a missing tool fails the run; elsewhere, and in the quick tier
(scripts/test-quick, which leaves root and the built tools to the full tier), it skips with the
reason, which pytest's summary lists."""

from __future__ import annotations

import os
import resource
import shutil

import pytest

from model.tuning import CONTAINER_NOFILE


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


def in_quick_tier() -> bool:
    return os.environ.get("FLOWSPACE_TIER", "") == "quick"


def require(condition: bool, why: str) -> None:
    if condition:
        return
    if in_quick_tier():
        pytest.skip(f"{why}: left to the full tier (scripts/test)")
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


def container_open_files() -> int:
    """The services' open-file limit this machine's dockerd can set: its hard limit, at most the
    default (dockerd here has no CAP_SYS_RESOURCE to raise it)."""
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    return CONTAINER_NOFILE if hard == resource.RLIM_INFINITY else min(hard, CONTAINER_NOFILE)
