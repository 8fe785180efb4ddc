"""A run stopped by SIGTERM still tears its fixtures down (tests/conftest.py)."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SUITE = """\
import time
from pathlib import Path

import pytest

HERE = Path(__file__).parent


@pytest.fixture
def made():
    yield
    (HERE / "torn-down").write_text("yes")


def test_long(made):
    (HERE / "started").write_text("yes")
    time.sleep(60)
"""


def test_sigterm_runs_the_fixtures_teardown(tmp_path: Path) -> None:
    (tmp_path / "test_long.py").write_text(SUITE)
    command = [sys.executable, "-m", "pytest", "-q", "-p", "tests.conftest", "-p", "no:cacheprovider", str(tmp_path)]
    run = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 60
    while not (tmp_path / "started").exists():
        assert run.poll() is None and time.monotonic() < deadline, run.communicate()[0]
        time.sleep(0.1)
    run.send_signal(signal.SIGTERM)
    output = run.communicate(timeout=60)[0]
    assert (tmp_path / "torn-down").exists(), output
    assert run.returncode != 0, output
