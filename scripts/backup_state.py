"""A stack's state, kept somewhere other than its backend, and brought back.

    scripts/backup-state -s prod --out DIR              one file: the state and the stack's settings
    scripts/backup-state --restore FILE -s prod         into the backend in use (PULUMI_BACKEND_URL)

The backup holds the state as `pulumi stack export` writes it, every secret still encrypted with
the stack's passphrase, and the stack file (`Pulumi.<stack>.yaml`: its settings, secret ones
encrypted, and the passphrase's salt). It is only as useful as the passphrase is kept: without
it, no secret in the backup can be read, by anyone, including the operator who restores it. Store
it (0600) away from the backend, e.g. in a second bucket or an encrypted drive. Restoring creates
the stack in the backend in use, refuses a stack that already has resources there (`--force`
replaces them) and writes the stack file only where there is none or it is the same.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from scripts.pulumi_cli import PulumiFailed, pulumi

PROJECT = Path(__file__).resolve().parents[1]
FORMAT = "flowspace-state-backup/1"


class BackupError(Exception):
    pass


def _pulumi(args: Sequence[str], project_dir: Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    return pulumi(args, project_dir, check=check)


def backup(stack: str, project_dir: Path, out_dir: Path) -> Path:
    exported = json.loads(_pulumi(["stack", "export", "--stack", stack], project_dir).stdout)
    stack_file = project_dir / f"Pulumi.{stack}.yaml"
    document = {
        "format": FORMAT,
        "stack": stack,
        "taken": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "stack_file": stack_file.read_text() if stack_file.exists() else None,
        "state": exported,
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / f"flowspace-{stack}-{document['taken'].replace(':', '')}.json"
    descriptor = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        json.dump(document, handle)
    return target


def _load(path: Path) -> dict[str, Any]:
    try:
        document: dict[str, Any] = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise BackupError(f"{path} is not a backup: {error}") from None
    if document.get("format") != FORMAT:
        raise BackupError(f"{path} is not a backup made by scripts/backup-state ({FORMAT})")
    return document


def restore(path: Path, stack: str, project_dir: Path, force: bool) -> None:
    document = _load(path)
    if document["stack"] != stack:
        raise BackupError(f"{path} is a backup of {document['stack']!r}, not {stack!r}; name that stack (-s)")
    stack_file = project_dir / f"Pulumi.{stack}.yaml"
    saved = document["stack_file"]
    if saved is not None and stack_file.exists() and stack_file.read_text() != saved:
        raise BackupError(
            f"{stack_file.name} differs from the one in the backup (its salt must match the state's): move it "
            "away first, then restore again"
        )
    if saved is not None and not stack_file.exists():
        stack_file.write_text(saved)
    if _pulumi(["stack", "select", stack], project_dir, check=False).returncode != 0:
        _pulumi(["stack", "init", stack], project_dir)
    current = json.loads(_pulumi(["stack", "export", "--stack", stack], project_dir).stdout)
    if current.get("deployment", {}).get("resources") and not force:
        raise BackupError(
            f"the stack {stack!r} already has resources in this backend; restoring would replace them "
            "(add --force if that is what you want)"
        )
    with tempfile.TemporaryDirectory(prefix="flowspace-restore-") as temporary:
        state = Path(temporary) / "state.json"
        state.write_text(json.dumps(document["state"]))
        forced = ["--force"] if force else []
        _pulumi(["stack", "import", "--stack", stack, "--file", str(state), *forced], project_dir)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-s", "--stack", required=True)
    parser.add_argument("--out", type=Path, help="folder for the backup file (somewhere other than the backend)")
    parser.add_argument("--restore", type=Path, metavar="FILE", help="bring a backup back into the backend in use")
    parser.add_argument("--force", action="store_true", help="restore over a stack that has resources")
    parser.add_argument("--project-dir", type=Path, default=PROJECT, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    try:
        if args.restore:
            restore(args.restore, args.stack, args.project_dir, args.force)
            print(f"restored {args.stack} from {args.restore}")
        elif args.out is None:
            parser.error("name the folder the backup goes to (--out), somewhere other than the backend")
        else:
            print(backup(args.stack, args.project_dir, args.out))
    except (BackupError, PulumiFailed) as error:
        print(f"backup-state: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
