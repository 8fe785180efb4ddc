"""The socket server's source folder as `docker build` sees it: `.dockerignore` honoured, never
`node_modules` or `.git`, bounded in size.

The patterns follow Docker's (moby/patternmatcher): `#` comments, `!` re-includes, `*` and `?`
within one path segment, `**` across segments, a leading `/` ignored, a pattern that matches a
folder matches everything in it, and the last matching pattern decides.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Never shipped, whatever .dockerignore says: the host installs dependencies itself.
ALWAYS_EXCLUDED = ("node_modules", ".git")
# Docker sends these to the builder even when .dockerignore names them.
ALWAYS_INCLUDED = ("Dockerfile", ".dockerignore")
# A socket server's source is well below this; more means build output or assets were caught.
MAX_SOURCE_BYTES = 20 * 1024 * 1024


@dataclass(frozen=True)
class IgnoreRule:
    pattern: re.Pattern[str]
    reinclude: bool


@dataclass(frozen=True)
class SourceFile:
    path: str
    content: bytes
    executable: bool = False


@dataclass(frozen=True)
class SourceTree:
    files: tuple[SourceFile, ...]

    @property
    def size(self) -> int:
        return sum(len(file.content) for file in self.files)


def _compile(pattern: str) -> re.Pattern[str]:
    regex, index = "", 0
    while index < len(pattern):
        char = pattern[index]
        if pattern.startswith("**", index):
            index += 2
            if pattern.startswith("/", index):
                index += 1
                regex += "(?:.*/)?"
            else:
                regex += ".*"
            continue
        if char == "*":
            regex += "[^/]*"
        elif char == "?":
            regex += "[^/]"
        elif char == "[":
            end = pattern.find("]", index + 1)
            if end == -1:
                regex += re.escape(char)
            else:
                body = pattern[index + 1 : end]
                regex += "[" + ("^" + body[1:] if body.startswith("!") else body).replace("\\", "\\\\") + "]"
                index = end
        elif char == "\\" and index + 1 < len(pattern):
            index += 1
            regex += re.escape(pattern[index])
        else:
            regex += re.escape(char)
        index += 1
    return re.compile(regex)


def parse_dockerignore(text: str) -> tuple[IgnoreRule, ...]:
    rules = []
    for line in text.splitlines():
        pattern = line.strip()
        if not pattern or pattern.startswith("#"):
            continue
        reinclude = pattern.startswith("!")
        pattern = pattern[1:].strip() if reinclude else pattern
        # Docker cleans the pattern like a path: no leading slash, no `./`, no trailing slash.
        parts = [part for part in pattern.strip("/").split("/") if part not in ("", ".")]
        if parts:
            rules.append(IgnoreRule(_compile("/".join(parts)), reinclude))
    return tuple(rules)


def is_ignored(rules: tuple[IgnoreRule, ...], path: str) -> bool:
    """Whether `docker build` leaves `path` (relative, `/`-separated) out of the context."""
    segments = path.split("/")
    if any(segment in ALWAYS_EXCLUDED for segment in segments):
        return True
    if path in ALWAYS_INCLUDED:
        return False
    prefixes = ["/".join(segments[: count + 1]) for count in range(len(segments))]
    ignored = False
    for rule in rules:
        if any(rule.pattern.fullmatch(prefix) for prefix in prefixes):
            ignored = not rule.reinclude
    return ignored
