"""What the next `pulumi up` changes on the host, in words a reviewer reads.

    scripts/host-diff -s prod                       text: summary, then a unified diff per file
    scripts/host-diff -s prod --format markdown     the pull-request comment (one collapsed block per file)
    scripts/host-diff --preview-json preview.json   from a recorded `pulumi preview --json --diff`

Both sides come from `pulumi preview --json --diff`: the release the stack recorded at its last
`up` (the uploads' old inputs in the state) and the one the current code and config would roll
out (their new inputs). No SSH access is needed. Secret files appear only as changed or unchanged,
by the digests the secrets step carries; their content is never read.
"""

from __future__ import annotations

import argparse
import difflib
import json
import re
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from model import layout, ports
from model.ports import IANA_PROTOCOL_NUMBERS
from render.release import parse_secret_digests
from render.source_archive import unpack

PROJECT = Path(__file__).resolve().parents[1]
UPLOAD = "command:remote:CopyToRemote"
COMMAND = "command:remote:Command"
SECURITY_LIST = "oci:Core/securityList:SecurityList"
SECRETS_STEP = "rollout-secrets"
NO_CHANGES = "no changes on the host"
NOT_COMPARED = "not compared"
QUIET = ("unchanged", NOT_COMPARED)
MIRROR_NOTE = "secret files are not compared: this preview holds none of the stack's secrets"
_RULE = re.compile(
    r"-A \S+ -s (?P<source>\S+) -p (?P<protocol>\w+) .*--dport (?P<ports>\S+) .*--comment \"(?P<name>[^\"]+)\""
)
_PROTOCOL_NAMES = {number: name for name, number in IANA_PROTOCOL_NUMBERS.items()}


@dataclass(frozen=True)
class HostRelease:
    files: dict[str, str] = field(default_factory=dict)
    # Secret file name -> digest of its content.
    secrets: dict[str, str] = field(default_factory=dict)
    # The OCI security list's rules as "tcp/443 from 0.0.0.0/0 (https)"; empty without OCI.
    security_list: frozenset[str] = frozenset()


@dataclass(frozen=True)
class FileChange:
    name: str
    # "changed", "added", "removed", "unchanged" or NOT_COMPARED
    status: str
    diff: str = ""
    secret: bool = False

    @property
    def summary(self) -> str:
        if self.status != "changed" or self.secret:
            return f"{self.name}: {self.status}"
        lines = self.diff.splitlines()[2:]
        added = sum(line.startswith("+") for line in lines)
        removed = sum(line.startswith("-") for line in lines)
        return f"{self.name}: +{added} -{removed} lines"


@dataclass(frozen=True)
class HostDiff:
    headlines: list[str]
    files: list[FileChange]
    secrets_compared: bool = True

    @property
    def changed(self) -> bool:
        return bool(self.headlines) or any(change.status not in QUIET for change in self.files)

    def summary(self) -> str:
        """One line: what changed, then the names of what did not."""
        if not self.changed:
            return NO_CHANGES
        parts = [change.summary for change in self.files if change.status not in QUIET]
        unchanged = [change.name for change in self.files if change.status == "unchanged"]
        return "; ".join([*parts, *([f"unchanged: {', '.join(unchanged)}"] if unchanged else [])])


def _release_path(remote_path: str) -> str:
    """`.../releases/<id>/socket-server/server.js` -> `socket-server/server.js`."""
    return remote_path.split(f"/{layout.RELEASES_DIR}/", 1)[1].split("/", 1)[1]


def _resource_name(urn: str) -> str:
    return urn.rsplit("::", 1)[-1]


def _resource_type(urn: str) -> str:
    return urn.split("::")[-2].rsplit("$", 1)[-1]


def _security_rules(rules: Sequence[Mapping[str, Any]]) -> frozenset[str]:
    found = set()
    for rule in rules:
        protocol = _PROTOCOL_NAMES.get(str(rule.get("protocol")), str(rule.get("protocol")))
        options = rule.get(f"{protocol}Options") or {}
        low, high = (int(float(options[end])) if end in options else None for end in ("min", "max"))
        ports = f"{low}" if low == high else f"{low}-{high}"
        found.add(f"{protocol}/{ports} from {rule.get('source')} ({rule.get('description', '')})")
    return frozenset(found)


def release_from_preview(document: Mapping[str, Any], side: str) -> HostRelease | None:
    """The host release on one side ("old": recorded at the last up; "new": what up would roll out)."""
    files: dict[str, str] = {}
    secrets: dict[str, str] = {}
    security_list: frozenset[str] = frozenset()
    for step in document.get("steps", []):
        state = step.get(f"{side}State") or {}
        inputs = state.get("inputs") or {}
        if not inputs:
            continue
        kind, name = _resource_type(step["urn"]), _resource_name(step["urn"])
        if kind == UPLOAD and isinstance(inputs.get("source"), Mapping) and "text" in inputs["source"]:
            path, text = _release_path(str(inputs["remotePath"])), str(inputs["source"]["text"])
            if path == layout.SOCKET_SERVER_ARCHIVE:
                # Shown file by file, as it lands on the host.
                for name, data in unpack(text).items():
                    files[f"{layout.SOCKET_SERVER_DIR}/{name}"] = data.decode("utf-8", errors="replace")
            else:
                files[path] = text
        elif kind == COMMAND and name.endswith(SECRETS_STEP):
            for trigger in inputs.get("triggers", [])[1:]:
                secrets.update(parse_secret_digests(str(trigger)))
        elif kind == SECURITY_LIST:
            security_list = _security_rules(inputs.get("ingressSecurityRules") or [])
    if not files:
        return None
    return HostRelease(files, secrets, security_list)


def _firewall_rules(text: str) -> frozenset[str]:
    rules = set()
    for match in _RULE.finditer(text):
        ports = match["ports"].replace(":", "-")
        rules.add(f"{match['protocol']}/{ports} from {match['source']} ({match['name']})")
    return frozenset(rules)


def _hostnames(release_env: str) -> set[str]:
    for line in release_env.splitlines():
        if line.startswith("GATE_CHECKS="):
            value = line.split("=", 1)[1].strip("'\"")
            return {check.split("=", 1)[0] for check in value.split()}
    return set()


def _images(compose_text: str) -> dict[str, str]:
    document = yaml.safe_load(compose_text) or {}
    images: dict[str, str] = {}
    slot_suffixes = tuple(f"-{slot}" for slot in ports.SOCKET_SERVER_SLOTS)
    for service, spec in (document.get("services") or {}).items():
        build_args = (spec.get("build") or {}).get("args") or {}
        # The socket server's slots run one image: one headline.
        name = service.removesuffix(next((s for s in slot_suffixes if service.endswith(s)), ""))
        images[name] = str(build_args.get("NODE_IMAGE") or spec.get("image", ""))
    return images


def _headlines(old: HostRelease, new: HostRelease) -> list[str]:
    lines = []
    old_rules = _firewall_rules(old.files.get(layout.FIREWALL_RULES, ""))
    new_rules = _firewall_rules(new.files.get(layout.FIREWALL_RULES, ""))
    lines += [f"host firewall: opens {rule}" for rule in sorted(new_rules - old_rules)]
    lines += [f"host firewall: closes {rule}" for rule in sorted(old_rules - new_rules)]
    lines += [f"security list: opens {rule}" for rule in sorted(new.security_list - old.security_list)]
    lines += [f"security list: closes {rule}" for rule in sorted(old.security_list - new.security_list)]
    old_hosts = _hostnames(old.files.get(layout.RELEASE_ENV, ""))
    new_hosts = _hostnames(new.files.get(layout.RELEASE_ENV, ""))
    lines += [f"hostname added: {host}" for host in sorted(new_hosts - old_hosts)]
    lines += [f"hostname removed: {host}" for host in sorted(old_hosts - new_hosts)]
    old_images = _images(old.files.get(layout.COMPOSE_FILE, "{}"))
    new_images = _images(new.files.get(layout.COMPOSE_FILE, "{}"))
    for service in sorted(set(old_images) | set(new_images)):
        before, after = old_images.get(service), new_images.get(service)
        if before != after:
            lines.append(f"image of {service}: {before or 'none'} -> {after or 'none'}")
    return lines


def host_diff(old: HostRelease | None, new: HostRelease | None, mirror: bool = False) -> HostDiff:
    """`mirror`: a preview of the stack's mirror (scripts/preview_mirror.py), whose secrets are
    placeholders: secret files are not compared (a preview that could compare them would hold them)."""
    old, new = old or HostRelease(), new or HostRelease()
    changes = []
    for name in sorted(set(old.files) | set(new.files)):
        before, after = old.files.get(name), new.files.get(name)
        status = (
            "unchanged" if before == after else "added" if before is None else "removed" if after is None else "changed"
        )
        diff = "".join(
            difflib.unified_diff(
                (before or "").splitlines(keepends=True),
                (after or "").splitlines(keepends=True),
                f"live/{name}",
                f"next/{name}",
            )
        )
        changes.append(FileChange(name, status, diff))
    for name in sorted(set(old.secrets) | set(new.secrets)):
        before, after = old.secrets.get(name), new.secrets.get(name)
        status = (
            "unchanged" if before == after else "added" if before is None else "removed" if after is None else "changed"
        )
        if mirror and before is not None and after is not None:
            status = NOT_COMPARED
        changes.append(FileChange(f"{layout.SECRETS_DIR}/{name}", status, secret=True))
    return HostDiff(_headlines(old, new), changes, secrets_compared=not mirror)


def render_text(diff: HostDiff) -> str:
    note = [] if diff.secrets_compared else [MIRROR_NOTE]
    if not diff.changed:
        return "\n".join([NO_CHANGES, *note]) + "\n"
    parts = [*diff.headlines, diff.summary(), *note, ""]
    parts += [change.diff for change in diff.files if change.diff and change.status not in QUIET]
    return "\n".join(parts).rstrip() + "\n"


def render_markdown(diff: HostDiff, stack: str) -> str:
    title = f"### Host changes for `{stack}`"
    note = [] if diff.secrets_compared else ["", f"_{MIRROR_NOTE}_"]
    if not diff.changed:
        return "\n".join([title, "", NO_CHANGES, *note]) + "\n"
    parts = [title, "", *[f"- {line}" for line in diff.headlines], "", diff.summary(), *note, ""]
    for change in diff.files:
        if change.status in QUIET or not change.diff:
            continue
        parts += [
            f"<details><summary>{change.summary}</summary>",
            "",
            "```diff",
            change.diff.rstrip(),
            "```",
            "</details>",
            "",
        ]
    return "\n".join(parts)


def _preview_document(stack: str, mirror: bool) -> dict[str, Any]:
    # A mirror is never refreshed: the cloud holds what its placeholders stand for.
    refresh = ["--refresh=false"] if mirror else []
    result = subprocess.run(
        ["pulumi", "preview", "--json", "--diff", "--non-interactive", *refresh, "--stack", stack],
        cwd=PROJECT,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise SystemExit(f"pulumi preview failed for stack {stack}:\n{result.stderr[-4000:]}")
    document: dict[str, Any] = json.loads(result.stdout)
    return document


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-s", "--stack", default="", help="the stack to preview")
    parser.add_argument("--preview-json", help="a recorded `pulumi preview --json --diff` document instead")
    parser.add_argument("--format", choices=("text", "markdown"), default="text")
    parser.add_argument(
        "--mirror",
        action="store_true",
        help="the stack is a preview mirror (scripts/preview-mirror): secret files not compared",
    )
    args = parser.parse_args(argv)
    if not args.stack and not args.preview_json:
        parser.error("name a stack (-s) or a recorded preview (--preview-json)")
    if args.preview_json:
        with open(args.preview_json) as handle:
            document = json.load(handle)
    else:
        document = _preview_document(args.stack, args.mirror)
    diff = host_diff(release_from_preview(document, "old"), release_from_preview(document, "new"), args.mirror)
    sys.stdout.write(render_markdown(diff, args.stack or "stack") if args.format == "markdown" else render_text(diff))
    return 0


if __name__ == "__main__":
    sys.exit(main())
