"""Operate a stack's host from one command: the address and the keys come from the stack.

    scripts/ops -s prod status                  the running release, firewall, services, disk, memory
    scripts/ops -s prod logs [SERVICE] [--follow]
    scripts/ops -s prod exec SERVICE -- CMD...  a command in a service's container
    scripts/ops -s prod ssh [-- CMD...]         a shell on the host (or one command)
    scripts/ops -s prod releases                the releases kept, the running one marked
    scripts/ops -s prod rollback                the previous good release back, in seconds
    scripts/ops -s prod forward                 the release the stack declares back (after a rollback)
    scripts/ops -s prod audit                   who activated, rolled back or retired what, when

SERVICE is livekit, caddy or socket-server (its live slot). The login key and the pinned host key
are written to a private temporary folder for the one ssh call and removed after it: nothing
secret reaches a command line or the terminal. Everything but `ssh` runs the host's own
`release.sh` of the running release.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from config.existing import TARGET_HOST_KEY, TARGET_PORT, TARGET_PRIVATE_KEY
from model import layout, ports
from render.compose import SHARES
from scripts.pulumi_cli import PulumiFailed, pulumi

PROJECT = Path(__file__).resolve().parents[1]
SERVICES = tuple(SHARES)
ACTIONS = ("status", "logs", "exec", "ssh", "releases", "rollback", "forward", "audit")
RELEASE_ID = re.compile(r"[0-9a-f]{16}")
ACTIVATE = "rollout-activate"


class OpsError(Exception):
    pass


@dataclass(frozen=True)
class Host:
    user: str
    address: str
    port: int
    private_key: str
    host_key: str


def _pulumi(args: Sequence[str], stack: str, project_dir: Path) -> Any:
    return json.loads(pulumi([*args, "--stack", stack], project_dir).stdout)


def host_of(outputs: Mapping[str, Any], settings: Mapping[str, Any]) -> Host:
    """The host from the stack's outputs (an OCI server's deploy key) or settings (an existing one's)."""
    if "cluster_id" in outputs:
        raise OpsError(
            "a cluster stack has no host to SSH to: reach it with kubectl, its kubeconfig from "
            f"`oci ce cluster create-kubeconfig --cluster-id {outputs['cluster_id']}` (docs/cluster.md)"
        )
    command = str(outputs.get("ssh_command", ""))
    if not command.startswith("ssh ") or "@" not in command:
        raise OpsError("the stack has no ssh_command output: has `pulumi up` run for it?")
    user, address = command.removeprefix("ssh ").split("@", 1)

    def setting(key: str) -> str | None:
        entry = settings.get(f"flowspace:{key}")
        return None if entry is None else str(entry.get("value", ""))

    private_key = outputs.get("ssh_private_key") or setting(TARGET_PRIVATE_KEY.name)
    host_key = outputs.get("ssh_host_public_key") or setting(TARGET_HOST_KEY.name)
    if not private_key or not host_key:
        raise OpsError("the stack holds no login key and host key for its server")
    port = int(setting(TARGET_PORT.name) or ports.SSH.first)
    return Host(user, address, port, str(private_key), str(host_key).strip())


def remote_command(action: str, arguments: Sequence[str], user: str, declared: str) -> str:
    """What runs on the host: the running release's own script (the declared one's for `forward`),
    every argument quoted."""
    if action == "ssh":
        return shlex.join(arguments)
    app = shlex.quote(layout.app_dir(user))
    if action == "forward":
        if not RELEASE_ID.fullmatch(declared):
            raise OpsError("the stack declares no release (its release_id output): has `pulumi up` run for it?")
        return f"cd {app} && exec sh {layout.RELEASES_DIR}/{declared}/{layout.RELEASE_SCRIPT} reactivate"
    script = f'"$(readlink -f current)/{layout.RELEASE_SCRIPT}"'
    return f"cd {app} && exec sh {script} {shlex.join([action, *arguments])}"


def check_arguments(action: str, arguments: Sequence[str]) -> list[str]:
    if action == "logs":
        unknown = [item for item in arguments if item != "--follow" and item not in SERVICES]
        if unknown or len([item for item in arguments if item in SERVICES]) > 1:
            raise OpsError(f"logs takes one service ({', '.join(SERVICES)}) and --follow")
        return list(arguments)
    if action == "exec":
        if len(arguments) < 2 or arguments[0] not in SERVICES:
            raise OpsError(f"exec SERVICE -- CMD...: SERVICE is one of {', '.join(SERVICES)}")
        return list(arguments)
    if action == "ssh":
        return list(arguments)
    if arguments:
        raise OpsError(f"{action} takes no arguments")
    return []


def run_on(host: Host, command: str, interactive: bool) -> int:
    with tempfile.TemporaryDirectory(prefix="flowspace-ops-") as folder:
        key, known = Path(folder) / "key", Path(folder) / "known_hosts"
        descriptor = os.open(key, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(host.private_key if host.private_key.endswith("\n") else host.private_key + "\n")
        name = host.address if host.port == ports.SSH.first else f"[{host.address}]:{host.port}"
        known.write_text(f"{name} {host.host_key}\n")
        argv = [
            "ssh",
            *(["-t"] if interactive else ["-T"]),
            "-i",
            str(key),
            "-p",
            str(host.port),
            "-o",
            "IdentitiesOnly=yes",
            "-o",
            f"UserKnownHostsFile={known}",
            "-o",
            "StrictHostKeyChecking=yes",
            "-o",
            "BatchMode=yes",
            f"{host.user}@{host.address}",
            *([command] if command else []),
        ]
        return subprocess.run(argv, check=False).returncode


def forget_activation(stack: str, project_dir: Path) -> None:
    """The activation leaves the state (the host keeps running): the next `up` activates the declared
    release again, and nothing is retired, since only `pulumi destroy` of a resource runs its delete."""
    exported = _pulumi(["stack", "export"], stack, project_dir)
    for resource in exported.get("deployment", {}).get("resources") or []:
        if str(resource.get("urn", "")).endswith(f"::{ACTIVATE}"):
            try:
                pulumi(["state", "delete", "--yes", "--stack", stack, str(resource["urn"])], project_dir)
            except PulumiFailed as error:
                raise OpsError(f"the host rolled back, but the state kept its activation: {error}") from None


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-s", "--stack", required=True)
    parser.add_argument("--project-dir", type=Path, default=PROJECT, help=argparse.SUPPRESS)
    parser.add_argument("action", choices=ACTIONS)
    parser.add_argument("arguments", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    # `exec SERVICE -- CMD` and `ssh -- CMD`: only the separator itself goes, never one of CMD's.
    arguments = list(args.arguments)
    separator = 1 if args.action == "exec" else 0
    if len(arguments) > separator and arguments[separator] == "--":
        del arguments[separator]
    try:
        arguments = check_arguments(args.action, arguments)
        outputs = _pulumi(["stack", "output", "--json", "--show-secrets"], args.stack, args.project_dir)
        settings = _pulumi(["config", "--json", "--show-secrets"], args.stack, args.project_dir)
        host = host_of(outputs, settings)
        interactive = args.action in ("ssh", "exec") and sys.stdin.isatty() and (args.action == "exec" or not arguments)
        declared = str(outputs.get("release_id", ""))
        code = run_on(host, remote_command(args.action, arguments, host.user, declared), interactive)
        if args.action == "rollback" and code == 0:
            forget_activation(args.stack, args.project_dir)
            print(
                f"the host runs the previous release; the stack declares {declared}, and the next `pulumi up` "
                f"activates it again (revert the change in git to stay back). Now: scripts/ops -s {args.stack} forward"
            )
        return code
    except (OpsError, PulumiFailed) as error:
        print(f"ops: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
