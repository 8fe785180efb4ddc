"""Configuration problems, collected and reported together, each with its key and its fix."""

from __future__ import annotations

from model.problems import Problem

__all__ = ["ConfigError", "Problem"]


class ConfigError(Exception):
    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"{len(problems)} configuration problem(s); nothing was created:\n{lines}")
