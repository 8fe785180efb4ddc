"""What every suite shares: a run stopped by SIGTERM (a CI job's timeout, `kill`) unwinds as one
stopped by Ctrl-C does, so the fixtures' teardown still removes the clusters, engines and network
namespaces they made."""

from __future__ import annotations

import signal

import pytest


def pytest_configure(config: pytest.Config) -> None:
    signal.signal(signal.SIGTERM, signal.default_int_handler)
