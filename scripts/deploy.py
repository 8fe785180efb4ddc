"""`pulumi up` that rides out Oracle's "Out of host capacity" for A1 launches.

On that error (and only while the instance does not exist yet) it moves to the next availability
domain and tries again, backing off between attempts, bounded in attempts and time. Any other
error stops at once with its message.

    scripts/deploy -s prod [--ads 0,1,2] [--max-attempts 24] [--max-minutes 120]
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

CAPACITY_ERROR = re.compile(r"out of (host )?capacity", re.IGNORECASE)
INSTANCE_TYPE = "oci:Core/instance:Instance"
AVAILABILITY_DOMAIN_KEY = "flowspace:availabilityDomain"


class DeployFailed(Exception):
    """`pulumi up` failed; the message is the engine's."""


class GaveUp(Exception):
    """The helper stopped; the message says why and what to do."""


class Stack(Protocol):
    def up(self, on_output: Callable[[str], None]) -> None: ...

    def use_availability_domain(self, index: int) -> None: ...

    def instance_exists(self) -> bool: ...


@dataclass(frozen=True)
class RetryPolicy:
    availability_domains: Sequence[int] = (0, 1, 2)
    max_attempts: int = 24
    max_seconds: float = 2 * 3600
    first_delay_seconds: float = 60
    max_delay_seconds: float = 600


def is_capacity_error(message: str) -> bool:
    return CAPACITY_ERROR.search(message) is not None


def deploy(
    stack: Stack,
    policy: RetryPolicy,
    log: Callable[[str], None] = print,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> int:
    """Runs `up` until it succeeds; returns the number of attempts. Raises GaveUp or DeployFailed."""
    started = clock()
    delay = policy.first_delay_seconds
    domains = list(policy.availability_domains)
    for attempt in range(1, policy.max_attempts + 1):
        domain = domains[(attempt - 1) % len(domains)]
        stack.use_availability_domain(domain)
        log(f"[deploy] attempt {attempt}/{policy.max_attempts}: pulumi up in availability domain {domain}")
        try:
            stack.up(log)
            log(f"[deploy] done after {attempt} attempt(s)")
            return attempt
        except DeployFailed as error:
            message = str(error)
            if not is_capacity_error(message):
                raise
            if stack.instance_exists():
                raise GaveUp(
                    "Oracle reports no capacity although the instance already exists (a resize or replacement?); "
                    f"not retrying. The error was: {message}"
                ) from error
            elapsed = clock() - started
            if attempt == policy.max_attempts or elapsed + delay > policy.max_seconds:
                raise GaveUp(
                    f"out of host capacity for A1 in availability domain(s) {', '.join(map(str, domains))} "
                    f"after {attempt} attempt(s) over {elapsed / 60:.0f} min; try again later, or a smaller "
                    "shape (flowspace:ocpus / flowspace:memoryGb)"
                ) from error
            following = domains[attempt % len(domains)]
            log(f"[deploy] out of host capacity in AD {domain}; AD {following} in {delay:.0f} s")
            sleep(delay)
            delay = min(delay * 2, policy.max_delay_seconds)
    raise GaveUp("no attempts allowed (--max-attempts 0)")


class AutomationStack:
    """The real stack, through the Pulumi Automation API."""

    def __init__(self, stack_name: str, work_dir: Path) -> None:
        from pulumi import automation

        self._automation = automation
        self._stack = automation.select_stack(stack_name=stack_name, work_dir=str(work_dir))

    def up(self, on_output: Callable[[str], None]) -> None:
        try:
            self._stack.up(on_output=on_output, color="never")
        except self._automation.errors.CommandError as error:
            raise DeployFailed(str(error)) from error

    def use_availability_domain(self, index: int) -> None:
        self._stack.set_config(AVAILABILITY_DOMAIN_KEY, self._automation.ConfigValue(value=str(index)))

    def instance_exists(self) -> bool:
        resources = (self._stack.export_stack().deployment or {}).get("resources", [])
        return any(resource.get("type") == INSTANCE_TYPE for resource in resources)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-s", "--stack", required=True, help="stack name, e.g. prod")
    parser.add_argument("--ads", default="0,1,2", help="availability domain indexes to rotate through (default 0,1,2)")
    parser.add_argument("--max-attempts", type=int, default=RetryPolicy.max_attempts)
    parser.add_argument("--max-minutes", type=float, default=RetryPolicy.max_seconds / 60)
    arguments = parser.parse_args(argv)
    policy = RetryPolicy(
        availability_domains=[int(index) for index in arguments.ads.split(",")],
        max_attempts=arguments.max_attempts,
        max_seconds=arguments.max_minutes * 60,
    )
    try:
        deploy(AutomationStack(arguments.stack, Path(__file__).resolve().parents[1]), policy)
    except (DeployFailed, GaveUp) as error:
        print(f"[deploy] {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
