"""Every bad input is reported with its key and a fix, all at once, before any resource exists."""

from __future__ import annotations

import pytest

from config import ConfigError, load_stack_config
from testbed.mocks import DictSource, run_failing_program, stack_config

ED25519 = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMsGGAAfhkdmdIm7nT1yWNdlhbJLuxmLFWNXbtgY3Mqm admin@laptop"


def load(overrides: dict[str, str | None]) -> ConfigError | None:
    values: dict[str, str | None] = {**stack_config("prod"), **overrides}
    plain = {key.removeprefix("flowspace:"): value for key, value in values.items() if key.startswith("flowspace:")}
    try:
        load_stack_config(DictSource(plain), "prod")
    except ConfigError as error:
        return error
    return None


def problems_for(overrides: dict[str, str | None], key: str) -> list[str]:
    error = load(overrides)
    assert error is not None, f"{overrides} was accepted"
    found = [str(p) for p in error.problems if p.key == key]
    assert found, f"no problem names flowspace:{key}; got: {error}"
    return found


def test_prod_stack_file_with_operator_values_is_valid() -> None:
    assert load({}) is None


def test_missing_operator_keys_are_listed_together_with_set_commands() -> None:
    error = load({"flowspace:compartmentId": None, "flowspace:cloudflareZoneId": None})
    assert error is not None
    text = str(error)
    assert "pulumi config set flowspace:compartmentId" in text
    assert "pulumi config set flowspace:cloudflareZoneId" in text
    assert len(error.problems) == 2


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("compartmentId", "ocid1.instance.oc1..aaaaaaaaaaaaaaaaaaaaaaaaaa", "not an OCID"),
        ("compartmentId", "tenancy-123", "not an OCID"),
        ("imageId", "ubuntu-24.04", "not an OCID"),
        ("ocpus", "0", "outside VM.Standard.A1.Flex's 1-80"),
        ("ocpus", "many", "not a whole number"),
        ("memoryGb", "600", "outside VM.Standard.A1.Flex's 1-512"),
        ("bootVolumeGb", "40", "outside 50-200"),
        ("bootVolumeGb", "250", "outside 50-200"),
        ("vcnCidr", "10.0.0.1/16", "not an IPv4 CIDR"),
        ("subnetCidr", "192.168.1.0/24", "not inside vcnCidr"),
        ("sshAllowedCidrs", '["203.0.113.300/32"]', "not an IPv4 CIDR"),
        ("sshAllowedCidrs", "[1, 2]", "not a list of strings"),
        ("socketHostname", "space_socket.flow-coder.com", "not a valid hostname"),
        ("livekitHostname", "-bad.flow-coder.com", "not a valid hostname"),
        ("adminSshPublicKeys", '["ssh-ed25519 not-base64"]', "not one OpenSSH public key on one line"),
        ("adminSshPublicKeys", '["-----BEGIN PUBLIC KEY-----"]', "not one OpenSSH public key on one line"),
        ("availabilityDomain", "ad-one", "neither an index"),
        ("freeTierAllowance", "unlimited", "not one of"),
        ("cloudflareZoneId", "zone", "not a 32-character hex"),
    ],
)
def test_bad_value_names_its_key_and_the_fix(key: str, value: str, expected: str) -> None:
    found = problems_for({f"flowspace:{key}": value}, key)
    assert any(expected in text for text in found), f"flowspace:{key}={value!r}: {found}"
    assert all("fix: pulumi config set" in text for text in found), found


def test_memory_per_ocpu_ratio_is_enforced() -> None:
    found = problems_for({"flowspace:ocpus": "1", "flowspace:memoryGb": "65"}, "memoryGb")
    assert "1-64 GB per OCPU" in found[0]


def test_exceeding_the_chosen_allowance_is_refused_with_the_cost() -> None:
    found = problems_for({"flowspace:freeTierAllowance": "free-2026"}, "ocpus")
    assert "$26.98/month" in found[0], found[0]
    assert "acceptedMonthlyCostUsd 26.98" in found[0]


def test_accepting_the_cost_allows_a_larger_instance() -> None:
    assert load({"flowspace:freeTierAllowance": "free-2026", "flowspace:acceptedMonthlyCostUsd": "30"}) is None


@pytest.mark.parametrize(
    ("overrides", "key", "expected"),
    [
        ({"flowspace:socketHostname": "space-socket.example.org"}, "socketHostname", "not inside the zone"),
        ({"flowspace:livekitHostname": "space-socket.flow-coder.com"}, "livekitHostname", "also socketHostname"),
        ({"flowspace:originCertType": "origin-dsa"}, "originCertType", "not one of origin-ecc, origin-rsa"),
        ({"flowspace:originCertValidityDays": "100"}, "originCertValidityDays", "not a validity Cloudflare issues"),
        ({"flowspace:cloudflareTlsScope": "everything"}, "cloudflareTlsScope", "not one of hostnames, zone, none"),
        (
            {"flowspace:livekitProxied": "false", "flowspace:originLock": "true"},
            "originLock",
            "livekitProxied is false",
        ),
    ],
)
def test_bad_edge_settings_name_their_key(overrides: dict[str, str | None], key: str, expected: str) -> None:
    found = problems_for(overrides, key)
    assert any(expected in text for text in found), found


@pytest.mark.parametrize("key", ["socketProxied", "livekitProxied"])
def test_a_dns_only_hostname_behind_the_edge_is_refused(key: str) -> None:
    (problem,) = problems_for({f"flowspace:{key}": "false", "flowspace:originLock": "false"}, key)
    assert "do not trust the Origin CA certificate" in problem and f"pulumi config set flowspace:{key} true" in problem


def test_valid_admin_key_is_accepted() -> None:
    assert load({"flowspace:adminSshPublicKeys": f'["{ED25519}"]'}) is None


def test_invalid_config_registers_no_resource() -> None:
    run, error = run_failing_program({"flowspace:ocpus": "0", "flowspace:compartmentId": None})
    assert "flowspace:ocpus" in str(error) and "flowspace:compartmentId" in str(error)
    assert "nothing was created" in str(error)
    assert run.resources == [], f"resources were declared despite invalid config: {[r.name for r in run.resources]}"


@pytest.mark.parametrize(
    ("overrides", "key", "expected"),
    [
        ({"flowspace:acceptedMonthlyCostUsd": "nan"}, "acceptedMonthlyCostUsd", "not a finite number"),
        ({"flowspace:acceptedMonthlyCostUsd": "inf"}, "acceptedMonthlyCostUsd", "not a finite number"),
        ({"flowspace:acceptedMonthlyCostUsd": "-5"}, "acceptedMonthlyCostUsd", "negative"),
        ({"flowspace:originCertRotation": "-1"}, "originCertRotation", "negative"),
        (
            {"flowspace:alertEmail": "ops@example.com", "flowspace:budgetAmountUsd": "10000000"},
            "budgetAmountUsd",
            "outside",
        ),
        (
            {"flowspace:socketHostname": "space-socket.flow-coder.com\nevil.flow-coder.com"},
            "socketHostname",
            "line break",
        ),
        ({"flowspace:socketHostname": "space-socket.flow-coder.com\n"}, "socketHostname", "line break"),
        ({"flowspace:targetUser": "ubuntu\n"}, "targetUser", "line break"),
        ({"flowspace:imageId": "ocid1.image.oc1.ap-chuncheon-1.aaaaaaaaaaaaaaaaaaaaaaaa\n#"}, "imageId", "line break"),
        ({"flowspace:cloudflareTlsScope": "zone"}, "strictTlsExtraHostnames", "would be ignored"),
        ({"flowspace:cloudflareTlsScope": "none"}, "strictTlsExtraHostnames", "would be ignored"),
        (
            {"flowspace:socketServerImage": "ghcr.io/a/socket:1.0.0", "flowspace:socketServerSource": "tests/x"},
            "socketServerSource",
            "would be ignored",
        ),
        ({"flowspace:socketServerImage": "ghcr.io/a/socket:latest"}, "socketServerImage", "pinned to a version"),
        ({"flowspace:socketServerImage": "ghcr.io/a/socket"}, "socketServerImage", "pinned to a version"),
        ({"flowspace:livekitHostname": "space-socket.dev.flow-coder.com"}, "livekitHostname", "same label"),
        ({"flowspace:vercelTeamId": "team_abc"}, "vercelTeamId", "no vercelProjectId"),
        ({"flowspace:budgetAmountUsd": "5"}, "budgetAmountUsd", "without alertEmail"),
        ({"flowspace:allowedOrigins": '["*"]'}, "allowedOrigins", "not a browser origin"),
        ({"flowspace:allowedOrigins": '["https://evil.example/path"]'}, "allowedOrigins", "not a browser origin"),
        ({"flowspace:targetUser": "deploy"}, "targetUser", "targetHost is not set"),
        ({"flowspace:availabilityDomain": "Uocm:AP CHUNCHEON"}, "availabilityDomain", "neither an index"),
    ],
)
def test_contradictions_and_values_out_of_kind_are_refused(
    overrides: dict[str, str | None], key: str, expected: str
) -> None:
    found = problems_for(overrides, key)
    assert any(expected in text for text in found), f"{overrides}: {found}"
    assert all("fix: " in text for text in found), found


def test_expected_egress_beyond_the_allowance_is_refused_with_its_cost() -> None:
    (problem,) = problems_for({"flowspace:expectedEgressTbPerMonth": "13.2"}, "ocpus")
    assert "with 13.2 TB outbound a month" in problem and "$32.00/month" in problem, problem
    assert "3200 GB outbound over 10 TB" in problem
    assert load({"flowspace:expectedEgressTbPerMonth": "13.2", "flowspace:acceptedMonthlyCostUsd": "32"}) is None


def test_the_allowance_is_counted_per_tenancy() -> None:
    beside_prod = {"flowspace:freeTierAllowance": "payg", "flowspace:ocpus": "1", "flowspace:memoryGb": "6"}
    assert load(beside_prod) is None, "alone, 1 OCPU / 6 GB fits"
    (problem,) = problems_for({**beside_prod, "flowspace:otherA1InTenancy": "4/24/50"}, "ocpus")
    assert "beside 4 OCPU / 24 GB of other stacks" in problem, problem
    assert problems_for({"flowspace:otherA1InTenancy": "four"}, "otherA1InTenancy")


def test_a_stack_that_names_no_socket_server_is_refused_with_the_ways_to_name_one() -> None:
    (problem,) = problems_for({"flowspace:socketServerReference": None}, "socketServerReference")
    assert "would deploy the reference server" in problem
    assert "pulumi config set flowspace:socketServerSource" in problem
    assert "pulumi config set flowspace:socketServerImage" in problem
    assert "pulumi config set flowspace:socketServerReference true" in problem


def test_the_reference_server_runs_only_when_asked_and_never_beside_the_apps_own() -> None:
    assert load({"flowspace:socketServerReference": "true"}) is None
    app = {"flowspace:socketServerReference": None, "flowspace:socketServerSource": "tests/fixtures/ts-socket-server"}
    assert load(app) is None
    assert load({"flowspace:socketServerReference": None, "flowspace:socketServerImage": "ghcr.io/a/b:1.0"}) is None
    (both,) = problems_for({**app, "flowspace:socketServerReference": "true"}, "socketServerReference")
    assert "would be ignored" in both


@pytest.mark.parametrize("window", ["24:00", "7:00", "19:60", "noon", "19:00; reboot"])
def test_a_maintenance_window_is_a_time_of_day(window: str) -> None:
    (problem,) = problems_for({"flowspace:maintenanceWindowUtc": window}, "maintenanceWindowUtc")
    assert "is not a time of day like 19:00" in problem
