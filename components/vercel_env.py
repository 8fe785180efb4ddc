"""The Next.js app's environment in Vercel: the five variables of `vercel_env`, per target."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import partial

import pulumi
import pulumiverse_vercel as vercel

VARIABLES = (
    "NEXT_PUBLIC_SOCKET_URL",
    "NEXT_PUBLIC_LIVEKIT_URL",
    "LIVEKIT_URL",
    "LIVEKIT_API_KEY",
    "LIVEKIT_API_SECRET",
)
SENSITIVE = frozenset({"LIVEKIT_API_SECRET"})
# Vercel keeps sensitive variables out of the development target.
SENSITIVE_TARGETS = frozenset({"production", "preview"})


def vercel_variables(
    socket_url: str, livekit_url: str, livekit_http_url: str, api_key: str, api_secret: str
) -> dict[str, str]:
    return dict(zip(VARIABLES, (socket_url, livekit_url, livekit_http_url, api_key, api_secret), strict=True))


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
        for key in VARIABLES:
            sensitive = key in SENSITIVE
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
