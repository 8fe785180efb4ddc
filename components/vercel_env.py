"""The Next.js app's environment in Vercel: the five variables of `vercel_env`, per target."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import partial

import pulumi
import pulumiverse_vercel as vercel

from model.app_env import APP_VARIABLES

# Vercel keeps sensitive variables out of the development target.
SENSITIVE_TARGETS = frozenset({"production", "preview"})


@dataclass(frozen=True)
class VercelEnvArgs:
    project_id: str
    team_id: str | None
    targets: Sequence[str]
    variables: pulumi.Input[Mapping[str, str]]
    comment: str


def _value(name: str, variables: Mapping[str, str]) -> str:
    return variables[name]


class VercelEnv(pulumi.ComponentResource):
    variable_ids: pulumi.Output[list[str]]

    def __init__(self, name: str, args: VercelEnvArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("flowspace:app:VercelEnv", name, None, opts)
        variables = pulumi.Output.from_input(args.variables)
        created = []
        for variable in APP_VARIABLES:
            key, sensitive = variable.name, variable.secret
            targets = [t for t in args.targets if t in SENSITIVE_TARGETS] if sensitive else list(args.targets)
            if not targets:
                continue
            created.append(
                vercel.ProjectEnvironmentVariable(
                    f"{name}-{key.lower().replace('_', '-')}",
                    project_id=args.project_id,
                    team_id=args.team_id,
                    key=key,
                    value=variables.apply(partial(_value, key)),
                    targets=targets,
                    sensitive=sensitive,
                    comment=args.comment,
                    opts=pulumi.ResourceOptions(parent=self),
                )
            )
        self.variable_ids = pulumi.Output.all(*[variable.id for variable in created])
        self.register_outputs({"variable_ids": self.variable_ids})
