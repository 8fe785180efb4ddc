"""Typed wrapper: `pulumi.Output.secret` infers `Never` for mapping outputs under mypy --strict."""

from __future__ import annotations

from typing import TypeVar, cast

import pulumi

T = TypeVar("T")


def secret(value: pulumi.Output[T]) -> pulumi.Output[T]:
    return cast("pulumi.Output[T]", pulumi.Output.secret(value))
