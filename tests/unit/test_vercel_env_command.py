"""scripts/vercel-env against recorded `pulumi stack output --json` documents."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
from pathlib import Path

from model.app_env import APP_VARIABLES

ROOT = Path(__file__).resolve().parents[2]
PLAIN = (ROOT / "tests/fixtures/stack-output.json").read_text()
WITH_SECRETS = (ROOT / "tests/fixtures/stack-output-secrets.json").read_text()
SECRET = "s3cr3t'with\"quotes$and spaces0123456789"


def run(
    document: str, *args: str, env: dict[str, str] | None = None, source: str = "-"
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(ROOT / "scripts/vercel-env"), *([source] if source else []), *args],
        input=document,
        capture_output=True,
        text=True,
        env=env,
    )


def commands(text: str) -> list[list[str]]:
    """Each `vercel env add` line as its words."""
    return [shlex.split(line.split(" | ")[1]) for line in text.splitlines() if not line.startswith("#")]


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
        "SOCKET_METRICS_URL": "https://space-socket.flow-coder.com/metrics",
    }
    assert "# LIVEKIT_API_SECRET, SOCKET_METRICS_TOKEN: secrets, left out; run again with --show-secrets" in (
        result.stdout
    )


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
    assert len(lines) == len(APP_VARIABLES)
    for line in lines:
        printed, command = line.split(" | ")
        words = shlex.split(command)
        assert words[:3] == ["vercel", "env", "add"] and words[4] == "preview" and "--force" in words
        value = shlex.split(printed)[2]
        if words[3] == "LIVEKIT_API_SECRET":
            assert value == SECRET and words[-1] == "--sensitive"
    (secret_line,) = [line for line in lines if " LIVEKIT_API_SECRET " in line]
    rendered = subprocess.run(["sh", "-c", secret_line.split(" | ")[0]], capture_output=True, text=True).stdout
    assert rendered == SECRET, "the shell must print the secret byte for byte"


def test_missing_outputs_say_the_stack_is_not_deployed() -> None:
    result = run('{"public_ip": "1.2.3.4"}')
    assert result.returncode == 1 and "has `pulumi up` run" in result.stderr


def test_a_dev_stack_writes_its_own_targets_and_never_production() -> None:
    result = run(WITH_SECRETS, "--show-secrets", "--format", "vercel", "-s", "dev")
    assert result.returncode == 0, result.stderr
    written = {(words[3], words[4]) for words in commands(result.stdout)}
    assert {target for _, target in written} == {"preview", "development"}
    # Vercel keeps a sensitive variable out of development.
    assert ("LIVEKIT_API_SECRET", "development") not in written and ("LIVEKIT_API_SECRET", "preview") in written
    refused = run(WITH_SECRETS, "--format", "vercel", "-s", "dev", "--target", "production")
    assert refused.returncode == 1 and "only the 'prod' stack writes production" in refused.stderr
    unnamed = run(WITH_SECRETS, "--format", "vercel")
    assert unnamed.returncode == 1 and "name the stack" in unnamed.stderr


def test_prod_writes_production_in_its_team_overwriting_what_exists() -> None:
    result = run(PLAIN, "--format", "vercel", "-s", "prod", "--scope", "team_flow")
    assert result.returncode == 0, result.stderr
    for words in commands(result.stdout):
        assert words[4] == "production" and "--force" in words and words[-2:] == ["--scope", "team_flow"]


def test_the_stacks_own_settings_come_from_its_config(tmp_path: Path) -> None:
    settings = {
        "flowspace:vercelTargets": {"value": '["preview"]', "objectValue": ["preview"], "secret": False},
        "flowspace:vercelTeamId": {"value": "team_fromconfig", "secret": False},
    }
    pulumi = tmp_path / "pulumi"
    pulumi.write_text(
        "#!/bin/sh\n"
        'case "$*" in\n'
        f"  'stack output --json -s staging') cat {ROOT / 'tests/fixtures/stack-output.json'} ;;\n"
        f"  'config --json -s staging') echo {shlex.quote(json.dumps(settings))} ;;\n"
        '  *) echo "unexpected: $*" >&2; exit 2 ;;\n'
        "esac\n"
    )
    pulumi.chmod(0o755)
    env = {**os.environ, "PATH": f"{tmp_path}:{os.environ['PATH']}"}
    result = run("", "-s", "staging", "--format", "vercel", env=env, source="")
    assert result.returncode == 0, result.stderr
    for words in commands(result.stdout):
        assert words[4] == "preview" and words[-2:] == ["--scope", "team_fromconfig"]
