"""A stand-in for `docker build`: runs a Dockerfile's instructions on this machine, one folder per
stage, so the socket server is built the way the host would build it (its own Dockerfile, its
build step, its multi-stage copy) — only without a container runtime.

Covers what socket server Dockerfiles use: FROM [AS], ARG, WORKDIR, COPY [--from=], RUN, ENV, CMD;
USER, EXPOSE, LABEL and HEALTHCHECK change nothing here. The base image is this machine (its node
and npm); paths in RUN commands are relative to WORKDIR.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

IGNORED = {"USER", "EXPOSE", "LABEL", "HEALTHCHECK", "ARG", "SHELL", "STOPSIGNAL"}


@dataclass
class Stage:
    root: Path
    workdir: str = "/"
    env: dict[str, str] = field(default_factory=dict)
    command: list[str] = field(default_factory=list)

    def path(self, inside: str) -> Path:
        absolute = inside if inside.startswith("/") else f"{self.workdir.rstrip('/')}/{inside}"
        return self.root / absolute.lstrip("/")


@dataclass(frozen=True)
class Image:
    workdir: Path
    command: list[str]
    env: dict[str, str]


def instructions(dockerfile: Path) -> list[tuple[str, str]]:
    joined: list[str] = []
    for raw in dockerfile.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if joined and joined[-1].endswith("\\"):
            joined[-1] = joined[-1][:-1] + " " + line
        else:
            joined.append(line)
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1] if " " in line else "") for line in joined]


def _copy(sources: list[Path], destination: Path, into_folder: bool) -> None:
    """Docker's COPY: a folder's contents land in the destination; files in it, or as it."""
    for source in sources:
        assert source.exists(), f"COPY: {source} does not exist"
        if source.is_dir():
            shutil.copytree(source, destination, dirs_exist_ok=True)
        else:
            target = destination / source.name if into_folder else destination
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)


def build(context: Path, scratch: Path, log: Path) -> Image:
    """Builds `context` (its Dockerfile) under `scratch`; the output of every RUN goes to `log`."""
    stages: dict[str, Stage] = {}
    stage: Stage | None = None
    npm_cache = Path.home() / ".npm"
    with log.open("ab") as output:
        for keyword, argument in instructions(context / "Dockerfile"):
            if keyword == "FROM":
                words = argument.split()
                stage = Stage(scratch / f"stage-{len(stages)}")
                stage.root.mkdir(parents=True)
                name = words[2] if len(words) == 3 and words[1].upper() == "AS" else str(len(stages))
                stages[name] = stage
                continue
            if keyword in IGNORED:
                continue
            assert stage is not None, f"{keyword} before FROM"
            if keyword == "WORKDIR":
                stage.workdir = argument if argument.startswith("/") else f"{stage.workdir}/{argument}"
                stage.path(".").mkdir(parents=True, exist_ok=True)
            elif keyword == "ENV":
                name, _, value = argument.partition("=")
                stage.env[name.strip()] = value.strip().strip('"')
            elif keyword == "COPY":
                words = shlex.split(argument)
                origin: Stage | None = None
                while words[0].startswith("--"):
                    flag = words.pop(0)
                    if flag.startswith("--from="):
                        origin = stages[flag.split("=", 1)[1]]
                *sources, destination = words
                paths = [origin.path(source) if origin else context / source for source in sources]
                _copy(paths, stage.path(destination), destination.endswith("/") or len(sources) > 1)
            elif keyword == "RUN":
                environment = {
                    "PATH": os.environ["PATH"],
                    "HOME": str(scratch),
                    "npm_config_cache": str(npm_cache),
                    "npm_config_prefer_offline": "true",
                    "npm_config_update_notifier": "false",
                    **stage.env,
                }
                output.write(f"--- RUN {argument}\n".encode())
                output.flush()
                done = subprocess.run(
                    ["sh", "-c", argument], cwd=stage.path("."), env=environment, stdout=output, stderr=output
                )
                assert done.returncode == 0, f"RUN {argument} failed ({done.returncode}): see {log}"
            elif keyword == "CMD":
                stage.command = json.loads(argument)
            else:
                raise AssertionError(f"the build stand-in does not know {keyword}")
    assert stage is not None and stage.command, "no CMD in the final stage"
    return Image(stage.path("."), stage.command, stage.env)
