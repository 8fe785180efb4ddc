"""The weekly renewal (scripts/renew.py) against a fake stack: what it touches when the certificate
is not due, when it is, and after the operator rolled back."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from scripts.renew import ACTIVATION, CERTIFICATE_TYPE, RenewalStopped, renew

CERTIFICATE = f"urn:pulumi:prod::flowspace::flowspace:edge:TurnCertificate${CERTIFICATE_TYPE}::turn-certificate"
ACTIVATE = f"urn:pulumi:prod::flowspace::flowspace:host:Rollout$command:remote:Command{ACTIVATION}"


@dataclass
class FakeStack:
    """The CA renews the certificate at the first targeted up when `due`."""

    due: bool
    activated: bool = True
    expiry: str = "2027-01-10T00:00:00Z"
    ups: list[tuple[str, bool]] = field(default_factory=list)

    def resources(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = [
            {"urn": CERTIFICATE, "type": CERTIFICATE_TYPE, "outputs": {"certificateNotAfter": self.expiry}}
        ]
        return found + ([{"urn": ACTIVATE, "type": "command:remote:Command"}] if self.activated else [])

    def up(self, target: str, dependents: bool) -> None:
        assert target == CERTIFICATE
        self.ups.append((target, dependents))
        if self.due:
            self.expiry, self.due = "2027-04-10T00:00:00Z", False


def test_a_certificate_not_due_touches_nothing_but_itself() -> None:
    stack = FakeStack(due=False)
    assert renew(stack, log=lambda line: None) == "unchanged"
    assert stack.ups == [(CERTIFICATE, False)], "no dependent is in any up"


def test_a_renewed_certificate_is_carried_to_the_host() -> None:
    stack = FakeStack(due=True)
    assert renew(stack, log=lambda line: None) == "carried"
    assert stack.ups == [(CERTIFICATE, False), (CERTIFICATE, True)]


def test_after_a_rollback_the_renewal_leaves_the_host_and_says_so() -> None:
    """`scripts/ops rollback` takes the activation out of the state: a targeted up with dependents
    would create it again and re-activate the release the operator pulled."""
    stack = FakeStack(due=True, activated=False)
    with pytest.raises(RenewalStopped, match="operator rolled back to, and keeps it") as stopped:
        renew(stack, log=lambda line: None)
    assert "before 2027-01-10T00:00:00Z" in str(stopped.value) and "ops -s <stack> forward" in str(stopped.value)
    assert stack.ups == [(CERTIFICATE, False)]


def test_a_stack_without_a_turn_certificate_is_named() -> None:
    class Empty(FakeStack):
        def resources(self) -> list[dict[str, Any]]:
            return []

    with pytest.raises(RenewalStopped, match="no TURN/TLS certificate"):
        renew(Empty(due=False), log=lambda line: None)
