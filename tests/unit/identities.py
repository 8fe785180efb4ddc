"""The resource identities (URNs) of the whole program for each stack, under mocks, as the engine
derives them: the type chain of the resource's component ancestors, and its name.

The fixture is what a stack's state holds after `pulumi up`: a change that loses one of these URNs
would replace or orphan that resource on the next `up`, unless the resource keeps it by an alias.
Re-record only when resources are meant to come or go, and read the fixture's diff:

    .venv/bin/python -m tests.unit.identities
"""

from __future__ import annotations

import json
from pathlib import Path

from testbed.mocks import PROJECT, TEST_LOGIN_KEY, Registration, run_program

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "identities"
EXISTING_LOGIN_KEY = TEST_LOGIN_KEY
EXISTING_HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMsGGAAfhkdmdIm7nT1yWNdlhbJLuxmLFWNXbtgY3Mqm host"
STACKS: dict[str, dict[str, str | None]] = {
    "prod": {},
    "dev": {},
    "existing": {
        "flowspace:targetPrivateKey": EXISTING_LOGIN_KEY,
        "flowspace:targetHostKey": EXISTING_HOST_KEY,
        "flowspace:compartmentId": None,
        "flowspace:cloudflareZoneId": None,
    },
}


def engine_urns(stack: str, resources: list[Registration]) -> dict[str, list[str]]:
    """Each resource's URN (the engine's: the mock monitor keeps only the parent's last type) with
    the URNs its aliases, and its ancestors' aliases, keep for it."""
    by_urn = {resource.urn: resource for resource in resources}

    def chains(resource: Registration) -> list[list[str]]:
        parent = by_urn.get(resource.parent)
        own = [[*chain, resource.typ] for chain in (chains(parent) if parent else [[]])]
        moved_from_root = any(alias.get("spec", {}).get("noParent") for alias in resource.aliases)
        return own + ([[resource.typ]] if moved_from_root and parent else [])

    def urn(chain: list[str], name: str) -> str:
        return f"urn:pulumi:{stack}::{PROJECT}::{'$'.join(chain)}::{name}"

    found = {}
    for resource in resources:
        current, *aliased = (urn(chain, resource.name) for chain in chains(resource))
        found[current] = sorted(aliased)
    return found


def identities(stack: str) -> dict[str, list[str]]:
    return engine_urns(stack, run_program(stack, overrides=STACKS[stack]).resources)


def fixture_path(stack: str) -> Path:
    return FIXTURES / f"{stack}.json"


def main() -> None:
    FIXTURES.mkdir(parents=True, exist_ok=True)
    for stack in STACKS:
        fixture_path(stack).write_text(json.dumps(identities(stack), indent=1, sort_keys=True) + "\n")
        print(f"recorded {fixture_path(stack)}")


if __name__ == "__main__":
    main()
