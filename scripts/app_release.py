"""An app release, this repository's side: the stack file names the socket server image the app's CI
just pushed, by digest, for a pull request whose preview shows the change and whose merge deploys it.

    python -m scripts.app_release -s prod --image ghcr.io/<owner>/<image>@sha256:<64 hex>

Only `flowspace:socketServerImage` changes (with `socketServerSource` / `socketServerReference`
gone, which an image replaces); every other line, comments too, stays as it was. The edit is
checked by reading the file back: the settings must be exactly the old ones with the new image.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from model.app import is_pinned_image

PROJECT = Path(__file__).resolve().parents[1]
IMAGE_KEY = "flowspace:socketServerImage"
# What an image replaces: a build from source, or the reference server.
REPLACED_KEYS = ("flowspace:socketServerSource", "flowspace:socketServerReference")
DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")


class ReleaseRefused(Exception):
    """The stack file was left as it was; the message says why."""


def settings_of(text: str) -> dict[str, Any]:
    try:
        document = yaml.safe_load(text) or {}
    except yaml.YAMLError as error:
        raise ReleaseRefused(f"the stack file would not be YAML after a one-line value change: {error}") from None
    config = document.get("config") if isinstance(document, dict) else None
    if not isinstance(config, dict):
        raise ReleaseRefused("the stack file has no `config:` mapping")
    return config


def with_image(text: str, image: str) -> str:
    """The stack file's text with the new image: its one line replaced, or added first under config."""
    if not (is_pinned_image(image) and DIGEST.search(image)):
        raise ReleaseRefused(
            f"{image!r} is not an image reference pinned by digest (<registry>/<name>@sha256:<64 hex>)"
        )
    before = settings_of(text)
    line = f"  {IMAGE_KEY}: {json.dumps(image)}"
    lines = [
        existing for existing in text.splitlines() if not any(existing.startswith(f"  {key}:") for key in REPLACED_KEYS)
    ]
    at = [index for index, existing in enumerate(lines) if existing.startswith(f"  {IMAGE_KEY}:")]
    if at:
        lines[at[0]] = line
    elif "config:" in lines:
        lines.insert(lines.index("config:") + 1, line)
    else:
        raise ReleaseRefused("the stack file's `config:` is not a block of its own lines: set the image by hand")
    after_text = "\n".join(lines) + "\n"
    expected = {key: value for key, value in before.items() if key not in REPLACED_KEYS} | {IMAGE_KEY: image}
    if settings_of(after_text) != expected:
        raise ReleaseRefused(f"the stack file's {IMAGE_KEY} is not a one-line value: set it by hand")
    return after_text


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-s", "--stack", required=True)
    parser.add_argument("--image", required=True, help="the socket server image, pinned by digest")
    parser.add_argument("--project-dir", type=Path, default=PROJECT, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    stack_file = args.project_dir / f"Pulumi.{args.stack}.yaml"
    try:
        if not stack_file.is_file():
            raise ReleaseRefused(f"{stack_file.name} does not exist")
        text = stack_file.read_text()
        updated = with_image(text, args.image)
    except ReleaseRefused as error:
        print(f"app-release: {error}", file=sys.stderr)
        return 1
    if updated == text:
        print(f"{stack_file.name} already names {args.image}")
        return 0
    stack_file.write_text(updated)
    print(f"{stack_file.name}: {IMAGE_KEY} = {args.image}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
