"""The ways into the tests: the full tier says what it needs and refuses elsewhere; the venv follows
the requirements; every built tool is cached by what decides its output; a run's closing line sums
its parts; the machine picture sees what a run leaves behind. Runs in the quick tier (no root)."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from scripts import junit_total, machine_state
from scripts.pulumi_cli import PulumiFailed, cli_version, require_cli

ROOT = Path(__file__).resolve().parents[2]


def stub(folder: Path, name: str, script: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text("#!/bin/sh\n" + textwrap.dedent(script))
    path.chmod(0o755)


def run(command: list[str], path_first: Path | None = None, **env: str) -> subprocess.CompletedProcess[str]:
    path = os.environ["PATH"] if path_first is None else f"{path_first}:{os.environ['PATH']}"
    return subprocess.run(
        command, capture_output=True, text=True, env={**os.environ, "PATH": path, **env}, stdin=subprocess.DEVNULL
    )


@pytest.mark.parametrize(
    ("name", "answer", "said"),
    [("uname", "Darwin", "needs Linux"), ("id", "1000", "needs root")],
)
def test_the_full_tier_refuses_where_it_cannot_run_and_names_the_quick_tier(
    tmp_path: Path, name: str, answer: str, said: str
) -> None:
    stub(tmp_path, name, f"echo {answer}\n")
    result = run([str(ROOT / "scripts/test")], tmp_path)
    assert result.returncode == 2
    assert said in result.stderr and "scripts/test-quick" in result.stderr


def test_the_full_tier_refuses_without_apt_get(tmp_path: Path) -> None:
    tools = tmp_path / "bin"
    tools.mkdir()
    for tool in ("bash", "dirname", "uname", "printf", "cat"):
        (tools / tool).symlink_to(shutil.which(tool) or f"/bin/{tool}")
    stub(tools, "id", "echo 0\n")
    result = subprocess.run(
        ["bash", str(ROOT / "scripts/test")], capture_output=True, text=True, env={"PATH": str(tools)}
    )
    assert result.returncode == 2 and "apt-get" in result.stderr and "scripts/test-quick" in result.stderr


def copy_script(into: Path, *names: str) -> None:
    for name in names:
        (into / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, into / name)


def test_the_venv_follows_the_requirements_and_an_unfinished_install_is_finished(tmp_path: Path) -> None:
    checkout = tmp_path / "checkout"
    copy_script(checkout, "scripts/ensure-venv")
    (checkout / "requirements.txt").write_text("# nothing yet\n")
    (checkout / "requirements-dev.txt").write_text("-r requirements.txt\n")
    ensure = [str(checkout / "scripts/ensure-venv")]

    made = run(ensure, PYTHON=sys.executable)
    assert made.returncode == 0, made.stderr
    assert "creating .venv" in made.stderr and "syncing" in made.stderr
    assert "syncing" not in run(ensure).stderr

    (checkout / "requirements.txt").write_text("# a git pull changed me\n")
    assert "syncing .venv with requirements.txt" in run(ensure).stderr
    assert "syncing" in run([*ensure, "--dev"]).stderr
    assert "syncing" not in run(ensure).stderr, "a --dev venv serves the program too"

    (checkout / ".venv/flowspace-requirements").unlink()  # as after an install that was stopped
    assert "syncing" in run(ensure).stderr


def test_an_old_python_is_refused_by_name(tmp_path: Path) -> None:
    checkout = tmp_path / "checkout"
    copy_script(checkout, "scripts/ensure-venv")
    (checkout / "requirements.txt").write_text("")
    stub(
        tmp_path / "bin", "python3.9", 'case "$1" in -c) case "$2" in *exit*) exit 1 ;; *) echo 3.9.6 ;; esac ;; esac\n'
    )
    result = run([str(checkout / "scripts/ensure-venv")], tmp_path / "bin", PYTHON="python3.9")
    assert result.returncode == 1
    assert "Python 3.9.6" in result.stderr and "3.11 or later" in result.stderr and "PYTHON=" in result.stderr
    assert not (checkout / ".venv").exists()


def cache_folder(script: Path, version: str, go: Path, *paths: Path) -> str:
    command = f'. {ROOT / "scripts/lib/cache.sh"} && cache_dir tool "$@"'
    result = run(["bash", "-c", command, "-", version, *map(str, paths)], go, HOME=str(script.parent))
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_a_cached_build_is_keyed_by_everything_that_decides_its_output(tmp_path: Path) -> None:
    go = tmp_path / "go-bin"
    stub(go, "go", "printf 'go1.26.8\\nlinux\\namd64\\n'\n")
    for place in ("a", "b"):
        (tmp_path / place / "src").mkdir(parents=True)
        (tmp_path / place / "build").write_text("go build -ldflags '-s -w'\n")
        (tmp_path / place / "src/main.go").write_text("package main\n")
    a, b = tmp_path / "a", tmp_path / "b"
    first = cache_folder(a / "build", "1.0", go, a / "build", a / "src")
    assert "/flowspace/tool-1.0-" in first
    assert cache_folder(a / "build", "1.0", go, b / "build", b / "src").rsplit("-", 1)[1] == first.rsplit("-", 1)[1]
    assert cache_folder(a / "build", "1.1", go, a / "build", a / "src") != first
    (b / "build").write_text("go build\n")
    assert cache_folder(a / "build", "1.0", go, b / "build", b / "src") != first
    (a / "src/main.go").write_text("package main // changed\n")
    assert cache_folder(a / "build", "1.0", go, a / "build", a / "src") != first
    stub(go, "go", "printf 'go1.27.0\\nlinux\\namd64\\n'\n")
    (a / "src/main.go").write_text("package main\n")
    assert cache_folder(a / "build", "1.0", go, a / "build", a / "src") != first


def test_every_build_script_keys_its_cache_with_the_one_helper() -> None:
    for script in [
        *ROOT.glob("scripts/build-*"),
        ROOT / "scripts/install-docker-engine",
        ROOT / "scripts/install-pulumi",
    ]:
        text = script.read_text()
        assert "lib/cache.sh" in text and "cache_dir " in text, f"{script.name} keys its cache by hand"
        # install-pulumi's bundle holds only links to the cached pieces, named by their versions.
        assert "/flowspace/" not in text.replace('/flowspace/pulumi-engine"', ""), script.name


def test_packages_are_not_installed_without_apt_get_and_nothing_is_done_when_all_is_there(tmp_path: Path) -> None:
    script = [str(ROOT / "scripts/install-packages")]
    assert run([*script, "sh:dash", "/bin/sh:dash"]).returncode == 0
    tools = tmp_path / "bin"
    tools.mkdir()
    for tool in ("bash", "id", "sh"):
        (tools / tool).symlink_to(shutil.which(tool) or f"/bin/{tool}")
    missing = subprocess.run(
        ["bash", *script, "no-such-program:no-such-package"], capture_output=True, text=True, env={"PATH": str(tools)}
    )
    assert missing.returncode == 1 and "apt-get install no-such-package" in missing.stderr


def test_the_operators_commands_want_a_recent_enough_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert cli_version("v3.259.0\n") == (3, 259, 0)
    assert cli_version("v3.174.0-alpha.1+dirty") == (3, 174, 0)
    assert cli_version("warning: something") is None
    stub(tmp_path, "pulumi", "echo v3.120.0\n")
    monkeypatch.setenv("PATH", f"{tmp_path}:{os.environ['PATH']}")
    require_cli.cache_clear()
    with pytest.raises(PulumiFailed, match=r"v3\.120\.0; the program needs 3\.174\.0 or later.*--no-edit-path"):
        require_cli()
    stub(tmp_path, "pulumi", "echo v3.174.0\n")
    require_cli.cache_clear()
    require_cli()
    require_cli.cache_clear()


def test_a_runs_closing_line_sums_its_pytest_runs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    first, second = tmp_path / "first.xml", tmp_path / "second.xml"
    first.write_text('<testsuites><testsuite tests="10" failures="1" errors="1" skipped="2"/></testsuites>')
    second.write_text('<testsuite tests="5" failures="0" errors="0" skipped="0"/>')
    assert junit_total.main([str(first), str(second)]) == 1
    assert capsys.readouterr().out == "tests: 11 passed, 2 failed, 2 skipped\n"
    assert junit_total.main([str(second)]) == 0


def test_the_machine_picture_sees_what_a_run_leaves_behind() -> None:
    """A child of the run still running, a daemon that outlived its parent (init's now), a listening
    socket; the run itself is not in its own picture."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        child = subprocess.Popen(["sleep", "37.5"])
        subprocess.run(["sh", "-c", "sleep 38.5 > /dev/null 2>&1 &"], check=True)
        try:
            picture = machine_state.state(run=os.getpid())
        finally:
            child.kill()
            child.wait()
            subprocess.run(["pkill", "-f", "^sleep 38.5$"], check=False)
    assert "process sleep 37.5" in picture, "the run's own child"
    assert "process sleep 38.5" in picture, "a daemon (init's child)"
    assert f"listen tcp 0100007F:{port}" in picture
    assert any(line.startswith("mount / ") for line in picture)
    assert not [line for line in picture if "pytest" in line and str(ROOT) in line and "sleep" not in line]


# What bash 3.2 (macOS's own) does not know: associative arrays, mapfile, case changes, negative
# indexes, namerefs, coprocesses, `|&` and `&>>`.
BASH4_ONLY = re.compile(
    r"declare -A|local -A|mapfile|readarray|\$\{\w+(,,|\^\^)|\[-\d+\]|declare -n|local -n|coproc |\|&|&>>"
)
# The scripts a macOS user runs: the quick tier and the operator's commands.
RUN_ON_MACOS = (
    "test-quick",
    "ensure-npm",
    "lint",
    "ensure-venv",
    "install-pulumi",
    "lib/cache.sh",
    "deploy",
    "ops",
    "host-diff",
    "edge-check",
    "vercel-env",
    "backup-state",
    "preview-mirror",
)


@pytest.mark.parametrize("script", RUN_ON_MACOS)
def test_what_runs_on_macos_is_bash_3_2(script: str) -> None:
    for number, line in enumerate((ROOT / "scripts" / script).read_text().splitlines(), 1):
        if not line.lstrip().startswith("#"):
            assert not BASH4_ONLY.search(line), f"scripts/{script}:{number} needs bash 4: {line.strip()}"


@pytest.mark.parametrize(
    ("suites", "builds"),
    [
        (["unit", "policy"], set()),
        (["lint"], set()),
        (["render"], {"livekit-server"}),
        (["host"], {"livekit-server", "docker-engine"}),
        (["engine"], {"livekit-server", "docker-engine", "pulumi-engine", "record-provider"}),
        (["cluster"], {"livekit-server", "pulumi-engine", "kubernetes", "cni-plugins", "pulumi-kubernetes"}),
        (["journeys"], {"livekit-server", "docker-engine", "pulumi-engine", "versitygw", "act"}),
        (
            [],
            {
                "livekit-server",
                "livekit-client",
                "docker-engine",
                "pulumi-engine",
                "record-provider",
                "versitygw",
                "act",
                "kubernetes",
                "cni-plugins",
                "pulumi-kubernetes",
            },
        ),
    ],
)
def test_a_suite_builds_and_installs_only_what_it_uses(suites: list[str], builds: set[str]) -> None:
    plan = run([str(ROOT / "scripts/install-test-deps"), "plan", *suites])
    assert plan.returncode == 0, plan.stderr
    lines = [line.split(" ", 1) for line in plan.stdout.splitlines()]
    assert {name for kind, name in lines if kind == "build"} == builds
    packages = {name for kind, name in lines if kind == "package"}
    assert ("docker.io" in packages) == bool(builds & {"docker-engine"})
    assert ("etcd-server" in packages) == (not suites or "cluster" in suites)
