"""A pull request's preview that holds none of the stack's secrets: the preview runs against a mirror.

    scripts/preview-mirror publish -s prod                    after an `up`, with the stack's passphrase
    scripts/preview-mirror config -s prod --project-dir DIR   in a pull request, with the mirror's only

The mirror is the stack's state in its own backend (PREVIEW_BACKEND_URL) under its own passphrase
(PREVIEW_CONFIG_PASSPHRASE), every secret in it replaced: a secret setting by its placeholder
(config/placeholders.py), any other secret value by a stand-in of its shape (a private key by a
new key of its kind, text by random text of its length). `config` writes the stack's settings
for a preview of the mirror into a project folder: the plain ones as they are, each secret one as
its placeholder. Nothing in the mirror can be decrypted into a secret of the stack, so its
passphrase and read access to it are all a pull request's preview needs (besides read-only cloud
credentials). What it cannot say is whether a secret changed: scripts/host-diff --mirror.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import sys
import tempfile
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    load_pem_private_key,
    load_ssh_private_key,
)

from config.keys import NAMESPACE
from config.mirror import MIRRORED_SECRETS
from config.placeholders import SECRET_KEYS, placeholder
from model.mirror import MirroredSecrets
from scripts.deploy import copy_project
from scripts.pulumi_cli import PulumiFailed, pulumi

PROJECT = Path(__file__).resolve().parents[1]
# How a state export marks a secret (sdk/go/common/resource/sig: Secret).
SECRET_SIGNATURE = "4dabf18193072939515e22adb298388d"
SECRET_MARKER = "1b47061264138c4ac30d75fd1eb44270"
# The rollout's step that receives the secret files (components/rollout.py).
SECRETS_STEP = "::rollout-secrets"
# Secret values shorter than this are not searched for after redaction (they may occur by chance).
CHECKED_LENGTH = 12

# A PEM private key's kind, as its first line names it ("-----BEGIN <kind>PRIVATE KEY-----").
_PEM_KEY = re.compile(r"-----BEGIN (?P<kind>(RSA |EC |OPENSSH )?)PRIVATE KEY-----")
_FORMATS = {
    "": PrivateFormat.PKCS8,
    "RSA ": PrivateFormat.TraditionalOpenSSL,
    "EC ": PrivateFormat.TraditionalOpenSSL,
    "OPENSSH ": PrivateFormat.OpenSSH,
}


def _new_key_like(text: str) -> str | None:
    """A new private key of the same kind and encoding, or None when `text` is not one."""
    header = _PEM_KEY.match(text.lstrip())
    if header is None:
        return None
    kind = header["kind"]
    load = load_ssh_private_key if kind == "OPENSSH " else load_pem_private_key
    try:
        old = load(text.encode(), password=None)
    except (ValueError, TypeError):
        return None
    new: Any
    if isinstance(old, rsa.RSAPrivateKey):
        new = rsa.generate_private_key(public_exponent=65537, key_size=old.key_size)
    elif isinstance(old, ec.EllipticCurvePrivateKey):
        new = ec.generate_private_key(old.curve)
    elif isinstance(old, ed25519.Ed25519PrivateKey):
        new = ed25519.Ed25519PrivateKey.generate()
    else:
        return None
    pem: str = new.private_bytes(Encoding.PEM, _FORMATS[kind], NoEncryption()).decode()
    return pem if text.endswith("\n") else pem.rstrip("\n")


def _stand_in(text: str) -> str:
    return _new_key_like(text) or secrets.token_hex(max(len(text), 16))[: max(len(text), 16)]


def _is_secret(value: Any) -> bool:
    return isinstance(value, dict) and value.get(SECRET_SIGNATURE) == SECRET_MARKER and "plaintext" in value


def _map_strings(value: Any, change: Callable[[str, bool], str], secret: bool = False) -> Any:
    """`value` with every string s replaced by change(s, whether it is inside a secret)."""
    if isinstance(value, str):
        return change(value, secret)
    if isinstance(value, list):
        return [_map_strings(item, change, secret) for item in value]
    if _is_secret(value):
        return {**value, "plaintext": json.dumps(_map_strings(json.loads(value["plaintext"]), change, True))}
    if isinstance(value, dict):
        return {name: _map_strings(item, change, secret) for name, item in value.items()}
    return value


def secret_texts(deployment: Any, public: Iterable[str] = ()) -> set[str]:
    """The strings of an export (made with --show-secrets) found only inside its secrets: a value
    that is also recorded in plain (a URL in a secret map of settings) or is a plain setting (the
    login user inside a secret connection) is no secret."""
    inside: set[str] = set()
    outside: set[str] = set(public)

    def note(text: str, secret: bool) -> str:
        (inside if secret else outside).add(text)
        return text

    _map_strings(deployment, note)
    return inside - outside


def redact(deployment: Any, placeholders: Mapping[str, str], public: Iterable[str] = ()) -> Any:
    """The export with every secret string replaced: by its placeholder when it is a secret
    setting's value, else by a stand-in (equal strings get equal stand-ins, so what the program
    reads from the state agrees with what the state recorded it from)."""
    secret = secret_texts(deployment, public)
    replaced = dict(placeholders)

    def change(text: str, in_secret: bool) -> str:
        if not in_secret or text not in secret:
            return text
        if text not in replaced:
            replaced[text] = _stand_in(text)
        return replaced[text]

    result: Any = _map_strings(deployment, change)
    return result


def assert_nothing_survives(redacted: Any, originals: set[str]) -> None:
    """Every string of the redacted export, secrets decoded, searched for every original secret."""
    found: list[str] = []

    def note(text: str, _: bool) -> str:
        found.append(text)
        return text

    _map_strings(redacted, note)
    everything = "\n".join(found)
    for original in originals:
        if len(original) >= CHECKED_LENGTH and original in everything:
            raise SystemExit("a secret value of the stack survived redaction; the mirror was not published")


def _pulumi(args: list[str], env: Mapping[str, str], cwd: Path, stdin: str | None = None) -> str:
    return pulumi(args, cwd, env, stdin).stdout


def _split_settings(document: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """A stack file's plain settings, and the names of the secret ones."""
    plain: dict[str, Any] = {}
    secret_names: list[str] = []
    for name, value in (document.get("config") or {}).items():
        if isinstance(value, dict) and "secure" in value:
            secret_names.append(name)
        else:
            plain[name] = value
    return plain, secret_names


def _placeholders_for(plain: Mapping[str, Any]) -> dict[str, str]:
    prefix = f"{NAMESPACE}:"
    settings = {name[len(prefix) :]: str(value) for name, value in plain.items() if name.startswith(prefix)}
    return {key.full_name: placeholder(key, settings) for key in SECRET_KEYS}


def _plain_values(settings: Mapping[str, Any]) -> set[str]:
    """Every string of the plain settings (`pulumi config --json`), list items too."""
    found: set[str] = set()

    def note(text: str, _: bool) -> str:
        found.add(text)
        return text

    for entry in settings.values():
        if not entry.get("secret"):
            _map_strings([entry.get("value", ""), entry.get("objectValue")], note)
    return found


def write_mirror_settings(stack: str, project_dir: Path, env: Mapping[str, str]) -> dict[str, str]:
    """Rewrites `Pulumi.<stack>.yaml` in `project_dir` for the mirror: the plain settings kept, each
    secret setting of this program as its placeholder (encrypted with the mirror's passphrase), any
    other secret (a provider's credentials, which the preview takes from its environment) dropped.
    Returns the placeholders as stored, by full key name."""
    stack_file = project_dir / f"Pulumi.{stack}.yaml"
    document = yaml.safe_load(stack_file.read_text()) if stack_file.exists() else {}
    plain, secret_names = _split_settings(document or {})
    stack_file.write_text(yaml.safe_dump({"config": plain}, sort_keys=False))
    _pulumi(["stack", "select", "--create", stack], env, project_dir)
    known = _placeholders_for(plain)
    chosen = {name: known[name] for name in secret_names if name in known}
    for name, value in chosen.items():
        _pulumi(["config", "set", "--secret", name, "--stack", stack], env, project_dir, stdin=value)
    # As stored (`config set` drops a trailing line break), for the state to record the same.
    stored = json.loads(_pulumi(["config", "--show-secrets", "--json", "--stack", stack], env, project_dir))
    return {name: str(stored[name]["value"]) for name in chosen}


def recorded_secrets_step(deployment: Any) -> MirroredSecrets | None:
    """The rollout's secrets step as a state export (with --show-secrets) records it; None for a
    stack without one (a cluster)."""
    for resource in deployment.get("deployment", {}).get("resources") or []:
        if str(resource.get("urn", "")).endswith(SECRETS_STEP):
            inputs = resource.get("inputs", {})
            stdin, triggers = inputs.get("stdin"), inputs.get("triggers") or []
            text = json.loads(stdin["plaintext"]) if _is_secret(stdin) else stdin
            if isinstance(text, str) and len(triggers) > 1:
                return MirroredSecrets(str(triggers[1]), text)
    return None


def write_mirrored_secrets(stack: str, project_dir: Path) -> bool:
    """Gives a preview of the mirror the secrets step the mirror recorded (config/mirror.py)."""
    recorded = recorded_secrets_step(
        json.loads(_pulumi(["stack", "export", "--show-secrets", "--stack", stack], {}, project_dir))
    )
    if recorded is None:
        return False
    value = json.dumps({"digests": recorded.digests, "stdin": recorded.stdin})
    # Stand-ins of the mirror, not secrets: --plaintext answers the CLI's guess that they look like one.
    _pulumi(
        ["config", "set", "--plaintext", MIRRORED_SECRETS.full_name, "--stack", stack], {}, project_dir, stdin=value
    )
    return True


def publish(stack: str, project_dir: Path) -> None:
    mirror_env = {
        "PULUMI_BACKEND_URL": os.environ["PREVIEW_BACKEND_URL"],
        "PULUMI_CONFIG_PASSPHRASE": os.environ["PREVIEW_CONFIG_PASSPHRASE"],
    }
    export = json.loads(_pulumi(["stack", "export", "--show-secrets", "--stack", stack], {}, project_dir))
    settings = json.loads(_pulumi(["config", "--show-secrets", "--json", "--stack", stack], {}, project_dir))
    with tempfile.TemporaryDirectory(prefix="flowspace-mirror-") as temporary:
        work = copy_project(PROJECT, Path(temporary) / "project")
        stack_file = project_dir / f"Pulumi.{stack}.yaml"
        if stack_file.exists():
            (work / stack_file.name).write_text(stack_file.read_text())
        chosen = write_mirror_settings(stack, work, mirror_env)
        real = {str(settings[name]["value"]): value for name, value in chosen.items() if name in settings}
        public = _plain_values(settings)
        originals = secret_texts(export, public) | {
            str(entry["value"]) for entry in settings.values() if entry.get("secret") and "value" in entry
        }
        redacted = redact(export, real, public)
        mirror_file = yaml.safe_load((work / f"Pulumi.{stack}.yaml").read_text())
        salt = mirror_file.get("encryptionsalt")
        if salt is None:
            # No secret setting: the passphrase still needs its salt for the state's secrets.
            _pulumi(["config", "set", "--secret", "preview:salt", "--stack", stack], mirror_env, work, stdin="x")
            _pulumi(["config", "rm", "preview:salt", "--stack", stack], mirror_env, work)
            salt = yaml.safe_load((work / f"Pulumi.{stack}.yaml").read_text())["encryptionsalt"]
        redacted["deployment"]["secrets_providers"] = {"type": "passphrase", "state": {"salt": salt}}
        assert_nothing_survives(redacted, originals)
        export_file = Path(temporary) / "mirror.json"
        export_file.write_text(json.dumps(redacted))
        _pulumi(["stack", "import", "--file", str(export_file), "--stack", stack], mirror_env, work)
    print(f"published the preview mirror of {stack}")


def main(argv: list[str] | None = None) -> int:
    try:
        return _main(argv)
    except PulumiFailed as error:
        raise SystemExit(f"preview-mirror: {error}") from None


def _main(argv: list[str] | None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=("publish", "config"))
    parser.add_argument("-s", "--stack", required=True)
    parser.add_argument(
        "--project-dir",
        type=Path,
        help="publish: the project folder of the stack (default: this one); config: the one whose stack file "
        "is rewritten (required)",
    )
    args = parser.parse_args(argv)
    if args.command == "publish":
        missing = [name for name in ("PREVIEW_BACKEND_URL", "PREVIEW_CONFIG_PASSPHRASE") if not os.environ.get(name)]
        if missing:
            parser.error(f"publish needs {' and '.join(missing)} (the mirror's backend and passphrase)")
        publish(args.stack, args.project_dir or PROJECT)
    else:
        if args.project_dir is None:
            parser.error("config rewrites a stack file: name the project folder (--project-dir), never by default")
        chosen = write_mirror_settings(args.stack, args.project_dir, {})
        print(f"{args.stack}: plain settings kept; placeholders for {', '.join(sorted(chosen)) or 'no secret setting'}")
        if write_mirrored_secrets(args.stack, args.project_dir):
            print(f"{args.stack}: the secrets step as the mirror recorded it ({MIRRORED_SECRETS.full_name})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
