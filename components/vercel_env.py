"""The Next.js app's environment in Vercel: the five variables of `vercel_env`, per target."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import partial

import pulumi
import pulumiverse_vercel as vercel

from model.app_env import APP_VARIABLES, VercelProject
from model.project import Project

# Vercel keeps sensitive variables out of the development target.
SENSITIVE_TARGETS = frozenset({"production", "preview"})


@dataclass(frozen=True)
class VercelEnvArgs:
    vercel: VercelProject
    variables: pulumi.Input[Mapping[str, str]]
    project: Project


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
            targets = (
                [t for t in args.vercel.targets if t in SENSITIVE_TARGETS] if sensitive else list(args.vercel.targets)
            )
            if not targets:
                continue
            created.append(
                vercel.ProjectEnvironmentVariable(
                    f"{name}-{key.lower().replace('_', '-')}",
                    project_id=args.vercel.project_id,
                    team_id=args.vercel.team_id,
                    key=key,
                    value=variables.apply(partial(_value, key)),
                    targets=targets,
                    sensitive=sensitive,
                    comment=args.project.comment,
                    opts=pulumi.ResourceOptions(parent=self),
                )
            )
        self.variable_ids = pulumi.Output.all(*[variable.id for variable in created])
        self.register_outputs({"variable_ids": self.variable_ids})
