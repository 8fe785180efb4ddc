"""The `pulumi` CLI as the operator's scripts call it: its output captured (so the secrets in it
never reach the terminal), a failure raised with the command's own last words."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path


class PulumiFailed(Exception):
    pass


def pulumi(
    args: Sequence[str],
    cwd: Path,
    env: Mapping[str, str] | None = None,
    stdin: str | None = None,
    check: bool = True,
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        ["pulumi", *args, "--non-interactive"],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
    )
    if check and result.returncode != 0:
        raise PulumiFailed(f"pulumi {' '.join(args[:2])} failed: {result.stderr.strip()[-2000:]}")
    return result
