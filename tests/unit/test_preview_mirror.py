"""The preview mirror's two halves without the engine: placeholders that pass their keys' checks,
and a redaction that leaves no secret behind (tests/engine runs both on the real engine)."""

from __future__ import annotations

import json

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    load_pem_private_key,
)

from config import KEYS, ConfigError, load_stack_config
from config.keys import Key
from config.placeholders import SECRET_KEYS, placeholder
from model.mirror import MirroredSecrets
from scripts.preview_mirror import (
    SECRET_MARKER,
    SECRET_SIGNATURE,
    assert_nothing_survives,
    recorded_secrets_step,
    redact,
    secret_texts,
)
from testbed.mocks import TEST_LOGIN_KEY, DictSource, stack_config

HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMsGGAAfhkdmdIm7nT1yWNdlhbJLuxmLFWNXbtgY3Mqm host"
# What each secret setting needs beside it to be read at all.
CONTEXT: dict[str, tuple[str, dict[str, str | None]]] = {
    "targetPrivateKey": (
        "existing",
        {
            "flowspace:targetHostKey": HOST_KEY,
            "flowspace:compartmentId": None,
        },
    ),
    "alertChatWebhook": ("prod", {"flowspace:alertEmail": "ops@example.com"}),
    "vercelDeployHook": ("prod", {"flowspace:vercelProjectId": "prj_a1B2c3"}),
    "livekitApiSecret": ("prod", {"flowspace:livekitApiKey": "APIcarriedOver"}),
    "socketServerSecretEnv": ("prod", {}),
    "socketServerRegistryPassword": (
        "prod",
        {"flowspace:socketServerRegistryUser": "bot", "flowspace:socketServerImage": "ghcr.io/flow/socket:1"},
    ),
}


def secret(value: object) -> dict[str, str]:
    return {SECRET_SIGNATURE: SECRET_MARKER, "plaintext": json.dumps(value)}


def test_every_secret_setting_has_a_placeholder() -> None:
    assert set(SECRET_KEYS) == {key for key in KEYS if key.secret}
    assert set(CONTEXT) == {key.name for key in SECRET_KEYS}


@pytest.mark.parametrize("key", SECRET_KEYS, ids=lambda key: key.name)
def test_each_placeholder_passes_its_keys_checks(key: Key) -> None:
    stack, context = CONTEXT[key.name]
    values = stack_config(stack, {"flowspace:targetPrivateKey": TEST_LOGIN_KEY, **context})
    plain = {name.removeprefix("flowspace:"): text for name, text in values.items() if name.startswith("flowspace:")}
    plain[key.name] = placeholder(key, plain)
    try:
        load_stack_config(DictSource(plain), stack)
    except ConfigError as error:
        assert key.name not in {problem.key for problem in error.problems}, str(error)


def test_placeholders_depend_on_the_key_and_the_plain_settings_only() -> None:
    for key in SECRET_KEYS:
        assert placeholder(key, {"vercelProjectId": "prj_x"}) == placeholder(key, {"vercelProjectId": "prj_x"})
    hook = next(key for key in SECRET_KEYS if key.name == "vercelDeployHook")
    assert "/prj_x/" in placeholder(hook, {"vercelProjectId": "prj_x"})


EC_KEY = (
    ec.generate_private_key(ec.SECP256R1()).private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()).decode()
)
EXPORT = {
    "deployment": {
        "resources": [
            {
                "urn": "urn:pulumi:prod::flowspace::random:index/randomPassword:RandomPassword::secret",
                "outputs": {"result": secret("s3cretValueNobodySees00"), "length": 23},
            },
            {
                "urn": "urn:pulumi:prod::flowspace::tls:index/privateKey:PrivateKey::origin",
                "outputs": {"privateKeyPem": secret(EC_KEY), "publicKeyPem": "-----BEGIN PUBLIC KEY-----"},
            },
            {
                "urn": "urn:pulumi:prod::flowspace::command:remote:Command::rollout-secrets",
                "inputs": {
                    "stdin": secret("files s3cretValueNobodySees00 and more secret text"),
                    "connection": secret({"user": "ubuntu", "privateKey": "operatorLoginKeyMaterial99"}),
                    "triggers": ["release-id", "caddy.env=0123abcd"],
                },
            },
            {
                "urn": "urn:pulumi:prod::flowspace::pulumi:pulumi:Stack::flowspace-prod",
                "outputs": {
                    "vercel_env": secret({"URL": "https://space.example", "SECRET": "s3cretValueNobodySees00"}),
                    "url": "https://space.example",
                    "nested": secret({"inner": secret("innerSecretValue1234")}),
                },
            },
        ]
    }
}
PLACEHOLDERS = {"operatorLoginKeyMaterial99": "PLACEHOLDER-KEY"}


def revealed(export: dict[str, object]) -> str:
    """Every secret's plaintext, unwrapped, as one text."""
    return json.dumps(export).replace("\\\\", "\\").replace('\\"', '"')


def test_every_secret_is_replaced_and_nothing_else() -> None:
    redacted = redact(EXPORT, PLACEHOLDERS, public={"ubuntu"})
    text = revealed(redacted)
    for value in ("s3cretValueNobodySees00", "operatorLoginKeyMaterial99", "innerSecretValue1234", EC_KEY[40:80]):
        assert value not in text
    resources = redacted["deployment"]["resources"]
    assert resources[0]["outputs"]["length"] == 23
    assert resources[2]["inputs"]["triggers"] == ["release-id", "caddy.env=0123abcd"]
    connection = json.loads(resources[2]["inputs"]["connection"]["plaintext"])
    assert connection == {"user": "ubuntu", "privateKey": "PLACEHOLDER-KEY"}, "a setting's placeholder, a plain user"
    outputs = json.loads(resources[3]["outputs"]["vercel_env"]["plaintext"])
    assert outputs["URL"] == "https://space.example", "a value recorded in plain is no secret"
    stand_in = json.loads(resources[0]["outputs"]["result"]["plaintext"])
    assert outputs["SECRET"] == stand_in and len(stand_in) == len("s3cretValueNobodySees00"), "equal values agree"


def test_a_private_key_is_replaced_by_a_new_key_of_its_kind() -> None:
    redacted = redact(EXPORT, PLACEHOLDERS)
    pem = json.loads(redacted["deployment"]["resources"][1]["outputs"]["privateKeyPem"]["plaintext"])
    new = load_pem_private_key(pem.encode(), password=None)
    assert isinstance(new, ec.EllipticCurvePrivateKey) and new.curve.name == "secp256r1"
    assert pem.startswith("-----BEGIN PRIVATE KEY-----") and pem != EC_KEY


def test_a_surviving_secret_stops_the_publication() -> None:
    originals = secret_texts(EXPORT)
    assert "s3cretValueNobodySees00" in originals and "https://space.example" not in originals
    assert_nothing_survives(redact(EXPORT, PLACEHOLDERS), originals)
    with pytest.raises(SystemExit, match="survived redaction"):
        assert_nothing_survives(EXPORT, originals)
    # A key's lines and quotes are escaped twice inside a secret's plaintext: still found.
    leaked = {**EXPORT, "extra": secret({"copy": EC_KEY})}
    with pytest.raises(SystemExit, match="survived redaction"):
        assert_nothing_survives(leaked, {EC_KEY})


def test_the_preview_gets_the_secrets_step_the_mirror_recorded() -> None:
    stdin = {SECRET_SIGNATURE: SECRET_MARKER, "plaintext": json.dumps("caddy.env c3RhbmQtaW4=\n")}
    step = {
        "urn": "urn:pulumi:prod::flowspace::flowspace:host:Rollout$command:remote:Command::rollout-secrets",
        "inputs": {"stdin": stdin, "triggers": ["0123456789abcdef", "caddy.env=fedcba9876543210", "vm"]},
    }
    export = {"deployment": {"resources": [{"urn": "urn:pulumi:prod::flowspace::pulumi:pulumi:Stack::x"}, step]}}
    assert recorded_secrets_step(export) == MirroredSecrets("caddy.env=fedcba9876543210", "caddy.env c3RhbmQtaW4=\n")
    assert recorded_secrets_step({"deployment": {"resources": []}}) is None, "a cluster stack has no such step"
