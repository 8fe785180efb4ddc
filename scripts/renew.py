"""The weekly renewal of the TURN/TLS certificate, unattended: it changes nothing unless the
certificate itself was renewed, and never brings back a release the operator rolled back.

    scripts/renew -s prod

1. `pulumi up` targeted at the certificate alone (with a refresh): the ACME provider renews it
   within 30 days of its expiry, or leaves it.
2. Unchanged (the certificate's `certificateNotAfter`): done, nothing else was touched.
3. Renewed, and the state holds the rollout's activation: `up` targeted at the certificate and its
   dependents, which carries it to the host (a new release: LiveKit restarts with it).
4. Renewed, but the activation is gone from the state (`scripts/ops rollback` took it out): the
   host keeps the release the operator chose; the run fails, saying what to do, so that someone
   hears it before the old certificate expires.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

from scripts.pulumi_cli import PulumiFailed, policy_pack, pulumi

PROJECT = Path(__file__).resolve().parents[1]
CERTIFICATE_TYPE = "acme:index/certificate:Certificate"
CERTIFICATE_PARENT = "TurnCertificate$"
ACTIVATION = "::rollout-activate"


class RenewalStopped(Exception):
    """The renewal did not carry the certificate to the host; the message says why and what to do."""


class RenewalStack(Protocol):
    def resources(self) -> list[dict[str, Any]]: ...

    def up(self, target: str, dependents: bool) -> None: ...


def certificate(resources: list[dict[str, Any]]) -> dict[str, Any]:
    found = [
        resource
        for resource in resources
        if resource.get("type") == CERTIFICATE_TYPE and CERTIFICATE_PARENT in str(resource.get("urn", ""))
    ]
    if len(found) != 1:
        raise RenewalStopped("the stack has no TURN/TLS certificate (turnHostname) to renew")
    return found[0]


def renew(stack: RenewalStack, log: Callable[[str], None] = print) -> str:
    """What happened: "unchanged" or "carried". Raises RenewalStopped."""
    before = certificate(stack.resources())
    urn, expiry = str(before["urn"]), before.get("outputs", {}).get("certificateNotAfter")
    log(f"[renew] the certificate expires {expiry}; asking the CA whether it is due")
    stack.up(urn, dependents=False)
    resources = stack.resources()
    renewed = certificate(resources).get("outputs", {}).get("certificateNotAfter")
    if renewed == expiry:
        log("[renew] not due: nothing else was touched")
        return "unchanged"
    if not any(str(resource.get("urn", "")).endswith(ACTIVATION) for resource in resources):
        raise RenewalStopped(
            f"the certificate was renewed (now until {renewed}), but the state holds no activation: the host runs "
            "a release the operator rolled back to, and keeps it. The new certificate reaches the host with the next "
            f"activation (scripts/ops -s <stack> forward, then this, or a deploy) before {expiry}."
        )
    log(f"[renew] renewed until {renewed}: carrying it to the host")
    stack.up(urn, dependents=True)
    return "carried"


class CliStack:
    def __init__(self, name: str, project_dir: Path) -> None:
        self.name, self.project_dir = name, project_dir

    def resources(self) -> list[dict[str, Any]]:
        exported = json.loads(pulumi(["stack", "export", "--stack", self.name], self.project_dir).stdout)
        return list(exported.get("deployment", {}).get("resources") or [])

    def up(self, target: str, dependents: bool) -> None:
        pack, settings = policy_pack(self.project_dir, self.name)
        arguments = ["up", "--stack", self.name, "--yes", "--refresh", "--diff", "--target", target]
        arguments += ["--policy-pack", str(pack), *(["--policy-pack-config", str(settings)] if settings else [])]
        result = pulumi([*arguments, *(["--target-dependents"] if dependents else [])], self.project_dir, check=False)
        print(result.stdout, end="")
        if result.returncode != 0:
            raise PulumiFailed(f"pulumi up failed: {result.stderr.strip()[-2000:]}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-s", "--stack", required=True)
    parser.add_argument("--project-dir", type=Path, default=PROJECT, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    try:
        renew(CliStack(args.stack, args.project_dir))
    except (RenewalStopped, PulumiFailed) as error:
        print(f"[renew] {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
