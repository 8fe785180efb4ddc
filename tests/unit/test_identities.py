"""Refactoring never renames a resource: the URNs and inputs match what the stacks recorded."""

from __future__ import annotations

import json

import pytest

from testbed.mocks import run_program
from tests.unit.identities import STACKS, fixture_path, identities

# Added since the stacks were recorded, with nothing of their own: components whose children keep
# their recorded URNs by aliases.
ADDED_COMPONENTS = {"flowspace:host:Host::host"}


@pytest.fixture(scope="module", params=sorted(STACKS))
def recorded_and_now(request: pytest.FixtureRequest) -> tuple[str, dict[str, list[str]], dict[str, list[str]]]:
    stack = request.param
    return stack, json.loads(fixture_path(stack).read_text()), identities(stack)


def test_every_recorded_urn_is_kept(recorded_and_now: tuple[str, dict[str, list[str]], dict[str, list[str]]]) -> None:
    stack, recorded, now = recorded_and_now
    kept = set(now) | {alias for aliases in now.values() for alias in aliases}
    assert set(recorded) - kept == set(), f"{stack}: these would be deleted (or need an alias)"


def test_nothing_is_created_but_what_was_meant(
    recorded_and_now: tuple[str, dict[str, list[str]], dict[str, list[str]]],
) -> None:
    stack, recorded, now = recorded_and_now
    known = set(recorded) | {alias for aliases in recorded.values() for alias in aliases}
    added = {urn.split("::", 2)[2] for urn, aliases in now.items() if urn not in known and not set(aliases) & known}
    assert added <= ADDED_COMPONENTS, f"{stack}: these would be created: {sorted(added - ADDED_COMPONENTS)}"


def test_the_host_s_parts_keep_the_urns_they_had_at_the_root() -> None:
    prod = identities("prod")
    moved = {urn: aliases for urn, aliases in prod.items() if "flowspace:host:Host$" in urn}
    assert len(moved) >= 10
    for urn, aliases in moved.items():
        assert aliases == [urn.replace("flowspace:host:Host$", "")], urn


def test_prod_protects_what_is_costly_to_lose_and_nothing_else() -> None:
    prod = run_program("prod")
    protected = sorted(r.name for r in prod.resources if r.protect)
    assert protected == ["server-instance", "server-public-ip"], protected
    assert not prod.named("origin-certificate-certificate").protect, "rotation replaces the certificate"


def test_other_stacks_protect_nothing_unless_asked() -> None:
    assert not [r.name for r in run_program("dev").resources if r.protect]
    asked = run_program("dev", overrides={"flowspace:protect": "true"})
    assert sorted(r.name for r in asked.resources if r.protect) == ["server-instance", "server-public-ip"]
    lifted = run_program("prod", overrides={"flowspace:protect": "false"})
    assert not [r.name for r in lifted.resources if r.protect]


def test_every_oci_resource_carries_the_stack_tags() -> None:
    prod = run_program("prod", overrides={"flowspace:alertEmail": "ops@example.com"})
    oci = [r for r in prod.resources if r.typ.startswith("oci:")]
    assert len(oci) >= 12
    for resource in oci:
        tags = resource.inputs.get("freeformTags")
        assert tags == {"project": "flowspace", "stack": "prod", "always-free": "true"}, f"{resource.name}: {tags}"


def test_the_origin_certificate_expiry_is_an_output() -> None:
    assert run_program("prod").outputs["origin_certificate_expires_on"].value == "2029-11-23"


def test_a_replacement_that_would_not_fit_the_allowance_deletes_the_old_instance_first() -> None:
    # prod: 4 OCPU / 24 GB is the whole PAYG allowance, so two at once would be billed (or refused).
    assert run_program("prod").named("server-instance").delete_before_replace
    # dev: 1 OCPU / 6 GB twice still fits the 2 OCPU / 12 GB free allowance: create, then delete.
    assert not run_program("dev").named("server-instance").delete_before_replace
