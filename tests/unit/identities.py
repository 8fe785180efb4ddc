"""The resource identities (URNs) and inputs of the whole program for each stack, under mocks.

The fixture is what a stack's state would hold after `pulumi up`: a refactor that changes a URN
would replace or orphan that resource on the next `up`. Re-record only for a change whose
resources or inputs are meant to differ, and read the fixture's diff:

    .venv/bin/python -m tests.unit.identities
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from testbed.mocks import TEST_LOGIN_KEY, reveal, run_program

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


def _plain(value: Any) -> Any:
    """Inputs as JSON: secrets revealed, assets as their text, unknowns marked."""
    value = reveal(value)
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in sorted(value.items())}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    if hasattr(value, "text"):
        return {"asset": value.text}
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return repr(value)


def identities(stack: str) -> dict[str, Any]:
    run = run_program(stack, overrides=STACKS[stack])
    return {
        resource.urn: {"parent": resource.parent, "inputs": _plain(resource.inputs)}
        for resource in sorted(run.resources, key=lambda r: r.urn)
    }


def fixture_path(stack: str) -> Path:
    return FIXTURES / f"{stack}.json"


def main() -> None:
    FIXTURES.mkdir(parents=True, exist_ok=True)
    for stack in STACKS:
        fixture_path(stack).write_text(json.dumps(identities(stack), indent=1, sort_keys=True) + "\n")
        print(f"recorded {fixture_path(stack)}")


if __name__ == "__main__":
    main()
