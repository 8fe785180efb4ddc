"""`import_` on the real engine: a live resource whose settings differ from the program's is taken
over and updated in place by one `up`, the behaviour `adoptExisting` relies on (CLI 3.174.0 and
later; older CLIs refuse the import). The resource type is the record provider in
tests/fixtures/record-provider: records kept as files, read on import like a DNS record."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from testbed.engine import Operator, install_engine, plugin_home, program_operator
from testbed.tools import require, require_root

ROOT = Path(__file__).resolve().parents[2]
PROGRAM = """\
import pulumi

pulumi.CustomResource(
    "record:index:Record",
    "space",
    {"name": "space", "content": "203.0.113.9", "proxied": True},
    opts=pulumi.ResourceOptions(import_="space"),
)
"""
LIVE = {"name": "space", "content": "192.0.2.1", "proxied": False, "comment": "made by hand"}


@pytest.fixture
def operator(tmp_path: Path) -> Operator:
    require_root()
    engine = install_engine()
    built = subprocess.run([str(ROOT / "scripts" / "build-record-provider")], capture_output=True, text=True)
    require(built.returncode == 0, f"scripts/build-record-provider failed:\n{built.stderr[-3000:]}")
    record_plugin = Path(built.stdout.strip().splitlines()[-1])
    home = plugin_home(engine, tmp_path / "pulumi-home", record_plugin)
    (tmp_path / "records").mkdir()
    records = {"RECORDS_DIR": str(tmp_path / "records")}
    operator = program_operator(tmp_path, engine, "adopt", PROGRAM, home=home, extra_env=records)
    operator.must("stack", "init")
    return operator


def live_record(operator: Operator) -> dict[str, object]:
    return dict(json.loads((Path(operator.extra_env["RECORDS_DIR"]) / "space.json").read_text()))


def test_a_live_resource_that_differs_is_imported_then_updated_in_place(operator: Operator) -> None:
    (Path(operator.extra_env["RECORDS_DIR"]) / "space.json").write_text(json.dumps(LIVE))

    preview = json.loads(operator.must("preview", "--json").stdout)
    record_ops = [step["op"] for step in preview["steps"] if step["urn"].endswith("::space")]
    assert record_ops == ["import", "update"], preview["steps"]
    assert live_record(operator) == LIVE, "a preview changed the live record"

    up = operator.must("up", "--yes", "--skip-preview", "--non-interactive")
    assert "1 imported" in up.stdout and "1 updated" in up.stdout, up.output
    assert live_record(operator) == {"name": "space", "content": "203.0.113.9", "proxied": True}

    # The import option stays in the program (as in the adoption components): nothing more to do.
    operator.must("preview", "--expect-no-changes")


def test_an_import_of_nothing_fails_and_creates_nothing(operator: Operator) -> None:
    up = operator.pulumi("up", "--yes", "--skip-preview", "--non-interactive")
    assert up.returncode != 0
    assert "space" in up.output
    assert not (Path(operator.extra_env["RECORDS_DIR"]) / "space.json").exists()
