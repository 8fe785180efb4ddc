"""The running program's configuration: the stack's settings as the engine hands them over, read
and checked once, with the warnings an operator should see on every preview."""

from __future__ import annotations

from collections.abc import Iterable

import pulumi

from config import ConfigError, StackConfig, cost, existing, load_stack_config, turn
from config.keys import NAMESPACE


class PulumiConfigSource:
    """The stack's configuration as the engine hands it to the program."""

    def __init__(self) -> None:
        self.config = pulumi.Config(NAMESPACE)

    def get(self, key: str) -> str | None:
        return self.config.get(key)

    def get_secret(self, key: str) -> pulumi.Output[str] | None:
        return self.config.get_secret(key)

    def keys(self) -> Iterable[str]:
        # The SDK has no public listing of the keys that are set; the engine suite's test_0 shows this one works.
        from pulumi.runtime import config as runtime_config

        return {*runtime_config.CONFIG.get(), *runtime_config.get_config_env()}


def read_stack_config() -> StackConfig:
    """The running stack's config; a bad one stops the program before anything is declared."""
    try:
        source, stack, dry_run = PulumiConfigSource(), pulumi.get_stack(), pulumi.runtime.is_dry_run()
        config = load_stack_config(source, stack, turn.cloudflare_token(), dry_run)
    except ConfigError as error:
        raise pulumi.RunError(str(error)) from None
    if config.existing_server is None and config.cost_alerts is None:
        pulumi.log.warn(
            f"{cost.ALERT_EMAIL.full_name} is not set: no budget or egress alert will tell you before this stack "
            f"costs money. {cost.ALERT_EMAIL.set_command() if config.cluster is None else cost.NO_CLUSTER_ALERTS}"
        )
    host = config.existing_server
    if host is not None and host.host_key is None:
        pulumi.log.warn(
            f"{existing.TARGET_HOST_KEY.full_name} is not set and {existing.ACCEPT_ANY_HOST_KEY.full_name} is true: "
            f"the SSH host key of {host.address} is not verified, so a machine in the middle would receive the "
            f"secrets. Pin it: {existing.TARGET_HOST_KEY.set_command()}"
        )
    return config
