"""`pulumi up` with the preview and the policy pack's verdict first, that rides out Oracle's "Out of
host capacity" for A1 launches.

It shows the preview (with the policy pack in `policy/`, and `policy/<stack>.json` when there is
one) and asks before it changes anything (`--yes`: no question, for automation). Then, on the
capacity error (and only while the instance does not exist yet) it tries again, backing off
between attempts, bounded in attempts and time, moving through the availability domains the
region has (in a one-AD region such as ap-chuncheon-1: the same one again). Any other error stops
at once with its message. The AD is chosen for each run in a temporary copy of the project, so the
committed stack file never changes.

    scripts/deploy -s prod [--yes] [--refresh] [--ads 0,1] [--max-attempts 24] [--max-minutes 120]

A stack without an OCI server (an existing server, `targetHost`) has no availability domain to
move through: one preview, one `up`.
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from config.compute import AVAILABILITY_DOMAIN, COMPARTMENT_ID
from config.existing import TARGET_HOST
from scripts.pulumi_cli import POLICY_PACK, PulumiFailed, policy_pack, require_cli

CAPACITY_ERROR = re.compile(r"out of (host )?capacity", re.IGNORECASE)
INSTANCE_TYPE = "oci:Core/instance:Instance"
AVAILABILITY_DOMAIN_KEY = AVAILABILITY_DOMAIN.full_name
# The OCI provider's settings and the SDK's names for them; unset ones come from ~/.oci/config.
PROVIDER_CREDENTIALS = {
    "oci:tenancyOcid": "tenancy",
    "oci:userOcid": "user",
    "oci:fingerprint": "fingerprint",
    "oci:privateKey": "key_content",
    "oci:privateKeyPath": "key_file",
    "oci:privateKeyPassword": "pass_phrase",
    "oci:region": "region",
}
# What `pulumi up` needs of a checkout (the program, and what its local commands and the policy
# pack run); the copy gets the stack file too.
PROGRAM = (
    "__main__.py",
    "Pulumi.yaml",
    "requirements.txt",
    "config",
    "model",
    "render",
    "components",
    "wiring",
    "host-files",
    "reference-socket-server",
    "scripts",
    POLICY_PACK,
)


class DeployFailed(Exception):
    """`pulumi up` failed; the message is the engine's."""


class GaveUp(Exception):
    """The helper stopped; the message says why and what to do."""


class Stack(Protocol):
    def preview(self, on_output: Callable[[str], None]) -> None: ...

    def up(self, on_output: Callable[[str], None]) -> None: ...

    def has_oci_server(self) -> bool: ...

    def use_availability_domain(self, index: int) -> None: ...

    def instance_exists(self) -> bool: ...

    def availability_domain_count(self) -> int: ...


@dataclass(frozen=True)
class RetryPolicy:
    # None: every availability domain the region has.
    availability_domains: Sequence[int] | None = None
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
    confirm: Callable[[], bool] = lambda: True,
) -> int:
    """The preview, the operator's yes, then `up` until it succeeds; returns the number of attempts.
    Raises GaveUp or DeployFailed."""
    log("[deploy] the preview, with the policy pack's verdict:")
    try:
        stack.preview(log)
    except DeployFailed as error:
        raise DeployFailed(f"the preview failed, nothing was changed: {error}") from error
    if not confirm():
        raise GaveUp("nothing was changed (answer yes, or pass --yes, to deploy)")
    if not stack.has_oci_server():
        stack.up(log)
        log("[deploy] done")
        return 1
    started = clock()
    delay = policy.first_delay_seconds
    count = stack.availability_domain_count()
    wanted = list(policy.availability_domains) if policy.availability_domains is not None else list(range(count))
    domains = [index for index in wanted if 0 <= index < count]
    if not domains:
        raise GaveUp(f"none of availability domains {wanted} exists: this region has {count}")
    if domains != wanted:
        log(f"[deploy] this region has {count} availability domain(s): trying {', '.join(map(str, domains))}")
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
            where = "the same AD" if following == domain else f"AD {following}"
            log(f"[deploy] out of host capacity in AD {domain}; {where} in {delay:.0f} s")
            sleep(delay)
            delay = min(delay * 2, policy.max_delay_seconds)
    raise GaveUp("no attempts allowed (--max-attempts 0)")


def copy_project(project_dir: Path, destination: Path) -> Path:
    """The program as `pulumi up` needs it, with the checkout's virtualenv (Pulumi.yaml: .venv)."""
    destination.mkdir(parents=True, exist_ok=True)
    for name in PROGRAM:
        source = project_dir / name
        if source.is_dir():
            shutil.copytree(source, destination / name, ignore=shutil.ignore_patterns("node_modules", "__pycache__"))
        else:
            shutil.copy(source, destination / name)
    (destination / ".venv").symlink_to(project_dir / ".venv")
    return destination


def oci_sdk_config(settings: Mapping[str, str], profile_file: Callable[[str], dict[str, str]]) -> dict[str, str]:
    """What the stack's OCI provider authenticates with: its own settings over the profile of
    ~/.oci/config it names (DEFAULT)."""
    profile = settings.get("oci:configFileProfile", "DEFAULT")
    sdk_config = dict(profile_file(profile))
    sdk_config.update({name: settings[key] for key, name in PROVIDER_CREDENTIALS.items() if settings.get(key)})
    return sdk_config


def count_availability_domains(
    settings: Mapping[str, str], identity_client: Callable[[dict[str, str]], IdentityClient] | None = None
) -> int:
    """How many availability domains the stack's region has, asked of OCI with the stack's credentials."""
    import oci  # type: ignore[import-untyped]

    def profile_file(profile: str) -> dict[str, str]:
        try:
            return dict(oci.config.from_file(profile_name=profile))
        except (oci.exceptions.ConfigFileNotFound, oci.exceptions.ProfileNotFound):
            return {}
        except oci.exceptions.ClientError as error:
            # The SDK names the bad fields, never their values.
            raise GaveUp(f"~/.oci/config's profile {profile} is not usable: {error}") from None

    sdk_config = oci_sdk_config(settings, profile_file)
    missing = [name for name in ("tenancy", "user", "fingerprint", "region") if not sdk_config.get(name)]
    if missing or not (sdk_config.get("key_content") or sdk_config.get("key_file")):
        raise GaveUp(
            f"no OCI credentials for this stack ({', '.join(missing) or 'private key'} missing): write "
            "~/.oci/config with `oci setup config`, or set oci:tenancyOcid, oci:userOcid, oci:fingerprint, "
            "oci:privateKey and oci:region"
        )
    compartment = settings.get(COMPARTMENT_ID.full_name) or sdk_config["tenancy"]
    try:
        client = (identity_client or oci.identity.IdentityClient)(sdk_config)
        domains = client.list_availability_domains(compartment).data
    except oci.exceptions.ServiceError as error:
        message = f"OCI refused the availability domain lookup ({error.status} {error.code}): {error.message}"
        raise GaveUp(message) from None
    except oci.exceptions.ClientError as error:
        raise GaveUp(f"the stack's OCI credentials are not usable: {error}") from None
    except oci.exceptions.RequestException as error:
        raise GaveUp(f"OCI could not be reached for the availability domains: {error.__class__.__name__}") from None
    return len(domains)


class IdentityClient(Protocol):
    def list_availability_domains(self, compartment_id: str) -> Any: ...


class AutomationStack:
    """The real stack through the Automation API, in a temporary copy of the project: the AD of a
    run is set there, never in the committed Pulumi.<stack>.yaml."""

    def __init__(self, stack_name: str, project_dir: Path, refresh: bool = False) -> None:
        from pulumi import automation

        self._automation = automation
        self._copy = copy_project(project_dir, Path(tempfile.mkdtemp(prefix="flowspace-deploy-")))
        stack_file = project_dir / f"Pulumi.{stack_name}.yaml"
        if stack_file.exists():
            shutil.copy(stack_file, self._copy / stack_file.name)
        self._stack = automation.select_stack(stack_name=stack_name, work_dir=str(self._copy))
        pack, settings = policy_pack(project_dir, stack_name)
        # A refresh first lets the state learn of drift (a rebooted VM, a record edited by hand).
        self._options: dict[str, Any] = {"policy_packs": [str(pack)], "refresh": refresh}
        if settings is not None:
            self._options["policy_pack_configs"] = [str(settings)]

    def preview(self, on_output: Callable[[str], None]) -> None:
        try:
            self._stack.preview(on_output=on_output, color="never", diff=True, **self._options)
        except self._automation.errors.CommandError as error:
            raise DeployFailed(str(error)) from error

    def up(self, on_output: Callable[[str], None]) -> None:
        try:
            self._stack.up(on_output=on_output, color="never", **self._options)
        except self._automation.errors.CommandError as error:
            raise DeployFailed(str(error)) from error

    def has_oci_server(self) -> bool:
        return not self._stack.get_all_config().get(TARGET_HOST.full_name)

    def use_availability_domain(self, index: int) -> None:
        self._stack.set_config(AVAILABILITY_DOMAIN_KEY, self._automation.ConfigValue(value=str(index)))

    def instance_exists(self) -> bool:
        resources = (self._stack.export_stack().deployment or {}).get("resources", [])
        return any(resource.get("type") == INSTANCE_TYPE for resource in resources)

    def availability_domain_count(self) -> int:
        settings = {key: item.value for key, item in self._stack.get_all_config().items()}
        return count_availability_domains(settings)

    def close(self) -> None:
        shutil.rmtree(self._copy, ignore_errors=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-s", "--stack", required=True, help="stack name, e.g. prod")
    parser.add_argument("--ads", help="availability domain indexes to rotate through (default: all the region has)")
    parser.add_argument("--max-attempts", type=int, default=RetryPolicy.max_attempts)
    parser.add_argument("--max-minutes", type=float, default=RetryPolicy.max_seconds / 60)
    parser.add_argument("--yes", action="store_true", help="deploy after the preview without asking")
    parser.add_argument("--refresh", action="store_true", help="refresh the state before the preview and the up")
    parser.add_argument("--project-dir", type=Path, default=Path(__file__).resolve().parents[1], help=argparse.SUPPRESS)
    arguments = parser.parse_args(argv)
    if not arguments.yes and not sys.stdin.isatty():
        print("[deploy] nobody can answer the question here: pass --yes to deploy after the preview", file=sys.stderr)
        return 2
    policy = RetryPolicy(
        availability_domains=[int(index) for index in arguments.ads.split(",")] if arguments.ads else None,
        max_attempts=arguments.max_attempts,
        max_seconds=arguments.max_minutes * 60,
    )
    try:
        require_cli()
    except PulumiFailed as error:
        print(f"[deploy] {error}", file=sys.stderr)
        return 1
    stack = AutomationStack(arguments.stack, arguments.project_dir, refresh=arguments.refresh)
    try:
        deploy(stack, policy, confirm=(lambda: True) if arguments.yes else ask)
    except (DeployFailed, GaveUp) as error:
        print(f"[deploy] {error}", file=sys.stderr)
        return 1
    finally:
        stack.close()
    return 0


def ask() -> bool:
    return input("[deploy] deploy these changes? [y/N] ").strip().lower() in ("y", "yes")


if __name__ == "__main__":
    sys.exit(main())
