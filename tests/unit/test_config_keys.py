"""One declaration per key: the reader, Pulumi.yaml and docs/configuration.md agree, and unknown keys are refused."""

from __future__ import annotations

import json

import pytest
import yaml

from config import KEYS, ConfigError, load_stack_config
from config import docs as config_docs
from testbed.mocks import TEST_LOGIN_KEY, DictSource, run_failing_program, stack_config


class RecordingSource(DictSource):
    """Remembers every key the reader asks for."""

    def __init__(self, values: dict[str, str]) -> None:
        super().__init__(values)
        self.asked: set[str] = set()

    def get(self, key: str) -> str | None:
        self.asked.add(key)
        return super().get(key)

    def get_secret(self, key: str):  # type: ignore[no-untyped-def]
        self.asked.add(key)
        return super().get_secret(key)


def plain(stack: str, overrides: dict[str, str | None]) -> dict[str, str]:
    return {
        key.removeprefix("flowspace:"): value
        for key, value in stack_config(stack, overrides).items()
        if key.startswith("flowspace:")
    }


EVERY_MODE = {
    "prod": {"flowspace:alertEmail": "ops@example.com", "flowspace:vercelProjectId": "prj_abc"},
    "existing": {
        "flowspace:targetPrivateKey": TEST_LOGIN_KEY,
        "flowspace:acceptAnyHostKey": "true",
        "flowspace:compartmentId": None,
    },
}


def test_the_reader_reads_exactly_the_declared_keys() -> None:
    asked: set[str] = set()
    for stack, overrides in EVERY_MODE.items():
        source = RecordingSource(plain(stack, overrides))
        load_stack_config(source, stack)
        asked |= source.asked
    declared = {key.name for key in KEYS}
    assert asked - declared == set(), f"read but not declared: {sorted(asked - declared)}"
    assert declared - asked == set(), f"declared but never read: {sorted(declared - asked)}"


def test_each_key_is_declared_once() -> None:
    names = [key.name for key in KEYS]
    assert len(names) == len(set(names)), sorted(name for name in names if names.count(name) > 1)


def test_pulumi_yaml_declares_every_key_as_the_declarations_say() -> None:
    declared = yaml.safe_load(config_docs.PULUMI_YAML.read_text())["config"]
    assert declared == config_docs.pulumi_config_block(), "run: .venv/bin/python -m config.docs"
    for key in KEYS:
        assert (key.name in declared) is not key.secret, f"{key.name}: secrets are left out, every other key is in"


def test_the_configuration_tables_are_the_declarations() -> None:
    text = config_docs.CONFIGURATION_DOC.read_text()
    assert config_docs.with_key_tables(text) == text, "run: .venv/bin/python -m config.docs"
    for key in KEYS:
        assert f"| `{key.name}` |" in text, key.name


def engine_text(value: object) -> str:
    """How the engine hands a Pulumi.yaml default to the program (Go's %v, JSON for lists)."""
    if isinstance(value, bool):
        return str(value).lower()
    return json.dumps(value) if isinstance(value, list) else str(value)


def test_declared_defaults_are_what_the_reader_uses() -> None:
    """A stack that sets every key to Pulumi.yaml's default reads exactly like one that sets none."""
    defaults = {
        name: engine_text(declared["default"])
        for name, declared in config_docs.pulumi_config_block().items()
        if ":" not in name and "default" in declared
    }
    bare = plain("prod", {})
    with_defaults = {**defaults, **bare}
    assert load_stack_config(DictSource(with_defaults), "prod") == load_stack_config(DictSource(bare), "prod")


def test_a_misspelt_key_is_refused_with_a_suggestion_among_every_other_problem() -> None:
    run, error = run_failing_program(
        {"flowspace:sshAllowedCIDRs": '["203.0.113.7/32"]', "flowspace:ocpus": "many", "flowspace:colour": "blue"}
    )
    text = str(error)
    assert "flowspace:sshAllowedCIDRs: is not a setting of this program; did you mean sshAllowedCidrs?" in text
    assert "pulumi config rm flowspace:sshAllowedCIDRs" in text
    assert "flowspace:colour: is not a setting" in text
    assert "flowspace:ocpus" in text, "the other problems are reported in the same run"
    assert not run.resources, f"declared despite bad config: {[r.name for r in run.resources]}"


def test_other_namespaces_are_not_ours_to_refuse() -> None:
    values = {**plain("prod", {})}
    source = DictSource(values)
    source.keys = lambda: [*DictSource(values).keys(), "oci:region", "cloudflare:apiToken"]  # type: ignore[method-assign]
    load_stack_config(source, "prod")


@pytest.mark.parametrize("key", [key for key in KEYS if not key.secret], ids=lambda key: key.name)
def test_every_fix_is_a_set_command_for_its_own_key(key: object) -> None:
    assert key.set_command().startswith(f"pulumi config set {key.full_name} ")  # type: ignore[attr-defined]


def test_config_error_lists_every_problem() -> None:
    error = ConfigError([])
    assert "0 configuration problem(s)" in str(error)
