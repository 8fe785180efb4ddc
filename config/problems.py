"""Configuration problems, collected and reported together, each with its key and its fix."""

from __future__ import annotations

from dataclasses import dataclass

from config.keys import NAMESPACE


@dataclass(frozen=True)
class Problem:
    key: str
    message: str
    fix: str

    def __str__(self) -> str:
        return f"{NAMESPACE}:{self.key}: {self.message}\n    fix: {self.fix}"


class ConfigError(Exception):
    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"{len(problems)} configuration problem(s); nothing was created:\n{lines}")
