"""The Next.js app's environment in Vercel: the five variables of `vercel_env`, per target, and a
redeploy through the project's deploy hook whenever one of them changed.

Resources: one variable per name (an existing one adopted by import id); with a deploy hook, a
local command that calls it, replaced (so run again) only when the variables' digest changes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import partial

import pulumi
import pulumiverse_vercel as vercel
from pulumi_command import local

from model.app_env import APP_VARIABLES, VercelProject, variable_targets, variables_digest
from model.project import Project

# The hook URL is the credential: curl reads it from stdin, never from its command line.
REDEPLOY = (
    "curl --fail --silent --show-error --max-time 60 --retry 3 --config - "
    '|| { echo "the Vercel deploy hook failed: the variables changed but the app was not redeployed; '
    'redeploy it by hand (vercel --prod) and check the hook" >&2; exit 1; }'
)


@dataclass(frozen=True)
class VercelEnvArgs:
    vercel: VercelProject
    variables: pulumi.Input[Mapping[str, str]]
    project: Project
    # Import ids by variable name: variables that exist and are taken over in place.
    adopt: Mapping[str, str] = field(default_factory=dict)
    # The project's deploy hook URL (secret); None: the app is redeployed by hand.
    deploy_hook: pulumi.Input[str] | None = None


def _value(name: str, variables: Mapping[str, str]) -> str:
    return variables[name]


def curl_config(hook_url: str) -> str:
    """A curl config POSTing to the hook; the URL is checked by the config reader (no quote or backslash)."""
    return f'url = "{hook_url}"\nrequest = "POST"\n'


class VercelEnv(pulumi.ComponentResource):
    variable_ids: pulumi.Output[list[str]]

    def __init__(self, name: str, args: VercelEnvArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("flowspace:app:VercelEnv", name, None, opts)
        variables = pulumi.Output.from_input(args.variables)
        created = []
        for variable in APP_VARIABLES:
            targets = variable_targets(variable, args.vercel.targets)
            if not targets:
                continue
            created.append(
                vercel.ProjectEnvironmentVariable(
                    f"{name}-{variable.name.lower().replace('_', '-')}",
                    project_id=args.vercel.project_id,
                    team_id=args.vercel.team_id,
                    key=variable.name,
                    value=variables.apply(partial(_value, variable.name)),
                    targets=list(targets),
                    sensitive=variable.secret,
                    comment=args.project.comment,
                    opts=pulumi.ResourceOptions(parent=self, import_=args.adopt.get(variable.name)),
                )
            )
        if args.deploy_hook is not None:
            hook_config: pulumi.Input[str] = pulumi.Output.from_input(args.deploy_hook).apply(curl_config)
            local.Command(
                f"{name}-redeploy",
                create=REDEPLOY,
                stdin=pulumi.Output.secret(hook_config),
                # A digest, not the values: it changes exactly when a variable does, and reveals none.
                triggers=[pulumi.Output.unsecret(variables.apply(variables_digest))],
                opts=pulumi.ResourceOptions(parent=self, depends_on=created),
            )
        self.variable_ids = pulumi.Output.all(*[variable.id for variable in created])
        self.register_outputs({"variable_ids": self.variable_ids})
