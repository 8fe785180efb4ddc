"""One declaration per config key: what the reader reads, what Pulumi.yaml declares and what the
docs/configuration.md's tables say are all made from these (see `config.docs`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from model.problems import NAMESPACE as NAMESPACE

# Pulumi's project config types, plus "number" (declared to Pulumi as a string: it has no float type).
KeyType = Literal["string", "integer", "number", "boolean", "array"]
Default = str | int | float | bool | tuple[str, ...] | None


@dataclass(frozen=True)
class Key:
    name: str
    type: KeyType
    # What the configuration tables call the kind of value (OCID, hostname, ...).
    kind: str
    description: str
    example: str
    # The value when the key is not set; None: no value (`default_doc` says what happens).
    default: Default = None
    # The tables' text for a default that is derived from other keys, or for a required key.
    default_doc: str | None = None
    secret: bool = False

    @property
    def full_name(self) -> str:
        return f"{NAMESPACE}:{self.name}"

    def set_command(self, example: str | None = None) -> str:
        if self.secret:
            value = example or self.example
            # A file (a private key) is read from stdin, so it never lands in the shell's history.
            reading = "< " if value.startswith(("~/", "/")) else ""
            return f"pulumi config set --secret {self.full_name} {reading}{value}"
        return f"pulumi config set {self.full_name} {example or self.example}"


REQUIRED = "*required*"
