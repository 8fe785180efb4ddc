"""scripts/vercel-env against recorded `pulumi stack output --json` documents."""

from __future__ import annotations

import shlex
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PLAIN = (ROOT / "tests/fixtures/stack-output.json").read_text()
WITH_SECRETS = (ROOT / "tests/fixtures/stack-output-secrets.json").read_text()
SECRET = "s3cr3t'with\"quotes$and spaces0123456789"


def run(document: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(ROOT / "scripts/vercel-env"), "-", *args],
        input=document,
        capture_output=True,
        text=True,
    )


def parse_dotenv(text: str) -> dict[str, str]:
    parsed = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.split("=", 1)
            (parsed[name],) = shlex.split(value)
    return parsed


def test_dotenv_without_secrets_leaves_the_secret_out() -> None:
    result = run(PLAIN)
    assert result.returncode == 0, result.stderr
    assert parse_dotenv(result.stdout) == {
        "NEXT_PUBLIC_SOCKET_URL": "https://space-socket.flow-coder.com",
        "NEXT_PUBLIC_LIVEKIT_URL": "wss://space-livekit.flow-coder.com",
        "LIVEKIT_URL": "https://space-livekit.flow-coder.com",
        "LIVEKIT_API_KEY": "APIckbN3jsUGFhP",
    }
    assert "# LIVEKIT_API_SECRET is a secret: run again with --show-secrets" in result.stdout


def test_dotenv_with_secrets_includes_the_secret_quoted() -> None:
    result = run(WITH_SECRETS, "--show-secrets")
    assert result.returncode == 0, result.stderr
    assert parse_dotenv(result.stdout)["LIVEKIT_API_SECRET"] == SECRET


def test_asking_for_secrets_from_a_document_without_them_fails_clearly() -> None:
    result = run(PLAIN, "--show-secrets")
    assert result.returncode == 1
    assert "pulumi stack output --json --show-secrets" in result.stderr


def test_vercel_commands_pipe_each_value_into_vercel_env_add() -> None:
    result = run(WITH_SECRETS, "--show-secrets", "--format", "vercel", "--target", "preview")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 5
    for line in lines:
        printed, command = line.split(" | ")
        words = shlex.split(command)
        assert words[:3] == ["vercel", "env", "add"] and words[4] == "preview"
        value = shlex.split(printed)[2]
        if words[3] == "LIVEKIT_API_SECRET":
            assert value == SECRET and words[-1] == "--sensitive"
    rendered = subprocess.run(["sh", "-c", lines[-1].split(" | ")[0]], capture_output=True, text=True).stdout
    assert rendered == SECRET, "the shell must print the secret byte for byte"


def test_missing_outputs_say_the_stack_is_not_deployed() -> None:
    result = run('{"public_ip": "1.2.3.4"}')
    assert result.returncode == 1 and "has `pulumi up` run" in result.stderr
