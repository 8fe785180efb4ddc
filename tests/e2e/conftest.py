from __future__ import annotations

import os
from pathlib import Path

import pytest

from testbed.tools import require


@pytest.fixture(scope="session")
def livekit_client() -> str:
    """The pion-based LiveKit client: the TURN/TLS test's listener and the benchmark's generator."""
    binary = os.environ.get("LIVEKIT_CLIENT", "")
    require(
        bool(binary) and Path(binary).exists(), "the pion LiveKit client is not built: scripts/build-livekit-client"
    )
    return binary
