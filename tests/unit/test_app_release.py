"""An app release: a digest from the app's CI becomes a one-line change of prod's stack file, for a
pull request whose preview shows it and whose merge deploys it (.github/workflows/app-release.yml)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from scripts.app_release import IMAGE_KEY, ReleaseRefused, main, with_image
from testbed.mocks import reveal, run_program

ROOT = Path(__file__).resolve().parents[2]
IMAGE = "ghcr.io/flowcoder/socket-server@sha256:" + "ab" * 32


def test_prods_stack_file_changes_in_one_line_and_keeps_its_comments(tmp_path: Path) -> None:
    text = (ROOT / "Pulumi.prod.yaml").read_text()
    (tmp_path / "Pulumi.prod.yaml").write_text(text)
    assert main(["-s", "prod", "--image", IMAGE, "--project-dir", str(tmp_path)]) == 0
    updated = (tmp_path / "Pulumi.prod.yaml").read_text()
    removed = set(text.splitlines()) - set(updated.splitlines())
    added = set(updated.splitlines()) - set(text.splitlines())
    assert added == {f'  {IMAGE_KEY}: "{IMAGE}"'}
    assert all("socketServerReference" in line or "socketServerSource" in line for line in removed), removed
    assert [line for line in text.splitlines() if line.startswith("#")] == [
        line for line in updated.splitlines() if line.startswith("#")
    ]
    again = with_image(updated, IMAGE.replace("ab" * 32, "cd" * 32))
    assert yaml.safe_load(again)["config"][IMAGE_KEY].endswith("cd" * 32)
    assert len(again.splitlines()) == len(updated.splitlines()), "a second release replaces the line"


def test_the_program_deploys_the_image_it_names(tmp_path: Path) -> None:
    settings = yaml.safe_load(with_image((ROOT / "Pulumi.prod.yaml").read_text(), IMAGE))["config"]
    run = run_program(overrides={IMAGE_KEY: IMAGE, "flowspace:socketServerReference": None})
    assert settings[IMAGE_KEY] == IMAGE
    compose = [reveal(upload.inputs["source"]).text for upload in run.of_type("command:remote:CopyToRemote")]
    assert any(IMAGE in text for text in compose), "the release pulls the new image"


@pytest.mark.parametrize(
    "image",
    [
        "ghcr.io/flowcoder/socket-server:1.4.2",  # a tag can move under the same name: digests only
        "ghcr.io/flowcoder/socket-server:latest",
        "ghcr.io/flowcoder/socket-server@sha256:short",
        'ghcr.io/x@sha256:{"a"}; rm -rf /',
        "",
    ],
)
def test_anything_but_a_digest_is_refused_and_the_file_stays(image: str, tmp_path: Path) -> None:
    text = (ROOT / "Pulumi.prod.yaml").read_text()
    (tmp_path / "Pulumi.prod.yaml").write_text(text)
    assert main(["-s", "prod", "--image", image, "--project-dir", str(tmp_path)]) == 1
    assert (tmp_path / "Pulumi.prod.yaml").read_text() == text
    with pytest.raises(ReleaseRefused, match="pinned by digest"):
        with_image(text, image)


def test_a_value_it_cannot_edit_in_one_line_is_refused() -> None:
    text = f"config:\n  {IMAGE_KEY}:\n    ghcr.io/old@sha256:{'0' * 64}\n"
    with pytest.raises(ReleaseRefused, match="one-line value"):
        with_image(text, IMAGE)
