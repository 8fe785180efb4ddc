"""A real Docker engine (Debian's dockerd, its managed containerd, runc) inside a network namespace.

dockerd joins only the namespace's network (`nsenter --net=`; `ip netns exec` would remount /sys and
hide the cgroups), so its bridge, its iptables chains and its published ports live in the namespace,
while its data-root, exec-root, socket, pidfile, key and cgroups are this engine's own: several
engines can run side by side, and when one is done nothing of it is left on the machine.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

from testbed.tools import require_tool

ROOT = Path(__file__).resolve().parents[1]
# Folders dockerd and containerd create on the machine whatever their flags say (plugin discovery,
# shim sockets); removed when empty and no other engine runs.
SHARED_DIRS = (Path("/run/docker/plugins"), Path("/run/docker"), Path("/run/containerd/s"), Path("/run/containerd"))
SHIM_SOCKETS = Path("/run/containerd/s")
# dockerd 20.10 uses the machine's containerd whenever this socket exists (the machine's own Docker
# runs); an engine of the tests then starts over an empty /run/containerd of its own.
MACHINE_CONTAINERD = Path("/run/containerd/containerd.sock")
CONTAINERD_NAMESPACE = "moby"
# Process names (comm, 15 characters at most) of the engine's programs.
ENGINE_PROGRAMS = {"dockerd", "containerd", "containerd-shim", "runc", "docker-proxy", "docker-init"}
SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
START_TIMEOUT = 90.0
STOP_TIMEOUT = 60.0


class DockerError(subprocess.CalledProcessError):
    """A failed docker command; unlike its base class, says what docker printed."""

    def __str__(self) -> str:
        output = (self.stderr or self.stdout or "").strip()
        return f"{' '.join(map(str, self.cmd))} exited with {self.returncode}:\n{output[-4000:]}"


class MountsRemain(RuntimeError):
    pass


def require_docker() -> None:
    """Skips (fails in CI) a test when the engine's tools are missing: scripts/install-docker-engine."""
    for tool in ("dockerd", "containerd", "runc", "nsenter", "docker"):
        require_tool(tool)


def compose_plugin_dir() -> str:
    """The folder whose cli-plugins/ holds docker-compose: $COMPOSE_PLUGIN_DIR, else the installer's."""
    configured = os.environ.get("COMPOSE_PLUGIN_DIR")
    if configured:
        return configured
    result = subprocess.run(
        [str(ROOT / "scripts" / "install-docker-engine")], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise RuntimeError(f"scripts/install-docker-engine failed:\n{result.stderr[-4000:]}")
    return result.stdout.strip().splitlines()[-1]


@dataclass
class DockerEngine:
    namespace: str
    root: Path
    env: dict[str, str]
    # The exec-root (containerd's sockets, libnetwork's key socket) and the API socket: a short folder
    # in /tmp, as unix socket paths are limited to 108 bytes.
    run_dir: Path = field(default_factory=Path)
    cgroup_parent: str = ""
    # How dockerd enters the VM (nsenter's options): by default the namespace's network only; a
    # process's (`-t PID -m -n`) when the VM is also a mount namespace, as the engine suite's host is.
    enter: tuple[str, ...] = ()
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def data_root(self) -> Path:
        return self.root / "data"

    @property
    def exec_root(self) -> Path:
        return self.run_dir / "x"

    @property
    def socket_path(self) -> Path:
        return self.run_dir / "docker.sock"

    @property
    def log_path(self) -> Path:
        return self.root / "dockerd.log"

    def docker(
        self, *args: str, check: bool = True, input_text: str | None = None, timeout: float = 300
    ) -> subprocess.CompletedProcess[str]:
        command = ["docker", *args]
        result = subprocess.run(
            command,
            env=self.env,
            capture_output=True,
            text=True,
            input=input_text,
            stdin=subprocess.DEVNULL if input_text is None else None,
            timeout=timeout,
            check=False,
        )
        if check and result.returncode != 0:
            raise DockerError(result.returncode, command, result.stdout, result.stderr)
        return result

    def services(self) -> dict[str, str]:
        """Running compose service -> container id ("" for a container outside compose)."""
        listing = self.docker("ps", "--no-trunc", "--format", '{{.ID}} {{.Label "com.docker.compose.service"}}').stdout
        return {service: container for container, _, service in (line.partition(" ") for line in listing.splitlines())}

    def start(self, timeout: float = START_TIMEOUT) -> None:
        """Starts dockerd in the namespace and waits until its API answers."""
        if self.process is not None and self.process.poll() is None:
            raise RuntimeError("dockerd is already running")
        (self.root / "dockerd.pid").unlink(missing_ok=True)
        (self.exec_root / "containerd" / "containerd.pid").unlink(missing_ok=True)
        command = [
            "nsenter",
            *(self.enter or (f"--net=/var/run/netns/{self.namespace}",)),
            *self._own_containerd(),
            "dockerd",
            # Not /etc/docker/daemon.json, nor /etc/docker/key.json: nothing of the machine's.
            "--config-file",
            str(self.root / "daemon.json"),
            "--data-root",
            str(self.data_root),
            "--exec-root",
            str(self.exec_root),
            "--pidfile",
            str(self.root / "dockerd.pid"),
            "--host",
            f"unix://{self.socket_path}",
            "--storage-driver",
            "overlay2",
            "--exec-opt",
            "native.cgroupdriver=cgroupfs",
            "--cgroup-parent",
            self.cgroup_parent,
        ]
        env = {key: value for key, value in os.environ.items() if key != "NOTIFY_SOCKET"}
        env["PATH"] = f"{env.get('PATH', '')}:{SYSTEM_PATH}".lstrip(":")
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.root,
                env=env,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while not self._answers():
            if self.process.poll() is not None:
                raise RuntimeError(f"dockerd exited with {self.process.returncode}:\n{self.log_tail()}")
            if time.monotonic() > deadline:
                self.stop()
                raise TimeoutError(f"dockerd did not answer within {timeout:.0f}s:\n{self.log_tail()}")
            time.sleep(0.1)

    @staticmethod
    def _own_containerd() -> tuple[str, ...]:
        """Where a containerd of the machine's own runs, dockerd starts in a private mount namespace
        with an empty /run/containerd, so it starts its own containerd beside it (its mounts go
        with that namespace); elsewhere, nothing."""
        if not MACHINE_CONTAINERD.exists():
            return ()
        hide = 'mount -t tmpfs flowspace-engine /run/containerd && exec "$@"'
        return ("unshare", "--mount", "--propagation", "private", "sh", "-c", hide, "sh")

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """Stops dockerd (SIGTERM: it stops its containers and its containerd; SIGKILL after `timeout`),
        then kills whatever of this engine still runs: containerd, shims, container processes."""
        process, self.process = self.process, None
        # Pids with their start time: a pid the kernel reuses meanwhile is not this engine's.
        tracked: dict[int, str] = {}

        def track(pids: set[int]) -> None:
            for pid in pids:
                started = start_time(pid)
                if started is not None:
                    tracked.setdefault(pid, started)

        track(self._processes())
        since = min((int(started) for started in tracked.values()), default=2**63)
        if process is not None and process.poll() is None:
            track(_descendants(process.pid))
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        for _ in range(50):
            ours = {pid for pid, started in tracked.items() if _alive(pid) and start_time(pid) == started}
            leftovers = self._processes() | ours
            if not leftovers:
                break
            track(leftovers)
            for pid in leftovers:
                with suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.1)
        else:
            raise RuntimeError(f"processes of the engine in {self.root} survive SIGKILL: {sorted(leftovers)}")
        # Shims, and the short-lived shim and runc commands containerd runs, are reparented to init
        # when they outlive their parent, and init reaps them only every second or so: wait for it,
        # so that no zombie of the engine is seen after stop().
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and (
            any(start_time(pid) == started for pid, started in tracked.items()) or _engine_zombies(since)
        ):
            time.sleep(0.05)
        (self.exec_root / "containerd" / "containerd.pid").unlink(missing_ok=True)

    def restart(self) -> None:
        """As a reboot would: dockerd stops (its containers with it) and starts again; containers with
        a restart policy come back by themselves."""
        self.stop()
        self.start()

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return "(no dockerd log)"

    def _answers(self) -> bool:
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
                client.settimeout(5)
                client.connect(str(self.socket_path))
                client.sendall(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
                reply = b""
                while chunk := client.recv(4096):
                    reply += chunk
        except OSError:
            return False
        return reply.startswith(b"HTTP/1.") and b" 200 " in reply.split(b"\r\n", 1)[0]

    def _processes(self) -> set[int]:
        """This engine's processes: by their command line (containerd, shims, runc name the exec-root
        or the data-root) and by their cgroup (containers)."""
        marks = (str(self.exec_root) + "/", str(self.data_root) + "/", str(self.run_dir) + "/")
        return processes_of(marks, self._cgroup_dirs())

    def _cgroup_dirs(self) -> list[Path]:
        return cgroup_dirs(self.cgroup_parent)

    def _remove_cgroups(self) -> None:
        remove_cgroups(self.cgroup_parent, f"the engine in {self.root}")

    def _container_ids(self) -> set[str]:
        folders = (
            self.data_root / "containers",
            self.exec_root / "containerd" / "daemon" / "io.containerd.runtime.v2.task" / CONTAINERD_NAMESPACE,
        )
        return {entry.name for folder in folders if folder.is_dir() for entry in folder.iterdir()}

    def _remove_shim_sockets(self) -> None:
        """A killed shim leaves its socket in /run/containerd/s, named by a hash of containerd's address,
        the namespace and the container id."""
        address = self.exec_root / "containerd" / "containerd.sock"
        for container in self._container_ids():
            digest = hashlib.sha256(f"{address}/{CONTAINERD_NAMESPACE}/{container}".encode()).hexdigest()
            (SHIM_SOCKETS / digest).unlink(missing_ok=True)

    def _unmount(self) -> None:
        """Lazily unmounts everything under the engine's folders, deepest first."""
        tops = (self.root.resolve(), self.run_dir.resolve())
        mounts = [point for point in mount_points() if any(point == top or top in point.parents for top in tops)]
        for point in sorted(mounts, key=lambda path: len(path.parts), reverse=True):
            subprocess.run(["umount", "-l", str(point)], capture_output=True, check=False)
        remaining = [point for point in mount_points() if any(point == top or top in point.parents for top in tops)]
        if remaining:
            raise MountsRemain(f"mounts of the engine remain: {remaining}")

    def cleanup(self) -> None:
        """Stops the engine and removes every trace of it from the machine; a step that fails does not
        keep the next ones from running, except that nothing is deleted while a mount remains (a
        volume may be a bind mount of a folder of the machine)."""
        errors: list[Exception] = []
        for step in (self.stop, self._remove_cgroups, self._remove_shim_sockets, self._unmount):
            try:
                step()
            except Exception as error:
                errors.append(error)
        if not errors or not isinstance(errors[-1], MountsRemain):
            shutil.rmtree(self.root, ignore_errors=True)
            shutil.rmtree(self.run_dir, ignore_errors=True)
        if not other_engines_run():
            for folder in SHARED_DIRS:
                with suppress(OSError):
                    folder.rmdir()
        if errors:
            for other in errors[1:]:
                errors[0].add_note(f"also: {other}")
            raise errors[0]


@contextmanager
def docker_engine(
    namespace: str, scratch: Path, compose_plugin_dir: str, enter: tuple[str, ...] = ()
) -> Iterator[DockerEngine]:
    """dockerd in `namespace` (entered as `enter` says, see DockerEngine), its state under
    `scratch`/docker; at exit its containers, processes, mounts, cgroups and folders are gone."""
    if not Path(f"/var/run/netns/{namespace}").exists():
        raise FileNotFoundError(f"no network namespace {namespace}")
    plugin = Path(compose_plugin_dir) / "cli-plugins" / "docker-compose"
    if not plugin.is_file():
        raise FileNotFoundError(f"no docker-compose plugin at {plugin}")
    root = Path(tempfile.mkdtemp(prefix="docker-", dir=scratch)).resolve()
    run_dir = Path(tempfile.mkdtemp(prefix="fsd-", dir="/tmp"))
    client_config = root / "client"
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DOCKER_CONTEXT", "DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH", "DOCKER_TLS"}
    }
    env |= {
        "DOCKER_HOST": f"unix://{run_dir / 'docker.sock'}",
        "DOCKER_CONFIG": str(client_config),
        # No buildx plugin here: `docker build` is the legacy builder.
        "DOCKER_BUILDKIT": "0",
        "DOCKER_CLI_HINTS": "false",
    }
    engine = DockerEngine(namespace, root, env, run_dir=run_dir, cgroup_parent=f"/{run_dir.name}", enter=enter)
    try:
        (root / "data").mkdir()
        # The key has no flag in dockerd 20.10; without it, dockerd writes /etc/docker/key.json.
        (root / "daemon.json").write_text(json.dumps({"deprecated-key-path": str(root / "key.json")}))
        # The CLI's own config folder: the compose plugin linked in, nothing shared with other engines.
        (client_config / "cli-plugins").mkdir(parents=True)
        (client_config / "cli-plugins" / "docker-compose").symlink_to(plugin.resolve())
        engine.start()
        yield engine
    finally:
        try:
            if engine.process is not None and engine.process.poll() is None:
                containers = engine.docker("ps", "-aq", check=False, timeout=60).stdout.split()
                if containers:
                    engine.docker("rm", "-f", *containers, check=False, timeout=120)
        finally:
            engine.cleanup()


def processes_of(marks: Sequence[str], cgroups: Sequence[Path]) -> set[int]:
    """The processes whose command line names one of `marks`, and those in `cgroups` (or below)."""
    found: set[int] = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if any(mark in cmdline for mark in marks):
            found.add(int(entry.name))
    for directory in cgroups:
        for procs in directory.rglob("cgroup.procs"):
            with suppress(OSError):
                found.update(int(pid) for pid in procs.read_text().split())
    return found


def cgroup_dirs(name: str) -> list[Path]:
    """A cgroup `name` in every hierarchy (cgroup v1 controllers, named, unified) where it exists."""
    name = name.strip("/")
    if not name:
        return []
    base = Path("/sys/fs/cgroup")
    candidates = [base / name, *(hierarchy / name for hierarchy in base.iterdir() if hierarchy.is_dir())]
    return [path for path in candidates if path.is_dir()]


def remove_cgroups(name: str, owner: str) -> None:
    """Removes the cgroup `name` and those below it in every hierarchy, retrying while their last
    processes exit; `owner` says whose they are when some remain."""
    for _ in range(50):
        for directory in cgroup_dirs(name):
            for current, _dirs, _files in os.walk(directory, topdown=False):
                with suppress(OSError):
                    os.rmdir(current)
        if not cgroup_dirs(name):
            return
        time.sleep(0.1)
    raise RuntimeError(f"cgroups of {owner} remain: {cgroup_dirs(name)}")


def mount_points() -> list[Path]:
    points: list[Path] = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        # mountinfo escapes space, tab, newline and backslash as octal.
        points.append(Path(re.sub(r"\\([0-7]{3})", lambda match: chr(int(match[1], 8)), line.split(" ")[4])))
    return points


def _stat(pid: int) -> list[str]:
    """/proc/PID/stat's fields after the command name (state first); none for a process gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return []


def _alive(pid: int) -> bool:
    fields = _stat(pid)
    return bool(fields) and fields[0] != "Z"


def start_time(pid: int) -> str | None:
    fields = _stat(pid)
    return fields[19] if len(fields) > 19 else None


def _engine_zombies(since: int) -> list[int]:
    """Zombies of an engine's programs started at or after `since` (clock ticks after boot)."""
    found: list[int] = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        fields = _stat(int(entry.name))
        if len(fields) <= 19 or fields[0] != "Z" or int(fields[19]) < since:
            continue
        with suppress(OSError):
            if (entry / "comm").read_text().strip() in ENGINE_PROGRAMS:
                found.append(int(entry.name))
    return found


def _descendants(pid: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        fields = _stat(int(entry.name))
        if fields:
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    found: set[int] = set()
    pending = [pid]
    while pending:
        for child in children.get(pending.pop(), []):
            if child not in found:
                found.add(child)
                pending.append(child)
    return found


def other_engines_run() -> bool:
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            program = (entry / "cmdline").read_bytes().split(b"\0", 1)[0]
        except OSError:
            continue
        if os.path.basename(program) in {b"dockerd", b"containerd"} or b"containerd-shim" in program:
            return True
    return False
