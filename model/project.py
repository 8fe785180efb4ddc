"""The project object: one name prefix, one set of tags and the protection policy for a stack."""

from __future__ import annotations

from dataclasses import dataclass

PROJECT = "flowspace"
# The one stack that serves users: protected by default, and the only one that writes Vercel's production.
PRODUCTION_STACK = "prod"


@dataclass(frozen=True)
class Project:
    stack: str
    # Protected resources refuse deletion and replacement until protection is lifted.
    protect: bool

    @property
    def name_prefix(self) -> str:
        return f"{PROJECT}-{self.stack}"

    @property
    def tags(self) -> dict[str, str]:
        return {"project": PROJECT, "stack": self.stack, "always-free": "true"}

    @property
    def comment(self) -> str:
        """What marks a record or variable as this stack's in a shared zone or project."""
        return f"managed by pulumi ({self.name_prefix})"
