"""scripts/backup-state on the real engine with a file backend: a stack backed up, its backend
lost, and brought back into a new one, where the next preview finds nothing to do."""

from __future__ import annotations

import json
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from testbed.engine import Operator, install_engine, program_operator
from testbed.tools import require_root

ROOT = Path(__file__).resolve().parents[2]
PROGRAM = """\
import pulumi
import pulumi_random as random

token = random.RandomPassword("token", length=40, special=False)
pulumi.export("token", token.result)
pulumi.export("hook", pulumi.Config().require_secret("hook"))
"""
HOOK = "https://hooks.example/NeverPrintedHookSecret0123"


def operator_in(workdir: Path, engine: Path) -> Operator:
    return program_operator(workdir, engine, "kept", PROGRAM)


def backup_state(operator: Operator, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(ROOT / "scripts" / "backup-state"), "-s", operator.stack, "--project-dir", str(operator.project), *args],
        env=operator.env(),
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.fixture
def engine() -> Path:
    require_root()
    return install_engine()


def test_a_backup_brings_the_stack_back_into_a_new_backend(engine: Path, tmp_path: Path) -> None:
    laptop = operator_in(tmp_path / "laptop", engine)
    laptop.must("stack", "init")
    laptop.must("config", "set", "--secret", "hook", stdin=HOOK)
    laptop.must("up", "--yes", "--skip-preview")
    outputs = json.loads(laptop.must("stack", "output", "--json", "--show-secrets").stdout)

    made = backup_state(laptop, "--out", str(tmp_path / "backups"))
    assert made.returncode == 0, made.stderr
    backup = Path(made.stdout.strip())
    assert stat.S_IMODE(backup.stat().st_mode) == 0o600
    text = backup.read_text()
    assert outputs["token"] not in text and "NeverPrintedHookSecret" not in text, "a secret in the backup"

    # The laptop is gone: a fresh checkout (no stack file) and an empty backend.
    shutil.rmtree(tmp_path / "laptop")
    replacement = operator_in(tmp_path / "replacement", engine)
    restored = backup_state(replacement, "--restore", str(backup))
    assert restored.returncode == 0, restored.stderr
    replacement.must("preview", "--expect-no-changes")
    assert json.loads(replacement.must("stack", "output", "--json", "--show-secrets").stdout) == outputs

    again = backup_state(replacement, "--restore", str(backup))
    assert again.returncode == 1 and "already has resources" in again.stderr and "--force" in again.stderr
    assert backup_state(replacement, "--restore", str(backup), "--force").returncode == 0


def test_a_restore_never_overwrites_a_different_stack_file_or_takes_a_wrong_file(engine: Path, tmp_path: Path) -> None:
    laptop = operator_in(tmp_path / "laptop", engine)
    laptop.must("stack", "init")
    laptop.must("config", "set", "--secret", "hook", stdin=HOOK)
    backup = Path(backup_state(laptop, "--out", str(tmp_path / "backups")).stdout.strip())
    other = operator_in(tmp_path / "other", engine)
    (other.project / "Pulumi.kept.yaml").write_text("encryptionsalt: v1:other\n")
    refused = backup_state(other, "--restore", str(backup))
    assert refused.returncode == 1 and "differs from the one in the backup" in refused.stderr
    assert (other.project / "Pulumi.kept.yaml").read_text() == "encryptionsalt: v1:other\n"
    not_a_backup = tmp_path / "notes.json"
    not_a_backup.write_text("{}")
    wrong = backup_state(other, "--restore", str(not_a_backup))
    assert wrong.returncode == 1 and "is not a backup made by scripts/backup-state" in wrong.stderr
    assert backup_state(laptop).returncode == 2, "a backup goes where the operator says"
