"""Existing-server mode: the stack rolled onto a host that already runs, with or without the edge."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import BestAvailableEncryption, Encoding, PrivateFormat
from pulumi.runtime.rpc import UNKNOWN

from testbed.mocks import TEST_LOGIN_KEY, Run, is_secret, reveal, run_program

KEY = TEST_LOGIN_KEY
HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMsGGAAfhkdmdIm7nT1yWNdlhbJLuxmLFWNXbtgY3Mqm host"
BASE: dict[str, str | None] = {
    "flowspace:targetPrivateKey": KEY,
    "flowspace:targetHostKey": HOST_KEY,
    "flowspace:compartmentId": None,
    "flowspace:cloudflareZoneId": None,
}


def existing(**overrides: str | None) -> Run:
    return run_program("existing", overrides={**BASE, **{f"flowspace:{k}": v for k, v in overrides.items()}})


@pytest.fixture(scope="module")
def bare() -> Run:
    return existing()


def plain_file(run: Run, name: str) -> str:
    for upload in run.of_type("command:remote:CopyToRemote"):
        if str(upload.inputs["remotePath"]).endswith(f"/{name}"):
            return str(reveal(upload.inputs["source"]).text)
    raise AssertionError(f"{name} is not uploaded")


def test_no_oci_or_cloudflare_resources_without_the_edge(bare: Run) -> None:
    assert not [r.typ for r in bare.resources if r.typ.startswith(("oci:", "cloudflare:"))]
    assert not [token for token, _ in bare.calls if token.startswith("oci:")]
    assert bare.named("rollout-activate")


def test_rollout_logs_in_to_the_configured_host_with_the_secret_key(bare: Run) -> None:
    connection = bare.named("rollout-activate").inputs["connection"]
    assert is_secret(connection) or is_secret(connection["privateKey"])
    revealed = reveal(connection)
    assert revealed["host"] == "144.24.72.143" and revealed["user"] == "ubuntu"
    assert revealed["privateKey"] == KEY
    assert revealed["hostKey"] == HOST_KEY, "the host key is pinned"
    assert bare.outputs["public_ip"].value == "144.24.72.143"
    assert "instance_id" not in bare.outputs and "ssh_private_key" not in bare.outputs


def test_without_a_host_key_the_rollout_is_refused_unless_accepted_knowingly() -> None:
    with pytest.raises(Exception, match="flowspace:targetHostKey: is not set") as refused:
        existing(targetHostKey=None)
    assert "pulumi config set flowspace:acceptAnyHostKey true" in str(refused.value)
    accepted = existing(targetHostKey=None, acceptAnyHostKey="true")
    assert not reveal(accepted.named("rollout-activate").inputs["connection"]).get("hostKey")


@pytest.mark.parametrize(
    "address", ["10.0.0.5", "127.0.0.1", "0.0.0.0", "192.168.1.10", "169.254.169.254", "224.0.0.1"]
)
def test_a_private_or_unspecified_public_ip_is_refused(address: str) -> None:
    with pytest.raises(Exception, match="flowspace:targetPublicIp"):
        existing(targetPublicIp=address)


def test_without_the_edge_caddy_gets_its_own_certificates(bare: Run) -> None:
    caddyfile = plain_file(bare, "Caddyfile")
    assert "tls " not in caddyfile and "auto_https" not in caddyfile
    assert "origin.pem" not in plain_file(bare, "docker-compose.yml")
    assert "SECRET_FILES='livekit-keys.yaml caddy.env socket-server.env'" in plain_file(bare, "release.env")
    assert "node_ip: 144.24.72.143" in plain_file(bare, "livekit.yaml")


def test_with_the_edge_records_point_at_the_existing_server() -> None:
    run = existing(cloudflareZoneId="0123456789abcdef0123456789abcdef")
    assert {r.inputs["content"] for r in run.of_type("cloudflare:index/dnsRecord:DnsRecord")} == {"144.24.72.143"}
    assert run.one("cloudflare:index/originCaCertificate:OriginCaCertificate")
    assert "tls /etc/caddy/tls/origin.pem" in plain_file(run, "Caddyfile")
    assert not [r for r in run.resources if r.typ.startswith("oci:")]


@pytest.mark.parametrize(
    ("overrides", "key"),
    [
        ({"targetPrivateKey": None}, "targetPrivateKey"),
        ({"targetHost": "vps.example.org"}, "targetPublicIp"),
        ({"targetHost": "not a host"}, "targetHost"),
        ({"targetHostKey": "not-a-key"}, "targetHostKey"),
        ({"originLock": "true"}, "originLock"),
        ({"alertEmail": "ops@flow-coder.com"}, "alertEmail"),
    ],
)
def test_bad_existing_server_settings_name_their_key(overrides: dict[str, str | None], key: str) -> None:
    with pytest.raises(Exception, match=f"flowspace:{key}"):
        existing(**overrides)


def test_a_hostname_target_with_its_public_ip_is_accepted() -> None:
    run = existing(targetHost="vps.example.org", targetPublicIp="144.24.72.150")
    assert reveal(run.named("rollout-activate").inputs["connection"])["host"] == "vps.example.org"
    assert "node_ip: 144.24.72.150" in plain_file(run, "livekit.yaml")


def test_preview_works_in_existing_mode() -> None:
    assert run_program("existing", overrides=BASE, preview=True).named("rollout-activate")


@pytest.mark.parametrize(
    "extra",
    [{}, {"flowspace:socketServerLivekitAccess": "true", "flowspace:socketServerSecretEnv": "APP_SECRET=x\n"}],
)
def test_a_first_preview_knows_every_uploaded_file(extra: dict[str, str]) -> None:
    """The command provider refuses an upload whose source is unknown at preview: no plain file may
    depend on a generated value (keys, tokens), only on what a preview knows."""
    preview = run_program("existing", overrides={**BASE, **extra}, preview=True)
    for upload in preview.of_type("command:remote:CopyToRemote"):
        source = upload.inputs["source"]
        assert source != UNKNOWN and hasattr(reveal(source), "text"), f"{upload.name} is unknown in a preview"


def test_the_ssh_narrowing_follows_the_target_port() -> None:
    """sshd on 2222: the host firewall lets only sshAllowedCidrs reach 2222, and leaves 22 alone."""
    firewall = plain_file(existing(targetPort="2222", sshAllowedCidrs='["198.51.100.0/24"]'), "firewall.sh")
    assert '-s 198.51.100.0/24 -p tcp -m tcp --dport 2222 -m comment --comment "ssh" -j ACCEPT' in firewall
    assert '--dport 2222 -m comment --comment "ssh: anyone else" -j REJECT' in firewall
    assert "--dport 22 " not in firewall


def test_the_login_key_is_parsed_before_anything_is_declared_and_never_shown() -> None:
    not_a_key = "-----BEGIN OPENSSH PRIVATE KEY-----\nnotakeyatall\n-----END OPENSSH PRIVATE KEY-----\n"
    with pytest.raises(Exception, match="is not an SSH private key") as refused:
        existing(targetPrivateKey=not_a_key)
    assert "notakeyatall" not in str(refused.value)
    encrypted = Ed25519PrivateKey.generate().private_bytes(
        Encoding.PEM, PrivateFormat.PKCS8, BestAvailableEncryption(b"passphrase")
    )
    with pytest.raises(Exception, match="protected by a passphrase"):
        existing(targetPrivateKey=encrypted.decode())


def test_a_host_whose_dockerd_cannot_raise_the_open_file_limit_gets_its_own(bare: Run) -> None:
    assert "soft: 65536" in plain_file(bare, "docker-compose.yml")
    lowered = plain_file(existing(targetOpenFiles="20000"), "docker-compose.yml")
    assert "soft: 20000" in lowered and "hard: 20000" in lowered and "65536" not in lowered
    with pytest.raises(Exception, match="flowspace:targetOpenFiles: 100 is not between 4096 and 65536"):
        existing(targetOpenFiles="100")
