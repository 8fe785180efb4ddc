"""The Cloudflare edge: records on the reserved IP, the origin certificate, strict TLS per hostname."""

from __future__ import annotations

import json

import pytest
from pulumi.output import Unknown

from components.dns_records import DnsRecords, DnsRecordsArgs, strict_tls_expression
from components.network import Network, NetworkArgs
from model.edge import Hostname
from model.project import Project
from testbed.mocks import RESERVED_IP, Run, is_secret, reveal, run_components, run_program, unknown

HOSTNAMES = ["space-socket.flow-coder.com", "space-livekit.flow-coder.com"]


@pytest.fixture(scope="module")
def prod() -> Run:
    return run_program("prod")


def csr_content(run: Run) -> dict[str, object]:
    pem = run.one("cloudflare:index/originCaCertificate:OriginCaCertificate").inputs["csr"]
    body = str(pem).split("\n")[1]
    parsed = json.loads(body)
    assert isinstance(parsed, dict)
    return parsed


def test_csr_and_certificate_cover_exactly_the_served_hostnames(prod: Run) -> None:
    assert prod.one("tls:index/certRequest:CertRequest").inputs["dnsNames"] == HOSTNAMES
    certificate = prod.one("cloudflare:index/originCaCertificate:OriginCaCertificate").inputs
    # Canonical: the provider's Read keeps the API's order, and a reordered list would replace it.
    assert certificate["hostnames"] == sorted(HOSTNAMES)
    assert certificate["requestType"] == "origin-ecc"
    assert certificate["requestedValidity"] == 1095
    assert csr_content(prod)["dns"] == HOSTNAMES


def test_origin_key_is_secret_and_ecdsa_for_origin_ecc(prod: Run) -> None:
    key = prod.named("origin-certificate-key").inputs
    assert key["algorithm"] == "ECDSA" and key["ecdsaCurve"] == "P256"
    assert is_secret(prod.one("tls:index/certRequest:CertRequest").inputs["privateKeyPem"])


def test_rsa_request_type_makes_an_rsa_key() -> None:
    run = run_program(overrides={"flowspace:originCertType": "origin-rsa"})
    assert run.named("origin-certificate-key").inputs["algorithm"] == "RSA"


@pytest.mark.parametrize(
    "change",
    [
        {"flowspace:originCertRotation": "1"},
        {"flowspace:socketHostname": "realtime.flow-coder.com"},
    ],
)
def test_rotation_or_hostname_change_produces_a_new_certificate(prod: Run, change: dict[str, str]) -> None:
    changed = run_program(overrides=change)
    # Any change to an OriginCaCertificate input replaces it; the key is replaced with it.
    assert csr_content(changed) != csr_content(prod), f"{change} left the CSR unchanged"
    before = prod.named("origin-certificate-key").replacement_trigger
    after = changed.named("origin-certificate-key").replacement_trigger
    assert before != after, f"{change} does not replace the origin key"


def test_records_point_at_the_reserved_ip_proxied_with_auto_ttl(prod: Run) -> None:
    records = prod.of_type("cloudflare:index/dnsRecord:DnsRecord")
    assert sorted(r.inputs["name"] for r in records) == sorted(HOSTNAMES)
    public_ip_urn = prod.one("oci:Core/publicIp:PublicIp").urn
    for record in records:
        assert record.inputs["content"] == RESERVED_IP, record.name
        assert record.inputs["type"] == "A" and record.inputs["ttl"] == 1 and record.inputs["proxied"] is True
        assert record.inputs["zoneId"] == "0123456789abcdef0123456789abcdef"
        assert public_ip_urn in record.dependencies, f"{record.name} does not follow the reserved IP"


def test_every_served_hostname_is_proxied(prod: Run) -> None:
    proxied = {r.inputs["name"]: r.inputs["proxied"] for r in prod.of_type("cloudflare:index/dnsRecord:DnsRecord")}
    assert proxied == {"space-socket.flow-coder.com": True, "space-livekit.flow-coder.com": True}


def test_strict_tls_rule_matches_exactly_the_served_hostnames() -> None:
    run = run_program(overrides={"flowspace:strictTlsExtraHostnames": "[]"})
    ruleset = run.one("cloudflare:index/ruleset:Ruleset").inputs
    assert ruleset["phase"] == "http_config_settings" and ruleset["kind"] == "zone"
    (rule,) = ruleset["rules"]
    assert rule["action"] == "set_config"
    assert rule["actionParameters"] == {"ssl": "strict"}
    assert rule["expression"] == '(http.host in {"space-socket.flow-coder.com" "space-livekit.flow-coder.com"})'
    assert not run.of_type("cloudflare:index/zoneSetting:ZoneSetting"), "zone-wide settings are opt-in"


def test_the_zone_rule_owner_also_covers_the_other_stacks_hostnames(prod: Run) -> None:
    (rule,) = prod.one("cloudflare:index/ruleset:Ruleset").inputs["rules"]
    for host in (*HOSTNAMES, "dev-socket.flow-coder.com", "dev-livekit.flow-coder.com"):
        assert f'"{host}"' in rule["expression"], host
    dev = run_program("dev")
    assert not dev.of_type("cloudflare:index/ruleset:Ruleset"), "a zone has one entry point: prod owns it"
    assert not dev.of_type("cloudflare:index/zoneSetting:ZoneSetting")


def test_extra_strict_hostnames_must_be_in_the_zone() -> None:
    with pytest.raises(Exception, match="flowspace:strictTlsExtraHostnames"):
        run_program(overrides={"flowspace:strictTlsExtraHostnames": '["dev.example.org"]'})


def test_zone_wide_tls_is_an_explicit_opt_in() -> None:
    run = run_program(overrides={"flowspace:cloudflareTlsScope": "zone", "flowspace:strictTlsExtraHostnames": None})
    settings = {
        r.inputs["settingId"]: r.inputs["value"] for r in run.of_type("cloudflare:index/zoneSetting:ZoneSetting")
    }
    assert settings == {"ssl": "strict", "websockets": "on"}
    assert not run.of_type("cloudflare:index/ruleset:Ruleset")


def test_expression_quotes_each_hostname() -> None:
    assert strict_tls_expression(["a.example.com"]) == '(http.host in {"a.example.com"})'


def test_urls_are_exported(prod: Run) -> None:
    assert prod.outputs["socket_url"].value == "https://space-socket.flow-coder.com"
    assert prod.outputs["livekit_url"].value == "wss://space-livekit.flow-coder.com"
    assert prod.outputs["livekit_http_url"].value == "https://space-livekit.flow-coder.com"


def test_preview_with_unknown_ip_and_ranges_works() -> None:
    run = run_program(preview=True)
    records = run.of_type("cloudflare:index/dnsRecord:DnsRecord")
    assert len(records) == 2
    assert all(isinstance(reveal(r.inputs["content"]), Unknown) for r in records)


def test_unknown_cloudflare_ranges_and_ip_do_not_break_the_graph() -> None:
    def body() -> None:
        project = Project("test", protect=False)
        network = Network(
            "network", NetworkArgs("ocid1.tenancy.oc1..aaaa", project, "10.0.0.0/16", "10.0.1.0/24", unknown())
        )
        hostnames = (Hostname("a.flow-coder.com", True), Hostname("b.flow-coder.com", True))
        DnsRecords("dns", DnsRecordsArgs("0" * 32, hostnames, unknown(), "hostnames", project))
        del network

    run = run_components(body, preview=True)
    assert run.one("oci:Core/securityList:SecurityList")
    for record in run.of_type("cloudflare:index/dnsRecord:DnsRecord"):
        assert isinstance(reveal(record.inputs["content"]), Unknown)


def test_after_the_switch_up_checks_both_hostnames_through_the_edge_and_only_warns(prod: Run) -> None:
    check = prod.named("dns-edge-check")
    assert check.typ == "command:local:Command"
    assert check.inputs["create"] == (
        "scripts/edge-check --socket space-socket.flow-coder.com --livekit space-livekit.flow-coder.com --warn-only"
    )
    records = prod.of_type("cloudflare:index/dnsRecord:DnsRecord")
    assert {record.urn for record in records} <= set(check.dependencies), "it runs after the records change"
    assert check.inputs["triggers"] == [RESERVED_IP, RESERVED_IP], "again whenever the names point elsewhere"
