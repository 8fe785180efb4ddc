"""Vercel: the project whose environment the stack writes."""

from __future__ import annotations

import re

from config.keys import Key
from config.reader import Reader
from model.app_env import VercelProject

VERCEL_TARGETS = ("production", "preview", "development")

PROJECT_ID = Key(
    "vercelProjectId",
    "string",
    "`prj_…`",
    "turns on writing the five variables into this Vercel project",
    "prj_<id>",
    default_doc="none",
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
KEYS = (PROJECT_ID, TEAM_ID, TARGETS)


def read_vercel(reader: Reader, stack: str) -> VercelProject | None:
    project_id = reader.raw(PROJECT_ID)
    default_targets = ("production",) if stack == "prod" else ("preview", "development")
    # Pulumi.yaml's default is the empty list, which means "the stack's default".
    chosen = reader.strings(TARGETS, default=())
    targets = chosen or default_targets
    team_id = reader.raw(TEAM_ID)
    if project_id is None:
        for key, value in ((TEAM_ID, team_id), (TARGETS, chosen)):
            if value:
                reader.ignored(
                    key, "no vercelProjectId is set, so nothing is written to Vercel", PROJECT_ID.set_command()
                )
        return None
    if not re.fullmatch(r"prj_[A-Za-z0-9]+", project_id):
        reader.problem(
            PROJECT_ID, f"{project_id!r} is not a Vercel project id (prj_..., under Project Settings > General)"
        )
    if team_id is not None and not re.fullmatch(r"team_[A-Za-z0-9]+", team_id):
        reader.problem(TEAM_ID, f"{team_id!r} is not a Vercel team id (team_..., under Team Settings > General)")
    unknown = [target for target in targets if target not in VERCEL_TARGETS]
    if unknown or not targets:
        reader.problem(TARGETS, f"{list(targets)} must be a non-empty list of {', '.join(VERCEL_TARGETS)}")
    return VercelProject(project_id, team_id, targets)
