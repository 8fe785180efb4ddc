"""Looks up what already exists (DNS records by name, the Vercel project's variables) so the
resources that take it over are declared with an import id instead of colliding with it.

Plain invokes, run before anything is declared: an import id must be known when a resource is
registered. Once adopted, a record or variable is in the state under the same id, and the engine
no longer imports it (the option is then a no-op), so the lookup may stay on.
"""

from __future__ import annotations

from collections.abc import Sequence

import pulumi
import pulumi_cloudflare as cloudflare
import pulumiverse_vercel as vercel

from model.adoption import (
    AdoptionConflict,
    ExistingRecord,
    ExistingVariable,
    dns_records_to_adopt,
    vercel_variables_to_adopt,
)
from model.app_env import VercelProject
from model.problems import Problem


def dns_records(zone_id: str, hostnames: Sequence[str], setting: str) -> dict[str, str]:
    """Import ids (`<zone id>/<record id>`) by hostname, for the hostnames that already have an A record."""
    found = {}
    for hostname in hostnames:
        result = cloudflare.get_dns_records(zone_id=zone_id, name=cloudflare.GetDnsRecordsNameArgs(exact=hostname))
        found[hostname] = [ExistingRecord(record.id, record.type, record.content) for record in result.results or []]
    try:
        adopted = dns_records_to_adopt(found)
    except AdoptionConflict as conflict:
        raise pulumi.RunError(str(Problem(setting, conflict.message, conflict.fix))) from None
    for hostname in hostnames:
        pulumi.log.info(
            f"adopting the DNS record of {hostname}" if hostname in adopted else f"{hostname} has no record to adopt"
        )
    return {hostname: f"{zone_id}/{record_id}" for hostname, record_id in adopted.items()}


def vercel_variables(project: VercelProject, setting: str) -> dict[str, str]:
    """Import ids by variable name, for the app's variables that already exist on the stack's targets."""
    # The lookup takes a name only (its validator refuses a prj_ id); the config requires one here.
    if project.name is None:
        raise ValueError("adopting Vercel variables needs the project's name")
    result = vercel.get_project(name=project.name, team_id=project.team_id)
    existing = [
        ExistingVariable(found.id, found.key, tuple(found.targets or ()), found.git_branch or None)
        for found in result.environments or []
    ]
    try:
        adopted = vercel_variables_to_adopt(project, existing)
    except AdoptionConflict as conflict:
        raise pulumi.RunError(str(Problem(setting, conflict.message, conflict.fix))) from None
    if adopted:
        pulumi.log.info(f"adopting the Vercel variables {', '.join(sorted(adopted))}")
    return adopted
