"""The layout stays as designed: imports run one way, the program fits a page, no config module sprawls."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# Each layer and the project layers it may import; anything not named here is off limits.
ALLOWED: dict[str, set[str]] = {
    "model": {"model"},
    "render": {"render", "model"},
    "config": {"config", "model"},
    "components": {"components", "render", "model"},
    "wiring": {"wiring", "config", "components", "model"},
    "__main__": {"wiring", "config", "components", "model"},
    "policy": {"policy", "model"},
    "scripts": {"scripts", "model", "render", "config"},
    "bench": {"bench", "model", "render", "testbed"},
    "testbed": {"testbed", "model", "render", "config", "scripts"},
    # Tests pin behaviour through everything but the benchmarks (which measure, and may change).
    "tests": {"tests", "testbed", "model", "render", "config", "components", "wiring", "scripts", "policy"},
}
PROJECT_PACKAGES = set(ALLOWED) - {"__main__"}
# No Pulumi below the components: the model and the renderers are plain Python.
PULUMI_FREE = ("model", "render")


def layer_of(path: Path) -> str:
    relative = path.relative_to(ROOT)
    return "__main__" if relative.parts == ("__main__.py",) else relative.parts[0]


def imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


SOURCES = sorted(
    path
    for path in [ROOT / "__main__.py", *ROOT.glob("*/**/*.py")]
    if layer_of(path) in ALLOWED and ".venv" not in path.parts and "node_modules" not in path.parts
)


@pytest.mark.parametrize("path", SOURCES, ids=lambda path: str(path.relative_to(ROOT)))
def test_imports_run_one_way(path: Path) -> None:
    layer = layer_of(path)
    for module in imports(path):
        top = module.split(".")[0]
        if top in PROJECT_PACKAGES:
            assert top in ALLOWED[layer], f"{path.relative_to(ROOT)} ({layer}) imports {module}"
        if layer in PULUMI_FREE:
            assert not top.startswith("pulumi"), f"{path.relative_to(ROOT)} imports {module}: {layer}/ is pure"


def test_the_direction_check_sees_every_layer() -> None:
    layers = {"model", "render", "config", "components", "__main__", "testbed", "tests", "bench"}
    assert {layer_of(path) for path in SOURCES} >= layers


def test_the_program_reads_as_one_page() -> None:
    lines = len((ROOT / "__main__.py").read_text().splitlines())
    assert lines <= 80, f"__main__.py has {lines} lines: move a step into a component or a named function"


@pytest.mark.parametrize("path", sorted((ROOT / "config").glob("*.py")), ids=lambda path: path.name)
def test_no_config_module_sprawls(path: Path) -> None:
    lines = len(path.read_text().splitlines())
    assert lines <= 200, f"config/{path.name} has {lines} lines: split it by section"


def test_every_refusal_an_operator_reads_is_a_problem() -> None:
    """One way to say what is wrong and how to fix it: model.problems.Problem, whose text is the only
    one that writes `fix:`."""
    home = ROOT / "model" / "problems.py"
    written = []
    for path in SOURCES:
        if layer_of(path) in ("tests", "bench", "testbed") or path == home:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and "fix:" in node.value:
                written.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert written == [], f"hand-written `fix:` (use model.problems.Problem): {written}"
    assert "fix:" in home.read_text()
