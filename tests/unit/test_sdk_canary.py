"""The Pulumi SDK internals this project relies on, in one place: an SDK upgrade that moves one of
them fails here, by name, instead of somewhere deep in the mock harness or the config reader."""

from __future__ import annotations

import inspect

import pulumi
from pulumi.runtime import config as runtime_config
from pulumi.runtime import mocks, rpc, settings, sync_await


def test_config_keys_are_listed_from_the_runtime_config_map() -> None:
    # config.PulumiConfigSource.keys: the SDK has no public listing of the keys that are set.
    assert isinstance(runtime_config.CONFIG.get(), dict)
    assert callable(runtime_config.get_config_env)


def test_the_mock_harness_hooks_are_where_it_expects_them() -> None:
    # testbed/mocks.py records registrations by subclassing the mock monitor.
    assert inspect.isclass(mocks.MockMonitor) and hasattr(mocks.MockMonitor, "RegisterResource")
    assert "monitor" in inspect.signature(pulumi.runtime.set_mocks).parameters
    # It resets the root stack between runs and waits on outputs synchronously.
    assert hasattr(settings, "ROOT") and hasattr(settings.ROOT, "set")
    assert callable(sync_await._sync_await)
    assert callable(rpc.deserialize_properties) and callable(rpc.is_rpc_secret)


def test_stack_transformations_still_exist() -> None:
    # components/tags.py tags every OCI resource with one stack transformation.
    assert callable(pulumi.runtime.register_stack_transformation)
    assert {"type_", "props", "opts"} <= set(inspect.signature(pulumi.ResourceTransformationArgs).parameters)
