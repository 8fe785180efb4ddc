"""The config keys as Pulumi.yaml's typed `config:` block and as docs/configuration.md's tables.

.venv/bin/python -m config.docs          # rewrite both from the declarations
.venv/bin/python -m config.docs --check  # exit 1 when either disagrees with them
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import yaml

from config import SECTIONS
from config.keys import REQUIRED, Key

ROOT = Path(__file__).resolve().parents[1]
PULUMI_YAML = ROOT / "Pulumi.yaml"
CONFIGURATION_DOC = ROOT / "docs" / "configuration.md"
TABLES_BEGIN = "<!-- config keys: made by `python -m config.docs` from config/; edit there -->"
TABLES_END = "<!-- end of config keys -->"
# Project-wide values that are not keys of this program.
PROJECT_VALUES = {"pulumi:tags": {"value": {"project": "flowspace"}}}
_EMPTY: dict[str, Any] = {"string": "", "array": []}


def pulumi_declaration(key: Key) -> dict[str, Any] | None:
    """How Pulumi sees a key: typed, with the default it fills in; None for a secret.

    Pulumi requires a declared key that has no default, so a key that is optional or whose default
    is derived gets the empty value of its type (which the reader takes as "not set"); a derived
    boolean or number is declared untyped, as Pulumi has no empty value for those. A secret is left
    out: Pulumi would demand it, encrypted, in every stack.
    """
    if key.secret:
        return None
    declared: dict[str, Any] = {"description": key.description}
    pulumi_type = "string" if key.type == "number" else key.type
    if key.default is not None:
        declared["type"] = pulumi_type
        value = key.default
        declared["default"] = list(value) if isinstance(value, tuple) else str(value) if key.type == "number" else value
    elif key.default_doc == REQUIRED:
        declared["type"] = pulumi_type
    elif key.type in _EMPTY:
        declared["type"] = pulumi_type
        declared["default"] = _EMPTY[key.type]
    else:
        declared["default"] = ""
    if declared.get("type") == "array":
        declared["items"] = {"type": "string"}
    return declared


def pulumi_config_block() -> dict[str, Any]:
    block: dict[str, Any] = dict(PROJECT_VALUES)
    for keys in SECTIONS.values():
        for key in keys:
            declared = pulumi_declaration(key)
            if declared is not None:
                block[key.name] = declared
    return block


def _default_text(key: Key) -> str:
    if key.default_doc is not None:
        return key.default_doc
    if isinstance(key.default, tuple):
        return "`[" + ", ".join(f'"{item}"' for item in key.default) + "]`"
    if isinstance(key.default, bool):
        return f"`{str(key.default).lower()}`"
    return f"`{key.default}`"


def key_tables() -> str:
    parts = [TABLES_BEGIN]
    for section, keys in SECTIONS.items():
        parts += ["", f"**{section}**", "", "| key | type | default | meaning |", "|---|---|---|---|"]
        for key in keys:
            kind = f"{key.kind} (secret)" if key.secret and key.kind != "secret" else key.kind
            parts.append(f"| `{key.name}` | {kind} | {_default_text(key)} | {key.description} |")
    parts += ["", TABLES_END]
    return "\n".join(parts)


def with_key_tables(text: str) -> str:
    head, begin, rest = text.partition(TABLES_BEGIN)
    _, end, tail = rest.partition(TABLES_END)
    if not begin or not end:
        raise ValueError(f"{CONFIGURATION_DOC.name} has no {TABLES_BEGIN!r} ... {TABLES_END!r} section")
    return head + key_tables() + tail


def pulumi_yaml_with_block(text: str) -> str:
    """Pulumi.yaml with its `config:` block (the file's last) made from the declarations."""
    head, found, _ = text.partition("\nconfig:\n")
    if not found:
        raise ValueError("Pulumi.yaml has no top-level `config:` block at its end")
    block = yaml.safe_dump({"config": pulumi_config_block()}, sort_keys=False, width=120, allow_unicode=True)
    return head + "\n" + block


def main(argv: list[str]) -> int:
    targets = {PULUMI_YAML: pulumi_yaml_with_block, CONFIGURATION_DOC: with_key_tables}
    stale = [path.name for path, make in targets.items() if make(path.read_text()) != path.read_text()]
    if "--check" in argv:
        for name in stale:
            print(f"{name} disagrees with the declarations in config/: run python -m config.docs", file=sys.stderr)
        return 1 if stale else 0
    for path, make in targets.items():
        path.write_text(make(path.read_text()))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
