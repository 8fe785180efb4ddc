"""A Docker of the machine's own keeps running beside the tests' engines, untouched: dockerd 20.10
would take the machine's containerd whenever its socket exists, so an engine of the tests starts
over an empty /run/containerd of its own and runs its own containerd.

The machine's containerd here is Debian's, on the default socket, as Docker's packages run it; when
one already runs (a Docker of the machine's), the test uses that one and leaves it running.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from testbed.docker_host import MACHINE_CONTAINERD, compose_plugin_dir, docker_engine, require_docker
from testbed.netns import namespace_pair
from testbed.tools import require_root, require_tool


def _cmdline(pid: str) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def ctr(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["ctr", f"--address={MACHINE_CONTAINERD}", *args], capture_output=True, text=True, timeout=30, check=False
    )


@pytest.fixture
def machine_containerd(tmp_path: Path) -> Iterator[int | None]:
    """The machine's containerd: the one running, or Debian's started here on the default socket (and
    stopped after). Yields the pid this test started, or None for one it found."""
    require_root()
    require_tool("ctr")
    if MACHINE_CONTAINERD.exists() and ctr("version").returncode == 0:
        yield None
        return
    made_run_dir = not MACHINE_CONTAINERD.parent.exists()
    state = Path(tempfile.mkdtemp(prefix="fsm-", dir="/tmp"))
    daemon = subprocess.Popen(
        [
            require_tool("containerd"),
            f"--address={MACHINE_CONTAINERD}",
            f"--root={tmp_path / 'root'}",
            f"--state={state}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=(tmp_path / "containerd.log").open("wb"),
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 30
        while ctr("version").returncode != 0:
            assert daemon.poll() is None and time.monotonic() < deadline, (tmp_path / "containerd.log").read_text()
            time.sleep(0.1)
        yield daemon.pid
    finally:
        daemon.terminate()
        daemon.wait(30)
        subprocess.run(["umount", "-R", "-l", str(state)], capture_output=True, check=False)
        shutil.rmtree(state, ignore_errors=True)
        for path in (MACHINE_CONTAINERD, Path(f"{MACHINE_CONTAINERD}.ttrpc")):
            path.unlink(missing_ok=True)
        if made_run_dir:
            shutil.rmtree(MACHINE_CONTAINERD.parent, ignore_errors=True)


def test_an_engine_of_the_tests_runs_its_own_containerd_beside_the_machines(
    machine_containerd: int | None, tmp_path: Path
) -> None:
    require_docker()
    namespaces_before = set(ctr("namespaces", "ls", "-q").stdout.split())
    with namespace_pair("bm") as pair, docker_engine(pair.server, tmp_path, compose_plugin_dir()) as engine:
        # A container of the engine's own, from a one-file image of the machine's static busybox.
        rootfs = tmp_path / "rootfs"
        (rootfs / "bin").mkdir(parents=True)
        shutil.copy2("/bin/busybox", rootfs / "bin" / "busybox")
        archive = tmp_path / "busybox.tar"
        subprocess.run(["tar", "-C", str(rootfs), "-cf", str(archive), "."], check=True)
        engine.docker("import", str(archive), "beside:test")
        engine.docker("run", "-d", "--name", "sleeper", "beside:test", "/bin/busybox", "sleep", "300")

        landed = set(ctr("namespaces", "ls", "-q").stdout.split()) - namespaces_before
        assert not landed, f"the engine's containers landed in the machine's containerd: {landed}"
        assert any(
            command.startswith(b"containerd\0") and str(engine.exec_root).encode() in command
            for command in (_cmdline(pid) for pid in os.listdir("/proc") if pid.isdigit())
        ), "the engine did not start a containerd of its own"
    assert ctr("version").returncode == 0, "the machine's containerd must still run"
    if machine_containerd is not None:
        assert Path(f"/proc/{machine_containerd}").exists()
    assert set(ctr("namespaces", "ls", "-q").stdout.split()) == namespaces_before
