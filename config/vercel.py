"""Vercel: the project whose environment the stack writes."""

from __future__ import annotations

import re

import pulumi

from config.keys import Key
from config.reader import Reader
from model.app_env import VERCEL_TARGETS, VercelProject, default_vercel_targets, writes_production_from_elsewhere
from model.project import PRODUCTION_STACK

PROJECT_ID = Key(
    "vercelProjectId",
    "string",
    "`prj_…`",
    "turns on writing the app's variables into this Vercel project",
    "prj_<id>",
    default_doc="none",
)
PROJECT_NAME = Key(
    "vercelProjectName",
    "string",
    "the project's name",
    "the project's name as in its URL (lowercase letters, digits, `-`): `adoptExisting` looks the project's "
    "variables up by it, as the provider's lookup takes a name only",
    "flowspace-web",
    default_doc="none (required with `adoptExisting`)",
)
TEAM_ID = Key(
    "vercelTeamId", "string", "`team_…`", "the Vercel team owning the project", "team_<id>", default_doc="none"
)
TARGETS = Key(
    "vercelTargets",
    "array",
    "list",
    "Vercel environments the variables go to",
    "'[\"production\"]'",
    default_doc='`["production"]` for `prod`, else `["preview", "development"]`',
)
DEPLOY_HOOK = Key(
    "vercelDeployHook",
    "string",
    "URL",
    "a deploy hook of the project (Settings > Git > Deploy Hooks, the production branch for `prod`): called after "
    "a variable changed, so the app runs with the new values",
    "https://api.vercel.com/v1/integrations/deploy/prj_<id>/<hook id>",
    default_doc="none: redeploy by hand",
    secret=True,
)
KEYS = (PROJECT_ID, PROJECT_NAME, TEAM_ID, TARGETS, DEPLOY_HOOK)
# The provider's project lookup validates its `name` so (pulumiverse-vercel v3,
# terraform-provider-vercel vercel/data_source_project.go): a `prj_` id is refused before any read.
PROJECT_NAME_RULE = re.compile(r"[a-z0-9\-]{1,100}")
_DEPLOY_HOOK = re.compile(r"https://api\.vercel\.com/v1/integrations/deploy/(?P<project>prj_[A-Za-z0-9]+)/[A-Za-z0-9]+")


def read_vercel(reader: Reader, stack: str) -> VercelProject | None:
    project_id = reader.raw(PROJECT_ID)
    # Pulumi.yaml's default is the empty list, which means "the stack's default".
    chosen = reader.strings(TARGETS, default=())
    targets = chosen or default_vercel_targets(stack)
    team_id = reader.raw(TEAM_ID)
    name = reader.raw(PROJECT_NAME)
    # Read as text only to check it (never echoed); what reaches the command is the secret output.
    hook = reader.raw(DEPLOY_HOOK)
    if project_id is None:
        for key, value in ((PROJECT_NAME, name), (TEAM_ID, team_id), (TARGETS, chosen), (DEPLOY_HOOK, hook)):
            if value:
                reader.ignored(
                    key, "no vercelProjectId is set, so nothing is written to Vercel", PROJECT_ID.set_command()
                )
        return None
    if not re.fullmatch(r"prj_[A-Za-z0-9]+", project_id):
        reader.problem(
            PROJECT_ID, f"{project_id!r} is not a Vercel project id (prj_..., under Project Settings > General)"
        )
    if name is not None and not PROJECT_NAME_RULE.fullmatch(name):
        reader.problem(
            PROJECT_NAME,
            f"{name!r} is not a Vercel project name (lowercase letters, digits and '-', up to 100; "
            "the name in the project's URL, not its prj_ id)",
        )
    if team_id is not None and not re.fullmatch(r"team_[A-Za-z0-9]+", team_id):
        reader.problem(TEAM_ID, f"{team_id!r} is not a Vercel team id (team_..., under Team Settings > General)")
    unknown = [target for target in targets if target not in VERCEL_TARGETS]
    if unknown or not targets:
        reader.problem(TARGETS, f"{list(targets)} must be a non-empty list of {', '.join(VERCEL_TARGETS)}")
    if writes_production_from_elsewhere(stack, targets):
        reader.problem(
            TARGETS,
            f"includes production in stack {stack!r}: only the {PRODUCTION_STACK!r} stack writes the variables "
            "the live app runs with",
            TARGETS.set_command('\'["preview", "development"]\''),
        )
    hook_match = _DEPLOY_HOOK.fullmatch(hook) if hook is not None else None
    if hook is not None and hook_match is None:
        reader.problem(
            DEPLOY_HOOK, "is not a Vercel deploy hook URL (https://api.vercel.com/v1/integrations/deploy/prj_.../...)"
        )
    elif hook_match is not None and hook_match["project"] != project_id:
        reader.problem(
            DEPLOY_HOOK,
            f"belongs to project {hook_match['project']}, not to vercelProjectId {project_id}: it would redeploy "
            "another app",
        )
    return VercelProject(project_id, team_id, targets, name)


def read_deploy_hook(reader: Reader) -> pulumi.Output[str] | None:
    return reader.secret(DEPLOY_HOOK)
