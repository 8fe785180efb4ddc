"""Hostile values through every key: each is refused naming its key, or never reaches a shell."""

from __future__ import annotations

import json

import pytest

from config import KEYS, ConfigError, load_stack_config
from config.keys import Key
from testbed.mocks import TEST_LOGIN_KEY, DictSource, run_program, stack_config

HOSTILE = (
    "x; touch /tmp/pwned #",
    "$(touch /tmp/pwned)",
    "`touch /tmp/pwned`",
    "a'b\"c",
    "line\nsecond line",
    "a && b",
    "../../etc/passwd",
)
EXISTING = {
    "flowspace:targetPrivateKey": TEST_LOGIN_KEY,
    "flowspace:targetHostKey": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMsGGAAfhkdmdIm7nT1yWNdlhbJLuxmLFWNXbtgY3Mqm host",
    "flowspace:compartmentId": None,
}
SHELL_INPUTS = ("create", "update", "delete", "remotePath")


def stack_for(key: Key) -> tuple[str, dict[str, str | None]]:
    if key.name.startswith("target") or key.name == "acceptAnyHostKey":
        return "existing", dict(EXISTING)
    return "prod", {"flowspace:alertEmail": "ops@example.com"} if key.name in ("tenancyId", "budgetAmountUsd") else {}


def hostile(key: Key, value: str) -> str:
    return json.dumps([value]) if key.type == "array" else value


@pytest.mark.parametrize("key", [key for key in KEYS if not key.secret], ids=lambda key: key.name)
def test_hostile_values_are_refused_by_name_or_never_reach_a_shell(key: Key) -> None:
    stack, base = stack_for(key)
    for value in HOSTILE:
        overrides = {**base, key.full_name: hostile(key, value)}
        values = stack_config(stack, overrides)
        plain = {
            name.removeprefix("flowspace:"): text for name, text in values.items() if name.startswith("flowspace:")
        }
        try:
            load_stack_config(DictSource(plain), stack)
        except ConfigError as error:
            assert key.name in {problem.key for problem in error.problems}, f"{key.name}={value!r}: {error}"
            continue
        run = run_program(stack, overrides=overrides)
        for resource in run.resources:
            if not resource.typ.startswith("command:remote:"):
                continue
            for name in SHELL_INPUTS:
                text = str(resource.inputs.get(name, ""))
                assert value.strip() not in text, f"{key.name}={value!r} reached {resource.name}.{name}: {text}"


def refusals(stack: str, overrides: dict[str, str | None]) -> set[str]:
    values = stack_config(stack, overrides)
    plain = {name.removeprefix("flowspace:"): text for name, text in values.items() if name.startswith("flowspace:")}
    try:
        load_stack_config(DictSource(plain), stack)
    except ConfigError as error:
        return {problem.key for problem in error.problems}
    return set()


@pytest.mark.parametrize("key", [key for key in KEYS if key.type == "array"], ids=lambda key: key.name)
def test_every_list_item_is_held_to_the_rules_of_a_single_value(key: Key) -> None:
    stack, base = stack_for(key)
    for item in ("first line\nsecond line", "tab\there", "   "):
        assert key.name in refusals(stack, {**base, key.full_name: json.dumps([item])}), f"{key.name}: {item!r}"


@pytest.mark.parametrize("key", [key for key in KEYS if key.type == "array"], ids=lambda key: key.name)
def test_an_empty_list_is_refused_or_means_exactly_the_default(key: Key) -> None:
    """`[]` never switches a feature into doing nothing: it is refused by name, or it reads as the
    documented default (the same settings as when the key is not set)."""
    stack, base = stack_for(key)
    if key.name in refusals(stack, {**base, key.full_name: "[]"}):
        return
    assert not refusals(stack, {**base, key.full_name: "[]"})

    def settings(value: str | None) -> str:
        values = stack_config(stack, {**base, key.full_name: value})
        plain = {
            name.removeprefix("flowspace:"): text for name, text in values.items() if name.startswith("flowspace:")
        }
        return repr(load_stack_config(DictSource(plain), stack))

    assert settings("[]") == settings(None), f"{key.name}: [] differs from not set"
