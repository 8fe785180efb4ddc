"""scripts/host-diff: what a pull request changes on the host, from the preview's old and new inputs."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from model.layout import ReleaseShape
from model.source_tree import SourceFile, SourceTree
from render.release import SecretValues, parse_secret_digests, render_secret_files, secret_digests
from render.source_archive import source_archive
from scripts.host_diff import (
    NO_CHANGES,
    HostRelease,
    host_diff,
    main,
    release_from_preview,
    render_markdown,
    render_text,
)
from testbed.mocks import Run, reveal, run_program


def _preview_inputs(value: Any) -> Any:
    """Inputs as `pulumi preview --json` prints them: assets with their text, secrets hidden."""
    if isinstance(value, dict) and value.get("4dabf18193072939515e22adb298388d") == "1b47061264138c4ac30d75fd1eb44270":
        return "[secret]"
    value = reveal(value)
    if isinstance(value, dict):
        return {key: _preview_inputs(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_preview_inputs(item) for item in value]
    if hasattr(value, "text"):
        return {"text": value.text}
    return value


def preview_document(old: Run | None, new: Run) -> dict[str, Any]:
    """A `pulumi preview --json --diff` document from two runs of the program (state, then code)."""
    before = {resource.urn: resource for resource in old.resources} if old else {}
    steps = []
    for resource in new.resources:
        step: dict[str, Any] = {"urn": resource.urn, "newState": {"inputs": _preview_inputs(resource.inputs)}}
        if resource.urn in before:
            step["oldState"] = {"inputs": _preview_inputs(before[resource.urn].inputs)}
        steps.append(step)
    now = {resource.urn for resource in new.resources}
    steps += [
        {"urn": urn, "oldState": {"inputs": _preview_inputs(r.inputs)}} for urn, r in before.items() if urn not in now
    ]
    return {"steps": steps}


def diff_of(old: Run | None, new: Run):  # type: ignore[no-untyped-def]
    document = preview_document(old, new)
    return host_diff(release_from_preview(document, "old"), release_from_preview(document, "new"))


PROD = run_program("prod")


def test_one_changed_setting_shows_exactly_that_files_diff() -> None:
    smaller = run_program("prod", overrides={"flowspace:memoryGb": "16"})
    diff = diff_of(PROD, smaller)
    changed = {change.name: change for change in diff.files if change.status != "unchanged"}
    assert set(changed) == {"docker-compose.yml"}, diff.summary()
    compose = changed["docker-compose.yml"].diff
    assert "\n-          memory: " in compose and "\n+          memory: " in compose, compose
    assert "docker-compose.yml: +4 -4 lines" in diff.summary(), diff.summary()
    assert diff.summary().startswith("docker-compose.yml: +4 -4 lines; unchanged: Caddyfile, "), diff.summary()
    assert "livekit.yaml" in diff.summary().split("unchanged: ", 1)[1]
    assert not diff.headlines, diff.headlines


def test_no_change_says_so() -> None:
    diff = diff_of(PROD, run_program("prod"))
    assert not diff.changed and diff.summary() == NO_CHANGES
    assert NO_CHANGES in render_markdown(diff, "prod")


NO_CERTIFICATE = ReleaseShape(origin_certificate=False)


def secret_files(livekit_secret: str) -> dict[str, str]:
    return render_secret_files(SecretValues("APIkey", livekit_secret, "t" * 48), NO_CERTIFICATE)


def test_a_rotated_secret_shows_changed_and_never_its_content() -> None:
    old_secret, new_secret = "a" * 48, "b" * 48
    files = {"Caddyfile": "same\n"}
    old = HostRelease(
        files,
        parse_secret_digests(secret_digests(secret_files(old_secret), KEY)),
    )
    new = HostRelease(
        files,
        parse_secret_digests(secret_digests(secret_files(new_secret), KEY)),
    )
    diff = host_diff(old, new)
    unchanged = "Caddyfile, secrets/caddy.env, secrets/socket-server.env"
    assert diff.summary() == f"secrets/livekit-keys.yaml: changed; unchanged: {unchanged}", diff.summary()
    rendered = render_markdown(diff, "prod")
    assert old_secret not in rendered and new_secret not in rendered


KEY = "k" * 32


def test_secret_digests_are_keyed_so_a_short_secret_cannot_be_guessed_from_them() -> None:
    files = {"socket-server.env": "PASSWORD='hunter2'\n"}
    keyed = parse_secret_digests(secret_digests(files, KEY))["socket-server.env"]
    plain = hashlib.sha256(files["socket-server.env"].encode()).hexdigest()[:16]
    assert keyed != plain and keyed != parse_secret_digests(secret_digests(files, "x" * 32))["socket-server.env"]
    assert keyed == parse_secret_digests(secret_digests(files, KEY))["socket-server.env"], "stable for one stack"


def test_the_mock_program_carries_secret_digests_in_plain_sight() -> None:
    release = release_from_preview(preview_document(None, PROD), "new")
    assert release is not None
    assert set(release.secrets) == {"livekit-keys.yaml", "caddy.env", "socket-server.env", "origin.key"}
    assert all(len(digest) == 16 for digest in release.secrets.values())


def test_ports_opened_and_closed_lead_the_report() -> None:
    narrowed = run_program("prod", overrides={"flowspace:sshAllowedCidrs": '["203.0.113.7/32"]'})
    diff = diff_of(PROD, narrowed)
    assert "host firewall: opens tcp/22 from 203.0.113.7/32 (ssh)" in diff.headlines
    assert "host firewall: closes tcp/22 from 0.0.0.0/0 (ssh)" in diff.headlines
    assert "security list: opens tcp/22 from 203.0.113.7/32 (ssh)" in diff.headlines
    assert "security list: closes tcp/22 from 0.0.0.0/0 (ssh)" in diff.headlines
    markdown = render_markdown(diff, "prod")
    assert markdown.index("host firewall: opens") < markdown.index("<details>"), "headlines come first"


def test_an_image_change_is_one_headline() -> None:
    pulled = run_program("prod", overrides={"flowspace:socketServerImage": "ghcr.io/flowcoder/socket-server:2.0.0"})
    diff = diff_of(PROD, pulled)
    (headline,) = [line for line in diff.headlines if line.startswith("image of socket-server:")]
    assert headline.startswith("image of socket-server: flowspace/socket-server:"), diff.headlines
    assert headline.endswith(" -> ghcr.io/flowcoder/socket-server:2.0.0"), diff.headlines
    removed = {change.name for change in diff.files if change.status == "removed"}
    assert "socket-server/server.js" in removed


def test_a_new_hostname_is_one_headline() -> None:
    renamed = run_program("prod", overrides={"flowspace:socketHostname": "rt.flow-coder.com"})
    diff = diff_of(PROD, renamed)
    assert "hostname added: rt.flow-coder.com" in diff.headlines
    assert "hostname removed: space-socket.flow-coder.com" in diff.headlines


def test_the_command_reads_a_recorded_preview(tmp_path: Path, capsys: Any) -> None:
    recorded = tmp_path / "preview.json"
    recorded.write_text(json.dumps(preview_document(PROD, run_program("prod", overrides={"flowspace:memoryGb": "16"}))))
    assert main(["--preview-json", str(recorded), "--format", "markdown", "-s", "prod"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("### Host changes for `prod`")
    assert "<details><summary>docker-compose.yml: +4 -4 lines</summary>" in out


def test_the_source_archive_is_diffed_file_by_file() -> None:
    def document(server_ts: bytes) -> dict[str, Any]:
        tree = SourceTree((SourceFile("Dockerfile", b"FROM node\n"), SourceFile("src/server.ts", server_ts)))
        inputs = {
            "source": {"text": source_archive(tree)},
            "remotePath": "/home/ubuntu/flowspace/releases/0123456789abcdef/socket-server.tgz.b64",
        }
        urn = "urn:pulumi:prod::flowspace::flowspace:host:Rollout$command:remote:CopyToRemote::rollout-upload-x"
        return {"steps": [{"urn": urn, "newState": {"inputs": inputs}}]}

    old = release_from_preview(document(b"export const tick = 50;\n"), "new")
    new = release_from_preview(document(b"export const tick = 60;\n"), "new")
    assert old is not None and new is not None
    diff = host_diff(old, new)
    assert diff.summary() == "socket-server/src/server.ts: +1 -1 lines; unchanged: socket-server/Dockerfile"
    assert "+export const tick = 60;" in render_text(diff)
