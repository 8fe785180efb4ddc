"""The `pulumi` CLI as the operator's scripts call it: the one on PATH, at least the version the
program needs (checked once, named when wrong); its output captured (so the secrets in it never
reach the terminal), a failure raised with the command's own last words."""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

# From 3.174.0, `import` takes over a record or variable whose settings differ (adoptExisting).
MINIMUM_CLI = (3, 174, 0)
INSTALL_HINT = (
    "install it with `curl -fsSL https://get.pulumi.com | sh -s -- --no-edit-path` and put ~/.pulumi/bin on PATH"
)


POLICY_PACK = "policy"


class PulumiFailed(Exception):
    pass


def policy_pack(project_dir: Path, stack: str) -> tuple[Path, Path | None]:
    """The checkout's policy pack, made ready (its own virtualenv, policy/.venv: Pulumi makes none
    for a local pack, and without one a preview fails and the CLI may then hang), and the stack's
    settings for it (policy/<stack>.json) when the stack has them."""
    subprocess.run([str(project_dir / "scripts" / "ensure-venv"), "--policy"], check=True)
    pack = project_dir / POLICY_PACK
    settings = pack / f"{stack}.json"
    return pack, settings if settings.exists() else None


def cli_version(reported: str) -> tuple[int, int, int] | None:
    """`pulumi version`'s answer (v3.259.0, v3.259.0-alpha.x) as numbers; None when it is not one."""
    found = re.match(r"v?(\d+)\.(\d+)\.(\d+)", reported.strip())
    return (int(found[1]), int(found[2]), int(found[3])) if found else None


@functools.cache
def require_cli() -> None:
    """Refuses, with what to do, a missing CLI or one older than the program needs."""
    wanted = ".".join(map(str, MINIMUM_CLI))
    if shutil.which("pulumi") is None:
        raise PulumiFailed(f"no `pulumi` on PATH: the program needs Pulumi CLI {wanted} or later; {INSTALL_HINT}")
    reported = subprocess.run(["pulumi", "version"], capture_output=True, text=True, check=False).stdout
    version = cli_version(reported)
    if version is None or version < MINIMUM_CLI:
        raise PulumiFailed(
            f"the `pulumi` on PATH is {reported.strip() or 'of no known version'}; "
            f"the program needs {wanted} or later: {INSTALL_HINT}"
        )


def pulumi(
    args: Sequence[str],
    cwd: Path,
    env: Mapping[str, str] | None = None,
    stdin: str | None = None,
    check: bool = True,
) -> subprocess.CompletedProcess[str]:
    require_cli()
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
