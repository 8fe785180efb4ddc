"""Prints the Vercel variables of a stack, for those who keep Vercel by hand.

    scripts/vercel-env -s prod                         .env block, secret left out
    scripts/vercel-env -s prod --show-secrets          .env block with the secrets too
    scripts/vercel-env -s prod --format vercel         `vercel env add --force` commands for the stack's targets
    pulumi stack output --json | scripts/vercel-env - -s dev   read a recorded document instead

The document is `pulumi stack output --json` (with `--show-secrets` when secrets are asked for).
The commands overwrite what exists (`--force`), go to the stack's own targets (its `vercelTargets`,
else production for `prod` and preview + development for the others) and its team
(`vercelTeamId`, or `--scope`); a stack other than `prod` never writes production.
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from config import vercel
from model.app_env import (
    APP_ENV_OUTPUT,
    APP_VARIABLES,
    VERCEL_TARGETS,
    default_vercel_targets,
    variable_targets,
    writes_production_from_elsewhere,
)
from model.project import PRODUCTION_STACK

PLAIN_OUTPUTS = {variable.name: variable.output for variable in APP_VARIABLES if not variable.secret}
SECRET_VARIABLES = tuple(variable.name for variable in APP_VARIABLES if variable.secret)
SECRETS_LEFT_OUT = f"# {', '.join(SECRET_VARIABLES)}: secrets, left out; run again with --show-secrets"


class OutputsError(Exception):
    pass


def variables(outputs: Mapping[str, Any], show_secrets: bool) -> dict[str, str]:
    missing = [output for output in PLAIN_OUTPUTS.values() if output not in outputs]
    if missing:
        raise OutputsError(f"the stack has no output {', '.join(missing)}: has `pulumi up` run for it?")
    found = {name: str(outputs[output]) for name, output in PLAIN_OUTPUTS.items()}
    if show_secrets:
        environment = outputs.get(APP_ENV_OUTPUT)
        if not isinstance(environment, Mapping):
            raise OutputsError(
                "the document holds no secrets: make it with `pulumi stack output --json --show-secrets`"
            )
        found.update({name: str(environment[name]) for name in SECRET_VARIABLES})
    return found


def _dotenv_quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def as_dotenv(found: Mapping[str, str]) -> str:
    lines = [f"{name}={_dotenv_quote(value)}" for name, value in found.items()]
    if not set(SECRET_VARIABLES) <= set(found):
        lines.append(SECRETS_LEFT_OUT)
    return "\n".join(lines) + "\n"


def as_vercel_commands(found: Mapping[str, str], targets: Sequence[str], scope: str | None) -> str:
    lines = []
    team = f" --scope {shlex.quote(scope)}" if scope else ""
    for variable in APP_VARIABLES:
        if variable.name not in found:
            continue
        for target in variable_targets(variable, tuple(targets)):
            sensitive = " --sensitive" if variable.secret else ""
            lines.append(
                f"printf '%s' {shlex.quote(found[variable.name])} | "
                f"vercel env add {variable.name} {target} --force{sensitive}{team}"
            )
    if not set(SECRET_VARIABLES) <= set(found):
        lines.append(SECRETS_LEFT_OUT)
    return "\n".join(lines) + "\n"


def read_outputs(source: str, stack: str | None, show_secrets: bool) -> Mapping[str, Any]:
    if source == "-":
        text = sys.stdin.read()
    else:
        command = ["pulumi", "stack", "output", "--json", *(["-s", stack] if stack else [])]
        command += ["--show-secrets"] if show_secrets else []
        text = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    document = json.loads(text)
    if not isinstance(document, dict):
        raise OutputsError("`pulumi stack output --json` should print a JSON object")
    return document


def stack_settings(stack: str | None) -> tuple[str, tuple[str, ...] | None, str | None]:
    """The stack's name, its `vercelTargets` and `vercelTeamId` (None when unset), from the Pulumi CLI."""
    selector = ["-s", stack] if stack else []
    if stack is None:
        shown = subprocess.run(["pulumi", "stack", "--show-name"], check=True, capture_output=True, text=True)
        stack = shown.stdout.strip()
    listed = subprocess.run(["pulumi", "config", "--json", *selector], check=True, capture_output=True, text=True)
    settings = json.loads(listed.stdout)
    targets = settings.get(vercel.TARGETS.full_name, {}).get("objectValue")
    team = settings.get(vercel.TEAM_ID.full_name, {}).get("value")
    return stack, tuple(targets) if targets else None, team


def choose_targets(stack: str | None, asked: Sequence[str] | None, configured: tuple[str, ...] | None) -> list[str]:
    if asked:
        targets = list(asked)
    elif configured:
        targets = list(configured)
    elif stack:
        targets = list(default_vercel_targets(stack))
    else:
        raise OutputsError("name the stack (-s) or the targets (--target) for --format vercel")
    if writes_production_from_elsewhere(stack or "", tuple(targets)):
        raise OutputsError(
            f"only the {PRODUCTION_STACK!r} stack writes production; this is {stack or 'an unnamed document'!r}"
        )
    return targets


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("source", nargs="?", default="pulumi", help="'-' to read the JSON document on stdin")
    parser.add_argument("-s", "--stack", help="stack name (default: the selected stack)")
    parser.add_argument("--format", choices=("dotenv", "vercel"), default="dotenv")
    parser.add_argument(
        "--target",
        action="append",
        choices=VERCEL_TARGETS,
        help="Vercel environment for --format vercel (repeatable; default: the stack's)",
    )
    parser.add_argument("--scope", help="Vercel team for --format vercel (default: the stack's vercelTeamId)")
    parser.add_argument("--show-secrets", action="store_true", help="include the secret variables")
    arguments = parser.parse_args(argv)
    try:
        found = variables(
            read_outputs(arguments.source, arguments.stack, arguments.show_secrets), arguments.show_secrets
        )
        if arguments.format == "dotenv":
            rendered = as_dotenv(found)
        else:
            stack, configured, team = (
                (arguments.stack, None, None) if arguments.source == "-" else stack_settings(arguments.stack)
            )
            targets = choose_targets(stack, arguments.target, configured)
            rendered = as_vercel_commands(found, targets, arguments.scope or team)
    except (OutputsError, subprocess.CalledProcessError, json.JSONDecodeError) as error:
        print(f"vercel-env: {error}", file=sys.stderr)
        return 1
    sys.stdout.write(rendered)
    return 0


if __name__ == "__main__":
    sys.exit(main())
