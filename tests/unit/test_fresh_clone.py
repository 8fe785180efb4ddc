"""The helper scripts run from a clean checkout: no .venv, no node_modules, nothing installed by hand."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def checkout(into: Path) -> Path:
    """What a clone holds: the files git tracks (or would), as they are in the working tree."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if source.is_file():
            (into / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, into / name)
    return into


def test_the_helper_scripts_run_from_a_fresh_clone(tmp_path: Path) -> None:
    clone = checkout(tmp_path / "clone")
    assert not (clone / ".venv").exists()
    document = (ROOT / "tests/fixtures/stack-output.json").read_text()
    env_block = subprocess.run(
        [str(clone / "scripts/vercel-env"), "-"], input=document, capture_output=True, text=True, cwd=tmp_path
    )
    assert env_block.returncode == 0, env_block.stderr
    assert 'NEXT_PUBLIC_SOCKET_URL="https://space-socket.flow-coder.com"' in env_block.stdout
    for script in ("deploy", "host-diff"):
        helped = subprocess.run([str(clone / "scripts" / script), "--help"], capture_output=True, text=True)
        assert helped.returncode == 0, f"scripts/{script}: {helped.stderr}"
        assert "usage:" in helped.stdout
