"""A stand-in for Docker on the server namespace: runs each compose service as a real process.

The compose file drives it: volumes become bind mounts (inside a private mount namespace, over an
overlay of /etc, so the machine's own /etc is never touched), published loopback ports become
loopback binds, and host networking is what a namespace process has anyway. The programs are the
real ones (Caddy, livekit-server, node); only the container runtime is missing.
"""

from __future__ import annotations

import shlex
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from model import versions
from model.app import env_pairs
from testbed.image_build import Image, build
from testbed.netns import Pair

# What the images set that the stand-in has to reproduce.
IMAGE_ENVIRONMENT = {versions.CADDY_IMAGE: {"XDG_DATA_HOME": "/data", "XDG_CONFIG_HOME": "/config"}}


@dataclass(frozen=True)
class Programs:
    caddy: str
    livekit_server: str
    node: str


@dataclass
class Service:
    name: str
    process: subprocess.Popen[bytes]
    log: Path

    def tail(self, lines: int = 20, width: int = 300) -> str:
        return "\n".join(line[:width] for line in self.log.read_text(errors="replace").splitlines()[-lines:])


@dataclass
class Stack:
    pair: Pair
    release: Path
    programs: Programs
    scratch: Path
    services: dict[str, Service] = field(default_factory=dict)
    built: dict[str, Image] = field(default_factory=dict)

    def document(self) -> dict[str, Any]:
        loaded: dict[str, Any] = yaml.safe_load((self.release / "docker-compose.yml").read_text())
        return loaded

    def _argv(self, name: str, service: Mapping[str, Any]) -> list[str]:
        image = service.get("image", "")
        if name in self.built:
            command = self.built[name].command
            return [self.programs.node if command[0] == "node" else command[0], *command[1:]]
        if image == versions.CADDY_IMAGE:
            return [self.programs.caddy, "run", "--config", "/etc/caddy/Caddyfile", "--adapter", "caddyfile"]
        if image == versions.LIVEKIT_IMAGE:
            return [self.programs.livekit_server, *service["command"]]
        raise AssertionError(f"the stand-in does not know how to run service {name} ({image})")

    def _mounts(self, name: str, service: Mapping[str, Any], environment: dict[str, str]) -> list[str]:
        overlay = self.scratch / name / "etc-overlay"
        (overlay / "upper").mkdir(parents=True, exist_ok=True)
        (overlay / "work").mkdir(parents=True, exist_ok=True)
        commands = [f"mount -t overlay overlay -o lowerdir=/etc,upperdir={overlay}/upper,workdir={overlay}/work /etc"]
        for volume in service.get("volumes", []):
            source, target = volume.split(":")[:2]
            if source.startswith("./"):
                host_path = self.release / source[2:]
                assert target.startswith("/etc/"), f"{name}: the stand-in mounts only under /etc, not {target}"
                make = "mkdir -p" if host_path.is_dir() else "touch"
                commands.append(f"mkdir -p {shlex.quote(str(Path(target).parent))}")
                commands.append(f"{make} {shlex.quote(target)}")
                commands.append(f"mount --bind -o ro {shlex.quote(str(host_path))} {shlex.quote(target)}")
            else:
                named = self.scratch / "volumes" / source
                named.mkdir(parents=True, exist_ok=True)
                for key, value in environment.items():
                    if value == target:
                        environment[key] = str(named)
        return commands

    def up(self) -> None:
        for name, service in self.document()["services"].items():
            environment = {
                "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                "HOME": str(self.scratch),
            }
            environment.update(IMAGE_ENVIRONMENT.get(service.get("image", ""), {}))
            for env_file in service.get("env_file", []):
                environment.update(_read_env_file(self.release / env_file))
            environment.update(service.get("environment", {}))
            workdir = self.release
            if "build" in service:
                # What `docker compose up --build` does first: the service's Dockerfile, run here.
                # A reboot keeps the image, as Docker does.
                if name not in self.built:
                    context = self.release / service["build"]["context"]
                    log = self.scratch / f"{name}-build.log"
                    self.built[name] = build(context, self.scratch / f"{name}-image", log)
                workdir = self.built[name].workdir
                environment.update(self.built[name].env)
            for published in service.get("ports", []):
                # "127.0.0.1:3001:3001": the container listens on all of its addresses, the host
                # publishes on loopback only; a process on the host binds loopback itself.
                environment["HOST"] = published.split(":")[0]
            script = " && ".join([*self._mounts(name, service, environment), 'exec "$@"'])
            log = self.scratch / f"{name}.log"
            process = self.pair.popen(
                self.pair.server,
                [
                    "unshare",
                    "--mount",
                    "--propagation",
                    "private",
                    "sh",
                    "-c",
                    script,
                    "sh",
                    *self._argv(name, service),
                ],
                cwd=workdir,
                env=environment,
                stdout=log.open("wb"),
                stderr=subprocess.STDOUT,
            )
            self.services[name] = Service(name, process, log)

    def down(self) -> None:
        for service in self.services.values():
            service.process.terminate()
        for service in self.services.values():
            try:
                service.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                service.process.kill()
                service.process.wait()
        self.services.clear()

    def logs(self) -> str:
        return "\n".join(f"--- {s.name} (exit {s.process.poll()})\n{s.tail()}" for s in self.services.values())


def _read_env_file(path: Path) -> dict[str, str]:
    """compose's env_file as the release writes it: NAME='literal value' lines."""
    return {name: value.removeprefix("'").removesuffix("'") for name, value in env_pairs(path.read_text())}
