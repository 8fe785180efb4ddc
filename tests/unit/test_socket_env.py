"""The socket server's own environment, its access to LiveKit, and a private registry's login."""

from __future__ import annotations

import base64
from typing import Any

import pytest
import yaml

from config import ConfigError, load_stack_config
from testbed.mocks import DictSource, Run, reveal, run_program

COPY = "command:remote:CopyToRemote"
DIGEST = "sha256:" + "c" * 64
IMAGE = f"ghcr.io/flowcoder/socket-server@{DIGEST}"
SECRET_ENV = "# production values\nDATABASE_URL=postgres://app:Pa55word@db/flow\nJWT_SECRET=jwt-secret-value-1234\n"
TOKEN = "ghp_registrytokenvalue0123456789"


def plain_files(run: Run) -> dict[str, str]:
    return {str(u.inputs["remotePath"]).rsplit("/", 1)[1]: reveal(u.inputs["source"]).text for u in run.of_type(COPY)}


def secret_files(run: Run) -> dict[str, str]:
    lines = reveal(run.named("rollout-secrets").inputs["stdin"]).splitlines()
    return {name: base64.b64decode(data).decode() for name, data in (line.split(" ") for line in lines)}


def socket_service(run: Run) -> dict[str, Any]:
    service: dict[str, Any] = yaml.safe_load(plain_files(run)["docker-compose.yml"])["services"]["socket-server-blue"]
    return service


def test_plain_and_secret_variables_and_livekit_access() -> None:
    run = run_program(
        overrides={
            "flowspace:socketServerEnv": '["GAME_TICK_MS=50", "LOG_LEVEL=info"]',
            "flowspace:socketServerSecretEnv": SECRET_ENV,
            "flowspace:socketServerLivekitAccess": "true",
        }
    )
    service = socket_service(run)
    environment = service["environment"]
    assert environment["GAME_TICK_MS"] == "50" and environment["LOG_LEVEL"] == "info"
    assert environment["LIVEKIT_URL"] == "https://space-livekit.flow-coder.com"
    assert service["env_file"] == ["${FLOWSPACE_MOUNT_SOCKET_SERVER_ENV:?}"]
    written = secret_files(run)["socket-server.env"]
    assert (
        "DATABASE_URL='postgres://app:Pa55word@db/flow'" in written and "JWT_SECRET='jwt-secret-value-1234'" in written
    )
    assert f"LIVEKIT_API_SECRET='{run.outputs['vercel_env'].value['LIVEKIT_API_SECRET']}'" in written
    assert f"LIVEKIT_API_KEY='{run.outputs['livekit_api_key'].value}'" in written
    for name, content in plain_files(run).items():
        for secret in ("Pa55word", "jwt-secret-value-1234", run.outputs["vercel_env"].value["LIVEKIT_API_SECRET"]):
            assert secret not in content, f"a secret value is in the plain file {name}"


def test_without_access_the_socket_server_gets_no_livekit_credentials() -> None:
    run = run_program()
    assert not [name for name in socket_service(run)["environment"] if name.startswith("LIVEKIT")]
    assert "LIVEKIT" not in secret_files(run)["socket-server.env"]


def test_a_private_image_by_digest_logs_in_with_the_password_in_a_secret_file() -> None:
    run = run_program(
        overrides={
            "flowspace:socketServerImage": IMAGE,
            "flowspace:socketServerSource": None,
            "flowspace:socketServerRegistryUser": "flowcoder-bot",
            "flowspace:socketServerRegistryPassword": TOKEN,
        }
    )
    release_env = plain_files(run)["release.env"]
    assert "REGISTRY=ghcr.io\n" in release_env and "REGISTRY_USER=flowcoder-bot\n" in release_env
    assert "registry-password" in release_env.split("SECRET_FILES=")[1].splitlines()[0]
    assert secret_files(run)["registry-password"] == TOKEN
    assert all(TOKEN not in content for content in plain_files(run).values())
    assert socket_service(run)["image"] == IMAGE
    moved = run_program(
        overrides={
            "flowspace:socketServerImage": IMAGE.replace("c" * 64, "d" * 64),
            "flowspace:socketServerRegistryUser": "flowcoder-bot",
            "flowspace:socketServerRegistryPassword": TOKEN,
        }
    )
    assert moved.outputs["release_id"].value != run.outputs["release_id"].value, "a new digest must roll out"


def problems(values: dict[str, str]) -> str:
    base = {
        "compartmentId": "ocid1.tenancy.oc1..aaaaaaaaexampleexampleexampleexample",
        "cloudflareZoneId": "0123456789abcdef0123456789abcdef",
        "domain": "flow-coder.com",
        "socketHostname": "space-socket.flow-coder.com",
        "livekitHostname": "space-livekit.flow-coder.com",
    }
    with pytest.raises(ConfigError) as error:
        load_stack_config(DictSource({**base, **values}), "prod")
    return str(error.value)


@pytest.mark.parametrize(
    ("values", "says"),
    [
        ({"socketServerEnv": '["PORT=80"]'}, "PORT is set by the stack itself"),
        ({"socketServerEnv": '["lower=1"]'}, "'lower=1' is not NAME=value"),
        ({"socketServerEnv": '["QUOTE=it\'s"]'}, "contains a single quote"),
        ({"socketServerSecretEnv": "LIVEKIT_API_SECRET=mine\n"}, "LIVEKIT_API_SECRET is set by the stack itself"),
        ({"socketServerSecretEnv": "A=1\nnot a pair supersecretvalue\n"}, "line 2 is not NAME=value"),
        ({"socketServerEnv": '["A=1"]', "socketServerSecretEnv": "A=2\n"}, "A is also in socketServerEnv"),
        (
            {
                "socketServerImage": "ghcr.io/flowcoder/socket:1.2.3",
                "socketServerRegistryUser": "bot",
                "socketServerRegistryPassword": TOKEN,
            },
            "is not pinned by digest",
        ),
        ({"socketServerImage": IMAGE, "socketServerRegistryUser": "bot"}, "socketServerRegistryPassword: is not set"),
        ({"socketServerRegistryUser": "bot", "socketServerRegistryPassword": TOKEN}, "would be ignored"),
    ],
)
def test_bad_settings_are_refused_without_echoing_secrets(values: dict[str, str], says: str) -> None:
    text = problems(values)
    assert says in text
    assert "supersecretvalue" not in text and TOKEN not in text and "mine" not in text
