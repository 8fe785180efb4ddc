"""TURN/TLS under mocks: its certificate, its DNS-only record, 443 opened to everyone at the
security list (the host splits it by source), the files the release carries, and bad configs."""

from __future__ import annotations

import re

import pytest

from model import layout, ports
from render.firewall import REDIRECT_CHAIN
from testbed.mocks import Run, is_secret, reveal, run_failing_program, run_program

TOKEN = "cf-token-" + "t" * 30
TURN = {
    "flowspace:turnHostname": "space-turn.flow-coder.com",
    "flowspace:acmeEmail": "ops@flow-coder.com",
    "cloudflare:apiToken": TOKEN,
}


@pytest.fixture(scope="module")
def turn() -> Run:
    return run_program(overrides=TURN)


def test_the_certificate_is_for_the_turn_hostname_and_proved_in_the_zone(turn: Run) -> None:
    certificate = turn.one("acme:index/certificate:Certificate")
    request = turn.named("turn-csr")
    assert request.inputs["dnsNames"] == ["space-turn.flow-coder.com"]
    challenges = certificate.inputs["dnsChallenges"]
    [challenge] = reveal(challenges)
    assert challenge["provider"] == "cloudflare" and challenge["config"]["CF_DNS_API_TOKEN"] == TOKEN
    assert is_secret(challenges) or is_secret(challenges[0]["config"]["CF_DNS_API_TOKEN"]), (
        "the token is in plain state"
    )
    provider = turn.one("pulumi:providers:acme")
    assert provider.inputs["serverUrl"] == "https://acme-v02.api.letsencrypt.org/directory"
    assert turn.outputs["turn_url"].value == "turns:space-turn.flow-coder.com:443?transport=tcp"
    assert turn.outputs["turn_certificate_expires_on"].value == "2027-02-21T00:00:00Z"


def test_the_turn_record_is_dns_only_and_the_web_records_stay_proxied(turn: Run) -> None:
    records = {r.inputs["name"]: r.inputs for r in turn.of_type("cloudflare:index/dnsRecord:DnsRecord")}
    assert records["space-turn.flow-coder.com"]["proxied"] is False
    assert records["space-turn.flow-coder.com"]["type"] == "A"
    assert records["space-socket.flow-coder.com"]["proxied"] is True
    rules = [r for r in turn.resources if "ruleset" in r.typ.lower()]
    assert all("space-turn" not in str(rule.inputs) for rule in rules), "the DNS-only name is in the strict-TLS rule"


def security_list_443_sources(run: Run) -> set[str]:
    [security_list] = run.of_type("oci:Core/securityList:SecurityList")
    rules = security_list.inputs["ingressSecurityRules"]
    return {r["source"] for r in rules if r.get("tcpOptions", {}).get("min") == ports.HTTPS.first}


def test_443_opens_to_everyone_only_with_turn_tls(turn: Run) -> None:
    assert "0.0.0.0/0" in security_list_443_sources(turn)
    assert "0.0.0.0/0" not in security_list_443_sources(run_program())


def upload(run: Run, name: str) -> str:
    return str(reveal(run.named(f"rollout-upload-{name}").inputs["source"]).text)


def secret_files(run: Run) -> set[str]:
    stdin = reveal(run.named("rollout-secrets").inputs["stdin"])
    return {line.split()[0] for line in stdin.splitlines()}


def test_the_release_carries_the_certificate_and_key_as_secrets_and_redirects_443(turn: Run) -> None:
    assert {layout.TURN_CERTIFICATE_FILE, layout.TURN_KEY_FILE} <= secret_files(turn)
    assert is_secret(turn.named("rollout-secrets").inputs["stdin"])
    livekit = upload(turn, "livekit.yaml")
    assert "space-turn.flow-coder.com" in livekit and f"tls_port: {ports.TURN_TLS_LISTENER.port}" in livekit
    firewall = upload(turn, "firewall.sh")
    assert re.search(rf"-A {REDIRECT_CHAIN} -s 173\.245\.48\.0/20 .*--dport 443 .*-j RETURN", firewall)
    assert (
        f'--dport 443 -m addrtype --dst-type LOCAL -m comment --comment "turn-tls" '
        f"-j REDIRECT --to-ports {ports.TURN_TLS_LISTENER.port}" in firewall
    )
    off = run_program()
    assert not {layout.TURN_CERTIFICATE_FILE, layout.TURN_KEY_FILE} & secret_files(off)
    assert "REDIRECT --to-ports" not in upload(off, "firewall.sh")


def test_a_first_preview_knows_every_upload_with_turn_tls() -> None:
    preview = run_program(overrides=TURN, preview=True)
    for upload in preview.resources:
        if upload.typ == "command:remote:CopyToRemote":
            assert upload.inputs.get("source") is not None, f"{upload.name}'s content is unknown in a first preview"


@pytest.mark.parametrize(
    ("overrides", "says"),
    [
        ({"flowspace:turnHostname": "space-socket.flow-coder.com"}, "hostname of its own"),
        ({"flowspace:turnHostname": "space-socket.turn.flow-coder.com"}, "begins with the same label as"),
        ({"flowspace:turnHostname": "turn.example.org"}, "not inside the zone"),
        ({"flowspace:turnHostname": "bad_name.flow-coder.com"}, "not a valid hostname"),
        ({"flowspace:acmeEmail": None}, "acmeEmail: is required"),
        ({"flowspace:acmeEmail": "not-an-address"}, "not an e-mail address"),
        ({"flowspace:originLock": "false"}, "needs the origin lock"),
        ({"flowspace:acmeServer": "http://acme.test/dir"}, "not an https URL"),
        ({"cloudflare:apiToken": None}, "pulumi config set --secret cloudflare:apiToken"),
    ],
)
def test_a_bad_turn_config_names_the_key_and_the_fix_before_anything_is_declared(
    overrides: dict[str, str | None], says: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CLOUDFLARE_API_TOKEN", raising=False)
    run, error = run_failing_program({**TURN, **overrides})
    assert says in str(error), str(error)
    assert not run.resources, "resources were declared before the config was refused"


def test_the_acme_settings_without_a_turn_hostname_are_refused() -> None:
    _, error = run_failing_program({"flowspace:acmeEmail": "ops@flow-coder.com"})
    assert "flowspace:acmeEmail: would be ignored" in str(error)


def test_adoption_takes_over_the_turn_record_too() -> None:
    found = {"id": "rec-turn", "type": "A", "content": "198.51.100.20", "name": TURN["flowspace:turnHostname"]}

    def lookup(args: dict[str, object]) -> dict[str, object]:
        name = args["name"]
        assert isinstance(name, dict)
        return {"results": [found] if name["exact"] == found["name"] else []}

    run = run_program(
        overrides={**TURN, "flowspace:adoptExisting": "true"},
        invokes={"cloudflare:index/getDnsRecords:getDnsRecords": lookup},
    )
    (record,) = [r for r in run.of_type("cloudflare:index/dnsRecord:DnsRecord") if r.name == "dns-space-turn"]
    assert record.import_id.endswith("/rec-turn"), record.import_id
