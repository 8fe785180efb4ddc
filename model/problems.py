"""A problem an operator can fix: the setting it is about, what is wrong, and the command that
fixes it. Configuration problems are collected and reported together (config/); the few found
only once the cloud answers (an availability domain, a record to adopt) read the same."""

from __future__ import annotations

from dataclasses import dataclass

NAMESPACE = "flowspace"


@dataclass(frozen=True)
class Problem:
    # The setting's name, without the namespace.
    key: str
    message: str
    fix: str

    def __str__(self) -> str:
        return f"{NAMESPACE}:{self.key}: {self.message}\n    fix: {self.fix}"
