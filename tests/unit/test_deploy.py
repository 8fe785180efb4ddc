"""The capacity-aware deploy helper against a fake stack: which errors it retries, and for how long."""

from __future__ import annotations

import http.server
import json
import shlex
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

from scripts import deploy as helper
from scripts.deploy import DeployFailed, GaveUp, RetryPolicy, count_availability_domains, deploy, is_capacity_error
from scripts.pulumi_cli import POLICY_PACK
from testbed.mocks import run_program

ROOT = Path(__file__).resolve().parents[2]

CAPACITY = "error: 500-InternalError, Out of host capacity. Suggestion: please retry or use another AD"


@dataclass
class FakeStack:
    """Fails `up` with the given errors in turn (None = success)."""

    outcomes: list[str | None]
    has_instance: bool = False
    region_ads: int = 3
    domains_tried: list[int] = field(default_factory=list)
    domain: int = -1
    oci_server: bool = True
    steps: list[str] = field(default_factory=list)

    def availability_domain_count(self) -> int:
        return self.region_ads

    def preview(self, on_output: Callable[[str], None]) -> None:
        self.steps.append("preview")

    def has_oci_server(self) -> bool:
        return self.oci_server

    def up(self, on_output: Callable[[str], None]) -> None:
        self.steps.append("up")
        self.domains_tried.append(self.domain)
        outcome = self.outcomes.pop(0)
        if outcome is not None:
            raise DeployFailed(outcome)

    def use_availability_domain(self, index: int) -> None:
        self.domain = index

    def instance_exists(self) -> bool:
        return self.has_instance


@dataclass
class Clock:
    now: float = 0.0
    slept: list[float] = field(default_factory=list)

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def run(stack: FakeStack, policy: RetryPolicy | None = None) -> tuple[int, Clock, list[str]]:
    clock, lines = Clock(), []
    attempts = deploy(stack, policy or RetryPolicy(), log=lines.append, sleep=clock.sleep, clock=lambda: clock.now)
    return attempts, clock, lines


def test_capacity_error_moves_to_the_next_ad_and_succeeds() -> None:
    stack = FakeStack([CAPACITY, CAPACITY, None])
    attempts, clock, lines = run(stack)
    assert attempts == 3 and stack.domains_tried == [0, 1, 2]
    assert clock.slept == [60, 120], "back-off doubles between attempts"
    assert any("out of host capacity in AD 0; AD 1 in 60 s" in line for line in lines), lines


def test_capacity_errors_everywhere_stop_within_the_attempt_bound() -> None:
    stack = FakeStack([CAPACITY] * 10)
    with pytest.raises(GaveUp, match=r"availability domain\(s\) 0, 1, 2 after 5 attempt"):
        run(stack, RetryPolicy(max_attempts=5))
    assert stack.domains_tried == [0, 1, 2, 0, 1]


def test_capacity_errors_stop_within_the_time_bound() -> None:
    stack = FakeStack([CAPACITY] * 50)
    policy = RetryPolicy(max_attempts=50, max_seconds=30 * 60, first_delay_seconds=60, max_delay_seconds=600)
    with pytest.raises(GaveUp, match="try again later"):
        run(stack, policy)
    assert len(stack.domains_tried) < 10


def test_any_other_error_stops_at_once_with_its_message() -> None:
    stack = FakeStack(
        ["error: 401-NotAuthenticated, The required information to complete authentication was not provided"]
    )
    with pytest.raises(DeployFailed, match="NotAuthenticated"):
        run(stack)
    assert stack.domains_tried == [0]


def test_no_retry_when_the_instance_already_exists() -> None:
    stack = FakeStack([CAPACITY, None], has_instance=True)
    with pytest.raises(GaveUp, match="already exists"):
        run(stack)
    assert stack.domains_tried == [0]


def test_a_single_ad_region_retries_the_same_domain() -> None:
    stack = FakeStack([CAPACITY, None])
    attempts, _, _ = run(stack, RetryPolicy(availability_domains=[0]))
    assert attempts == 2 and stack.domains_tried == [0, 0]


@pytest.mark.parametrize(
    ("message", "expected"),
    [(CAPACITY, True), ("Out of capacity for shape VM.Standard.A1.Flex", True), ("LimitExceeded: core count", False)],
)
def test_capacity_errors_are_recognised(message: str, expected: bool) -> None:
    assert is_capacity_error(message) is expected


def test_a_one_ad_region_retries_the_same_ad_with_back_off() -> None:
    stack = FakeStack([CAPACITY, CAPACITY, CAPACITY, None], region_ads=1)
    attempts, clock, lines = run(stack)
    assert attempts == 4 and stack.domains_tried == [0, 0, 0, 0]
    assert clock.slept == [60, 120, 240]
    assert any("out of host capacity in AD 0; the same AD in 60 s" in line for line in lines), lines


def test_only_the_ads_the_region_has_are_tried() -> None:
    stack = FakeStack([CAPACITY, CAPACITY, None], region_ads=2)
    run(stack, RetryPolicy(availability_domains=[0, 1, 2]))
    assert stack.domains_tried == [0, 1, 0]
    with pytest.raises(GaveUp, match="this region has 1"):
        run(FakeStack([None], region_ads=1), RetryPolicy(availability_domains=[1, 2]))


def test_the_preview_comes_first_and_nothing_changes_without_a_yes() -> None:
    declined = FakeStack([None])
    with pytest.raises(GaveUp, match="nothing was changed"):
        deploy(declined, RetryPolicy(), log=lambda line: None, confirm=lambda: False)
    assert declined.steps == ["preview"]
    accepted = FakeStack([None])
    deploy(accepted, RetryPolicy(), log=lambda line: None, confirm=lambda: True)
    assert accepted.steps == ["preview", "up"]


def test_an_existing_server_has_no_availability_domains_to_move_through() -> None:
    stack = FakeStack([None], oci_server=False, region_ads=0)
    assert deploy(stack, RetryPolicy(), log=lambda line: None) == 1
    assert stack.steps == ["preview", "up"] and stack.domains_tried == [-1]


@pytest.mark.parametrize("stack", ["prod", "dev"])
def test_the_copy_holds_every_program_the_graph_runs_on_this_machine(stack: str, tmp_path: Path) -> None:
    """A local command that runs a file of the checkout (scripts/edge-check) finds it in the copy
    `up` runs in."""
    copy = helper.copy_project(ROOT, tmp_path / "copy")
    run = run_program(stack)
    commands = [str(command.inputs.get("create", "")) for command in run.of_type("command:local:Command")]
    programs = {shlex.split(line)[0] for line in commands if line and "/" in shlex.split(line)[0]}
    assert programs, "no local command runs a file of the checkout: nothing to check"
    missing = [program for program in programs if not (copy / program).is_file()]
    assert not missing, f"the copy `up` runs in lacks {missing}"
    assert (copy / POLICY_PACK / "PulumiPolicy.yaml").is_file()


def test_without_a_terminal_or_yes_it_refuses_before_anything(capsys: pytest.CaptureFixture[str]) -> None:
    assert helper.main(["-s", "prod"]) == 2
    assert "pass --yes" in capsys.readouterr().err


def test_the_committed_stack_file_is_never_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import pulumi.automation as automation

    project = tmp_path / "project"
    project.mkdir()
    for name in helper.PROGRAM:
        (project / name).mkdir() if "." not in name else (project / name).write_text("")
    # The policy pack's virtualenv is made by the checkout's script: here, nothing to make.
    (project / "scripts" / "ensure-venv").write_text("#!/bin/sh\n")
    (project / "scripts" / "ensure-venv").chmod(0o755)
    committed = project / "Pulumi.prod.yaml"
    committed.write_text("config:\n  flowspace:availabilityDomain: '0'\n")
    (project / ".venv").mkdir()
    work_dirs: list[Path] = []

    class FakeAutomationStack:
        def set_config(self, key: str, value: automation.ConfigValue) -> None:
            stack_file = work_dirs[-1] / "Pulumi.prod.yaml"
            stack_file.write_text(stack_file.read_text() + f"  {key}: '{value.value}'\n")

    def select_stack(stack_name: str, work_dir: str) -> FakeAutomationStack:
        work_dirs.append(Path(work_dir))
        return FakeAutomationStack()

    monkeypatch.setattr(automation, "select_stack", select_stack)
    stack = helper.AutomationStack("prod", project)
    stack.use_availability_domain(1)
    assert work_dirs[-1] != project
    assert "availabilityDomain: '1'" in (work_dirs[-1] / "Pulumi.prod.yaml").read_text()
    assert committed.read_text() == "config:\n  flowspace:availabilityDomain: '0'\n", "the committed file changed"
    stack.close()
    assert not work_dirs[-1].exists()


class _IdentityService(http.server.BaseHTTPRequestHandler):
    """OCI's identity endpoint, as far as the lookup goes: three domains, and who asked."""

    requests: ClassVar[list[tuple[str, str]]] = []

    def do_GET(self) -> None:
        self.requests.append((self.path, self.headers.get("authorization", "")))
        body = json.dumps([{"name": f"Uocm:AP-TEST-1-AD-{n}", "compartmentId": "c", "id": f"ad{n}"} for n in (1, 2, 3)])
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def identity_service() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _IdentityService)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    _IdentityService.requests.clear()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


FINGERPRINT = ":".join(["a1"] * 16)


def _api_key(tmp_path: Path) -> Path:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path = tmp_path / "oci_api_key.pem"
    path.write_bytes(key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()))
    return path


def test_the_region_s_domains_are_asked_of_oci_with_the_stack_s_credentials(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, identity_service: str
) -> None:
    import oci  # type: ignore[import-untyped]

    # The profile gives the key; the stack's own settings win over it.
    (tmp_path / ".oci").mkdir()
    (tmp_path / ".oci" / "config").write_text(
        f"[DEFAULT]\nuser=ocid1.user.oc1..fromprofile\nfingerprint={FINGERPRINT}\n"
        f"tenancy=ocid1.tenancy.oc1..fromprofile\nregion=us-ashburn-1\nkey_file={_api_key(tmp_path)}\n"
    )
    monkeypatch.setenv("HOME", str(tmp_path))
    settings = {
        "oci:region": "ap-chuncheon-1",
        "oci:userOcid": "ocid1.user.oc1..fromstack",
        "flowspace:compartmentId": "ocid1.compartment.oc1..stack",
    }
    used: list[dict[str, str]] = []

    def client(config: dict[str, str]) -> Any:
        used.append(config)
        return oci.identity.IdentityClient(config, service_endpoint=identity_service)

    assert count_availability_domains(settings, client) == 3
    assert used[0]["region"] == "ap-chuncheon-1" and used[0]["user"] == "ocid1.user.oc1..fromstack"
    ((path, authorization),) = _IdentityService.requests
    assert "compartmentId=ocid1.compartment.oc1..stack" in path
    # A signed request, as the stack's user with the profile's key.
    assert f'keyId="ocid1.tenancy.oc1..fromprofile/ocid1.user.oc1..fromstack/{FINGERPRINT}"' in authorization


def test_without_credentials_the_helper_says_how_to_give_them(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    with pytest.raises(GaveUp, match=r"tenancy, user, fingerprint missing.*oci setup config"):
        count_availability_domains({"oci:region": "ap-chuncheon-1"})


def test_an_unreachable_oci_is_said_plainly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import oci  # type: ignore[import-untyped]

    monkeypatch.setenv("HOME", str(tmp_path))
    settings = {
        "oci:region": "ap-chuncheon-1",
        "oci:userOcid": "ocid1.user.oc1..a",
        "oci:tenancyOcid": "ocid1.tenancy.oc1..a",
        "oci:fingerprint": FINGERPRINT,
        "oci:privateKeyPath": str(_api_key(tmp_path)),
    }

    def closed_port(config: dict[str, str]) -> Any:
        no_retries = oci.retry.NoneRetryStrategy()
        return oci.identity.IdentityClient(config, service_endpoint="http://127.0.0.1:1", retry_strategy=no_retries)

    with pytest.raises(GaveUp, match="OCI could not be reached for the availability domains"):
        count_availability_domains(settings, closed_port)
