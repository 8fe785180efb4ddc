"""Reads declared keys, converting values and recording every problem instead of stopping at the first."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable
from difflib import get_close_matches
from typing import Protocol, TypeVar

import pulumi

from config.keys import NAMESPACE, Key
from config.problems import Problem

T = TypeVar("T")


class ConfigSource(Protocol):
    """What `pulumi.Config` offers, plus the keys that are set; tests pass a dict-backed stand-in."""

    def get(self, key: str) -> str | None: ...

    def get_secret(self, key: str) -> pulumi.Output[str] | None: ...

    def keys(self) -> Iterable[str]: ...


class Reader:
    def __init__(self, source: ConfigSource) -> None:
        self.source = source
        self.problems: list[Problem] = []

    def problem(self, key: Key, message: str, fix: str | None = None) -> None:
        problem = Problem(key.name, message, fix or key.set_command())
        if problem not in self.problems:
            self.problems.append(problem)

    def raw(self, key: Key) -> str | None:
        value = self.source.get(key.name)
        if value is not None and ("\n" in value or "\r" in value):
            self.problem(key, "contains a line break; every setting is one line")
            return None
        return None if value is None or value.strip() == "" else value.strip()

    def multiline(self, key: Key) -> str | None:
        """A value of several lines (an env file read from stdin): the one kind that may hold line breaks."""
        value = self.source.get(key.name)
        return None if value is None or value.strip() == "" else value

    def text(self, key: Key) -> str | None:
        value = self.raw(key)
        return value if value is not None else (key.default if isinstance(key.default, str) else None)

    def required(self, key: Key, what: str) -> str:
        value = self.raw(key)
        if value is None:
            self.problem(key, f"is not set; it is {what}")
            return ""
        return value

    def typed(self, key: Key, default: T, convert: Callable[[str], T], kind: str) -> T:
        value = self.raw(key)
        if value is None:
            return default
        try:
            return convert(value)
        except ValueError:
            self.problem(key, f"{value!r} is not {kind}")
            return default

    def integer(self, key: Key, default: int | None = None) -> int:
        fallback = default if default is not None else key.default
        assert isinstance(fallback, int) and not isinstance(fallback, bool), key.name
        return self.typed(key, fallback, int, "a whole number")

    def number(self, key: Key) -> float:
        assert isinstance(key.default, int | float), key.name
        return self.typed(key, float(key.default), _finite, "a finite number")

    def boolean(self, key: Key, default: bool | None = None) -> bool:
        fallback = default if default is not None else key.default
        assert isinstance(fallback, bool), key.name
        return self.typed(key, fallback, _parse_bool, "true or false")

    def strings(self, key: Key, default: tuple[str, ...] | None = None) -> tuple[str, ...]:
        """Each item held to what a single value is: one line, no control characters, not blank."""
        fallback = default if default is not None else key.default
        assert isinstance(fallback, tuple), key.name
        items = self.typed(key, fallback, _parse_string_list, "a list of strings")
        kept = []
        for number, item in enumerate(items, start=1):
            if any(ord(character) < 32 or ord(character) == 127 for character in item):
                self.problem(key, f"item {number} contains a line break or a control character; every item is one line")
            elif not item.strip():
                self.problem(key, f"item {number} is blank")
            else:
                kept.append(item.strip())
        return tuple(kept)

    def ignored(self, key: Key, because: str, instead: str) -> None:
        """A setting another one would silently drop: refused, with both ways out."""
        self.problem(key, f"would be ignored: {because}", f"{instead}, or pulumi config rm {key.full_name}")

    def choice(self, key: Key, allowed: tuple[str, ...]) -> str:
        value = self.text(key) or str(key.default)
        if value not in allowed:
            self.problem(key, f"{value!r} is not one of {', '.join(allowed)}")
            return str(key.default)
        return value

    def secret(self, key: Key) -> pulumi.Output[str] | None:
        return self.source.get_secret(key.name)

    def refuse_unknown(self, known: Iterable[Key]) -> None:
        """A misspelt key would otherwise be ignored and its default deployed."""
        names = {key.name: key for key in known}
        prefix = f"{NAMESPACE}:"
        for full_name in sorted(self.source.keys()):
            if not full_name.startswith(prefix) or full_name[len(prefix) :] in names:
                continue
            name = full_name[len(prefix) :]
            close = get_close_matches(name, names, n=1) or get_close_matches(name.lower(), names, n=1, cutoff=0.5)
            hint = f"did you mean {close[0]}? " if close else ""
            self.problems.append(
                Problem(
                    name,
                    f"is not a setting of this program; {hint}an unknown key is refused so that a typo "
                    "never deploys a default",
                    f"pulumi config rm {full_name}"
                    + (f" && pulumi config set {prefix}{close[0]} <value>" if close else ""),
                )
            )


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(text)
    return value


def _parse_bool(text: str) -> bool:
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    raise ValueError(text)


def _parse_string_list(text: str) -> tuple[str, ...]:
    """A JSON list (what `pulumi config set --path key[0]` stores) or one plain string."""
    if not text.startswith("["):
        return (text,)
    try:
        parsed = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(text) from error
    if not isinstance(parsed, list) or not all(isinstance(item, str) for item in parsed):
        raise ValueError(text)
    return tuple(parsed)
