"""The Rollout under mocks: the wait -> upload -> secrets -> activate chain, content ids, secrets."""

from __future__ import annotations

import base64
import json
from types import SimpleNamespace

import pytest
import yaml

from config.mirror import MIRRORED_SECRETS
from model.layout import ReleaseShape
from render.release import release_id
from render.source_archive import unpack
from testbed.mocks import RESERVED_IP, Run, is_secret, reveal, run_failing_program, run_program

COMMAND = "command:remote:Command"
COPY = "command:remote:CopyToRemote"


@pytest.fixture(scope="module")
def prod() -> Run:
    return run_program("prod")


def release_of(run: Run) -> str:
    return str(run.outputs["release_id"].value)


def uploads(run: Run) -> dict[str, str]:
    """remote file name -> content."""
    found = {}
    for upload in run.of_type(COPY):
        path = str(upload.inputs["remotePath"])
        found[path.split(f"/releases/{release_of(run)}/", 1)[1]] = reveal(upload.inputs["source"]).text
    return found


def test_chain_is_wait_then_uploads_then_secrets_then_activate(prod: Run) -> None:
    wait, secrets, activate = (prod.named(f"rollout-{step}") for step in ("wait-for-boot", "secrets", "activate"))
    copies = prod.of_type(COPY)
    assert copies, "no release files are uploaded"
    for upload in copies:
        assert wait.urn in upload.dependencies, f"{upload.name} does not wait for the boot"
        assert upload.urn in secrets.dependencies, f"secrets are written before {upload.name} lands"
    assert secrets.urn in activate.dependencies


def test_release_lands_in_a_content_addressed_directory(prod: Run) -> None:
    release = release_of(prod)
    assert len(release) == 16
    files = uploads(prod)
    assert {"docker-compose.yml", "livekit.yaml", "Caddyfile", "origin.pem", "release.sh", "firewall.sh"} <= set(files)
    shipped = unpack(files["socket-server.tgz.b64"])
    assert "server.js" in shipped and "package-lock.json" in shipped
    assert f"node_ip: {RESERVED_IP}" in files["livekit.yaml"]
    server = "server-instance-id"  # the mocks name a resource's id after it
    for resource in [*prod.of_type(COPY), prod.named("rollout-secrets"), prod.named("rollout-activate")]:
        assert resource.inputs["triggers"][0] == release, f"{resource.name} is not triggered by the release id"
        # A replaced server is a new host: it gets the release again (the activation by an update).
        follows = resource.inputs["triggers"][-1] == server or server in resource.inputs.get("create", "")
        assert follows, f"{resource.name} does not follow the server"
    assert (
        f"sh /home/ubuntu/flowspace/releases/{release}/release.sh activate {server}"
        == prod.named("rollout-activate").inputs["create"]
    )
    delete = prod.named("rollout-activate").inputs["delete"]
    assert delete.startswith("if [ -f ") and delete.endswith(f"release.sh retire {server}; fi"), delete


def test_rendering_twice_gives_the_same_release(prod: Run) -> None:
    again = run_program("prod")
    assert release_of(again) == release_of(prod)
    assert uploads(again) == uploads(prod)


def test_a_renewed_certificate_changes_one_file_and_the_release(prod: Run) -> None:
    changed = run_program(overrides={"flowspace:originCertRotation": "1"})
    assert release_of(changed) != release_of(prod)
    before, after = uploads(prod), uploads(changed)
    assert {name for name in before if before[name] != after[name]} == {"origin.pem"}


def test_a_changed_setting_changes_the_file_it_renders() -> None:
    small = run_program(overrides={"flowspace:ocpus": "2", "flowspace:memoryGb": "12"})
    large = run_program("prod")
    assert release_of(small) != release_of(large)
    before, after = uploads(small), uploads(large)
    assert {name for name in before if before[name] != after[name]} == {"docker-compose.yml"}


def test_secrets_travel_only_on_stdin_as_secrets(prod: Run) -> None:
    secrets = prod.named("rollout-secrets")
    assert is_secret(secrets.inputs["stdin"]), "the secret files must be a secret stdin"
    lines = dict(line.split(" ") for line in reveal(secrets.inputs["stdin"]).splitlines())
    assert set(lines) == set(ReleaseShape(origin_certificate=True).secret_files)
    key_file = base64.b64decode(lines["livekit-keys.yaml"]).decode()
    api_secret = reveal(prod.outputs["vercel_env"].value)["LIVEKIT_API_SECRET"]
    assert api_secret in key_file and len(api_secret) >= 32
    origin_key = base64.b64decode(lines["origin.key"]).decode()
    for resource in prod.of_type(COMMAND) + prod.of_type(COPY):
        for name, value in resource.inputs.items():
            if name in ("stdin", "connection") or is_secret(value):
                continue
            text = str(reveal(value))
            assert api_secret not in text, f"{resource.name}.{name} carries the LiveKit secret"
            assert origin_key not in text, f"{resource.name}.{name} carries the origin key"


def test_connection_pins_the_host_key_and_keeps_the_private_key_secret(prod: Run) -> None:
    connection = prod.named("rollout-activate").inputs["connection"]
    assert is_secret(connection) or is_secret(connection["privateKey"])
    revealed = reveal(connection)
    assert revealed["hostKey"].startswith("ssh-ed25519 "), "the host key must be pinned"
    assert revealed["host"] == RESERVED_IP and revealed["user"] == "ubuntu"
    assert revealed["dialErrorLimit"] >= 30, "a booting VM needs more dial retries than the default 10"


def test_livekit_credentials_are_generated_secrets(prod: Run) -> None:
    assert prod.named("rollout-livekit-api-secret").inputs["length"] >= 32
    env = prod.outputs["vercel_env"]
    assert env.secret
    assert set(reveal(env.value)) == {
        "NEXT_PUBLIC_SOCKET_URL",
        "NEXT_PUBLIC_LIVEKIT_URL",
        "LIVEKIT_URL",
        "LIVEKIT_API_KEY",
        "LIVEKIT_API_SECRET",
        "SOCKET_METRICS_URL",
        "SOCKET_METRICS_TOKEN",
    }
    assert reveal(env.value)["LIVEKIT_URL"] == "https://space-livekit.flow-coder.com"
    assert reveal(env.value)["LIVEKIT_API_KEY"].startswith("API")


def test_wait_for_boot_reruns_only_when_the_server_changes(prod: Run) -> None:
    wait = prod.named("rollout-wait-for-boot")
    assert wait.inputs["triggers"] == ["server-instance-id"]
    assert "cloud-init status --wait" in wait.inputs["create"]


def test_pulling_an_image_ships_no_source() -> None:
    run = run_program(overrides={"flowspace:socketServerImage": "ghcr.io/flowcoder/socket-server:2.0.0"})
    files = uploads(run)
    assert not [name for name in files if name.startswith("socket-server/")]
    assert "image: ghcr.io/flowcoder/socket-server:2.0.0" in files["docker-compose.yml"]


def test_preview_declares_the_rollout_with_its_certificate() -> None:
    preview = run_program(preview=True)
    certificate = preview.named("origin-certificate-certificate").urn
    (upload,) = [upload for upload in preview.of_type(COPY) if upload.name.endswith("origin.pem")]
    assert certificate in upload.dependencies
    assert preview.of_type(COPY) and preview.named("rollout-activate")
    assert not preview.outputs["release_id"].known


def test_the_socket_server_accepts_only_the_apps_origins(prod: Run) -> None:
    compose = yaml.safe_load(uploads(prod)["docker-compose.yml"])
    environment = compose["services"]["socket-server-blue"]["environment"]
    assert environment["CORS_ORIGINS"] == "https://flow-coder.com https://*.flow-coder.com"
    chosen = run_program(overrides={"flowspace:allowedOrigins": '["https://space.flow-coder.com"]'})
    assert "CORS_ORIGINS: https://space.flow-coder.com" in uploads(chosen)["docker-compose.yml"]


def test_the_metrics_token_reaches_the_app_as_a_secret_and_lives_only_in_caddys_secret_file(prod: Run) -> None:
    environment = prod.outputs["vercel_env"]
    assert environment.secret and "metrics_token" not in prod.outputs
    token = SimpleNamespace(value=environment.value["SOCKET_METRICS_TOKEN"])
    assert len(token.value) == 48
    assert environment.value["SOCKET_METRICS_URL"] == "https://space-socket.flow-coder.com/metrics"
    assert prod.outputs["metrics_url"].value == "https://space-socket.flow-coder.com/metrics"
    for name, content in uploads(prod).items():
        assert token.value not in content, f"the metrics token is in the plain file {name}"
    written = dict(line.split(" ") for line in reveal(prod.named("rollout-secrets").inputs["stdin"]).splitlines())
    assert base64.b64decode(written["caddy.env"]).decode() == f"METRICS_TOKEN='{token.value}'\n"
    compose = yaml.safe_load(uploads(prod)["docker-compose.yml"])
    assert compose["services"]["caddy"]["env_file"] == ["${FLOWSPACE_MOUNT_CADDY_ENV:?}"]
    assert "FLOWSPACE_MOUNT_CADDY_ENV=secrets/caddy.env" in uploads(prod)["release.env"]


def mirror_preview(digests: str) -> Run:
    recorded = {"digests": digests, "stdin": "a stand-in of the recorded secret files"}
    return run_program(preview=True, overrides={MIRRORED_SECRETS.full_name: json.dumps(recorded)})


def test_a_preview_of_the_mirror_takes_the_secrets_step_the_mirror_recorded() -> None:
    """The mirror cannot know the secrets: its preview compares the plain files and sends what the
    state recorded (scripts/preview-mirror config), so an unchanged program previews no change."""
    recorded = "caddy.env=0123456789abcdef livekit-keys.yaml=fedcba9876543210"
    mirror = mirror_preview(recorded)
    secrets = mirror.named("rollout-secrets")
    assert is_secret(secrets.inputs["stdin"])
    assert reveal(secrets.inputs["stdin"]) == "a stand-in of the recorded secret files"
    assert secrets.inputs["triggers"][1] == recorded
    plain = {"Caddyfile": "the same plain files"}
    assert release_id(plain, recorded) == release_id(plain, recorded)
    assert release_id(plain, recorded.replace("0123", "4567")) != release_id(plain, recorded), "a rotated secret"


def test_an_up_refuses_the_mirrors_recorded_secrets() -> None:
    recorded = json.dumps({"digests": "", "stdin": "stand-in"})
    _, error = run_failing_program({MIRRORED_SECRETS.full_name: recorded})
    assert "previewMirrorSecrets" in str(error) and "preview of the mirror only" in str(error)
    assert f"pulumi config rm {MIRRORED_SECRETS.full_name}" in str(error)
    _, error = run_failing_program({MIRRORED_SECRETS.full_name: "{not json"})
    assert "previewMirrorSecrets" in str(error)
