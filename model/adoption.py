"""Taking over what a hand-built setup already made: which DNS record and which Vercel variable
each resource adopts, and the situations where adopting would break something instead.

Pure decisions over what the providers' lookups returned; the lookups live in wiring/lookups.py.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from model.app_env import APP_VARIABLES, AppVariable, VercelProject, variable_targets


class AdoptionConflict(Exception):
    """What exists cannot be taken over as it is, and what to change first."""

    def __init__(self, message: str, fix: str) -> None:
        super().__init__(message)
        self.message, self.fix = message, fix


@dataclass(frozen=True)
class ExistingRecord:
    id: str
    type: str
    content: str


@dataclass(frozen=True)
class ExistingVariable:
    id: str
    key: str
    targets: tuple[str, ...]
    # A variable for one Git branch only sits beside the stack's and is left alone.
    git_branch: str | None = None


def dns_record_to_adopt(hostname: str, records: Sequence[ExistingRecord]) -> str | None:
    """The id of the one A record `hostname` has, None when it has none."""
    by_type: dict[str, list[ExistingRecord]] = {}
    for record in records:
        by_type.setdefault(record.type, []).append(record)
    if by_type.get("CNAME"):
        raise AdoptionConflict(
            f"{hostname} is a CNAME ({by_type['CNAME'][0].content}); an A record cannot sit beside it",
            "replace the CNAME by an A record to the current server in Cloudflare, then run again",
        )
    if by_type.get("AAAA"):
        addresses = ", ".join(record.content for record in by_type["AAAA"])
        raise AdoptionConflict(
            f"{hostname} also has an AAAA record ({addresses}): IPv6 traffic would keep reaching that host "
            "after the switch",
            "delete the AAAA record in Cloudflare, then run again",
        )
    a_records = by_type.get("A", [])
    if len(a_records) > 1:
        addresses = ", ".join(record.content for record in a_records)
        raise AdoptionConflict(
            f"{hostname} has {len(a_records)} A records ({addresses}); the stack manages one",
            "delete all but the current server's in Cloudflare, then run again",
        )
    return a_records[0].id if a_records else None


def vercel_variable_to_adopt(
    vercel: VercelProject, variable: AppVariable, existing: Sequence[ExistingVariable]
) -> str | None:
    """The import id of `variable` when it already exists on this stack's targets, None when it does not."""
    targets = set(variable_targets(variable, vercel.targets))
    overlapping = [
        found
        for found in existing
        if found.key == variable.name and not found.git_branch and targets & set(found.targets)
    ]
    if len(overlapping) > 1:
        raise AdoptionConflict(
            f"{variable.name} exists {len(overlapping)} times on {', '.join(sorted(targets))}; the stack writes one",
            "delete the extra ones in Vercel (Settings > Environment Variables), then run again",
        )
    if not overlapping:
        return None
    (found,) = overlapping
    others = sorted(set(found.targets) - targets)
    if others:
        raise AdoptionConflict(
            f"{variable.name} is one variable for {', '.join(sorted(found.targets))}; taking it over would "
            f"remove it from {', '.join(others)}",
            f"in Vercel, give {', '.join(others)} its own copy and keep this one for "
            f"{', '.join(sorted(targets & set(found.targets)))}, then run again",
        )
    return vercel.import_id(found.id)


def vercel_variables_to_adopt(vercel: VercelProject, existing: Sequence[ExistingVariable]) -> dict[str, str]:
    """Import ids by variable name, for the app's variables that already exist on this stack's targets."""
    adopted = {variable.name: vercel_variable_to_adopt(vercel, variable, existing) for variable in APP_VARIABLES}
    return {name: import_id for name, import_id in adopted.items() if import_id is not None}


def dns_records_to_adopt(records_by_hostname: Mapping[str, Sequence[ExistingRecord]]) -> dict[str, str]:
    """Record ids by hostname, for the hostnames that have one."""
    adopted = {}
    for hostname, records in records_by_hostname.items():
        record_id = dns_record_to_adopt(hostname, records)
        if record_id is not None:
            adopted[hostname] = record_id
    return adopted
