"""Taking over the hand-built setup: adoption by import, the switch order, redeploy on change,
rollback of DNS, carried-over LiveKit keys, and dev never touching production's variables."""

from __future__ import annotations

import base64
import http.server
import re
import subprocess
import threading
from collections.abc import Iterator
from typing import Any, ClassVar

import pytest

from components.vercel_env import REDEPLOY, curl_config
from config import ConfigError, load_stack_config
from model.adoption import (
    AdoptionConflict,
    ExistingRecord,
    ExistingVariable,
    dns_record_to_adopt,
    vercel_variables_to_adopt,
)
from model.app_env import APP_VARIABLES, VercelProject
from testbed.mocks import (
    DictSource,
    Invoke,
    Registration,
    Run,
    is_secret,
    reveal,
    run_failing_program,
    run_program,
)

ZONE = "0123456789abcdef0123456789abcdef"
PROJECT_ID = "prj_flowspace1"
HOOK = "https://api.vercel.com/v1/integrations/deploy/prj_flowspace1/hook123"
OLD_IP = "144.24.80.20"
VERCEL = {
    "flowspace:vercelProjectId": PROJECT_ID,
    "flowspace:vercelProjectName": "flowspace-web",
    "flowspace:vercelDeployHook": HOOK,
}
# The provider validates the lookup's name before it reads (vercel/data_source_project.go, v3).
PROVIDER_NAME_RULE = re.compile(r"[a-z0-9\-]{0,100}")
RECORD = "cloudflare:index/dnsRecord:DnsRecord"
VARIABLE = "vercel:index/projectEnvironmentVariable:ProjectEnvironmentVariable"
GET_RECORDS = "cloudflare:index/getDnsRecords:getDnsRecords"
GET_PROJECT = "vercel:index/getProject:getProject"


def existing_setup(extra_records: list[dict[str, Any]] | None = None) -> dict[str, Invoke]:
    """What the hand-built setup left: an A record per hostname, and the production variables."""

    records = [
        {"id": "rec-socket", "type": "A", "content": OLD_IP, "name": "space-socket.flow-coder.com"},
        {"id": "rec-livekit", "type": "A", "content": OLD_IP, "name": "space-livekit.flow-coder.com"},
        *(extra_records or []),
    ]
    variables = [
        {"id": f"env-{variable.name}", "key": variable.name, "targets": ["production"], "gitBranch": ""}
        for variable in APP_VARIABLES
    ]

    def lookup(args: dict[str, Any]) -> dict[str, Any]:
        # As the API filters: the exact name, case-insensitive.
        return {"results": [r for r in records if r["name"].lower() == args["name"]["exact"].lower()]}

    def project(args: dict[str, Any]) -> dict[str, Any]:
        if not PROVIDER_NAME_RULE.fullmatch(args["name"]):
            raise ValueError(f"Attribute name value must match ^[a-z0-9\\-]{{0,100}}$, got: {args['name']}")
        return {"environments": variables}

    return {GET_RECORDS: lookup, GET_PROJECT: project}


def test_adoption_looks_the_project_up_by_its_name_which_it_requires() -> None:
    without_name = {key: value for key, value in VERCEL.items() if key != "flowspace:vercelProjectName"}
    _, error = run_failing_program({**without_name, "flowspace:adoptExisting": "true"}, invokes=existing_setup())
    assert "pulumi config set flowspace:vercelProjectName" in str(error), error
    _, error = run_failing_program({**VERCEL, "flowspace:vercelProjectName": PROJECT_ID})
    assert "is not a Vercel project name" in str(error), error


def before(run: Run, resource: Registration) -> set[str]:
    """Every URN the engine completes before registering `resource`: its dependencies and its
    parents' (a child waits for its parent's registration, which waits for the parent's), transitively."""
    by_urn = {registration.urn: registration for registration in run.resources}
    seen: set[str] = set()
    pending = [*resource.dependencies, resource.parent]
    while pending:
        urn = pending.pop()
        if urn in seen or urn not in by_urn:
            continue
        seen.add(urn)
        pending += [*by_urn[urn].dependencies, by_urn[urn].parent]
    return seen


@pytest.fixture(scope="module")
def cutover() -> Run:
    overrides = {**VERCEL, "flowspace:adoptExisting": "true"}
    run = run_program(overrides=overrides, invokes=existing_setup())
    return run


def test_the_switch_runs_gate_then_dns_then_vercel_then_redeploy(cutover: Run) -> None:
    activate = cutover.named("rollout-activate")
    records = cutover.of_type(RECORD)
    variables = cutover.of_type(VARIABLE)
    redeploy = cutover.named("vercel-env-redeploy")
    assert len(records) == 2 and len(variables) == len(APP_VARIABLES)
    for record in records:
        assert activate.urn in before(cutover, record), f"{record.name} may move before the new host passed its gate"
        assert record.urn not in before(cutover, activate), "the rollout waits for DNS: a cycle, or the old order"
        for variable in variables:
            assert record.urn in before(cutover, variable), f"{variable.name} may change before DNS moved"
    for variable in variables:
        assert variable.urn in before(cutover, redeploy), f"the app may redeploy before {variable.name} is written"


def test_the_existing_records_and_variables_are_imported_by_id(cutover: Run) -> None:
    imports = {record.name: record.import_id for record in cutover.of_type(RECORD)}
    assert imports == {"dns-space-socket": f"{ZONE}/rec-socket", "dns-space-livekit": f"{ZONE}/rec-livekit"}
    for variable in cutover.of_type(VARIABLE):
        assert variable.import_id == f"{PROJECT_ID}/env-{variable.inputs['key']}"
    # Updated in place to the new host's address.
    assert {record.inputs["content"] for record in cutover.of_type(RECORD)} == {"203.0.113.10"}


def test_the_lookup_asks_for_each_hostname_and_the_project(cutover: Run) -> None:
    names = sorted(args["name"]["exact"] for token, args in cutover.calls if token == GET_RECORDS)
    assert names == ["space-livekit.flow-coder.com", "space-socket.flow-coder.com"]
    assert [args["name"] for token, args in cutover.calls if token == GET_PROJECT] == ["flowspace-web"]


def test_without_adoption_nothing_is_looked_up_or_imported() -> None:
    run = run_program(overrides=VERCEL)
    assert not [token for token, _ in run.calls if token in (GET_RECORDS, GET_PROJECT)]
    assert not [r.name for r in run.resources if r.import_id]


def test_nothing_to_adopt_creates(cutover: Run) -> None:
    run = run_program(
        overrides={**VERCEL, "flowspace:adoptExisting": "true"},
        invokes={GET_RECORDS: {"results": []}, GET_PROJECT: {"environments": []}},
    )
    assert not [r.name for r in run.resources if r.import_id]
    assert len(run.of_type(RECORD)) == 2


def test_a_team_project_is_imported_with_its_team() -> None:
    project = VercelProject(PROJECT_ID, "team_abc", ("production",))
    found = [ExistingVariable("env1", "NEXT_PUBLIC_SOCKET_URL", ("production",))]
    assert vercel_variables_to_adopt(project, found) == {"NEXT_PUBLIC_SOCKET_URL": f"team_abc/{PROJECT_ID}/env1"}


@pytest.mark.parametrize(
    ("extra", "says"),
    [
        ({"id": "r3", "type": "AAAA", "content": "2001:db8::1"}, "AAAA"),
        ({"id": "r3", "type": "A", "content": "144.24.80.21"}, "2 A records"),
    ],
)
def test_a_record_that_cannot_be_taken_over_stops_before_anything_is_declared(extra: dict[str, Any], says: str) -> None:
    invokes = existing_setup([{**extra, "name": "space-socket.flow-coder.com"}])
    run, error = run_failing_program({**VERCEL, "flowspace:adoptExisting": "true"}, invokes=invokes)
    assert "flowspace:adoptExisting" in str(error) and says in str(error)
    assert not run.of_type(RECORD) and not run.of_type(VARIABLE)


def test_a_cname_is_not_adopted() -> None:
    with pytest.raises(AdoptionConflict, match="CNAME"):
        dns_record_to_adopt("a.flow-coder.com", [ExistingRecord("r", "CNAME", "old.example.net")])


def test_a_variable_shared_with_other_targets_is_not_taken_from_them() -> None:
    project = VercelProject(PROJECT_ID, None, ("production",))
    shared = [ExistingVariable("env1", "LIVEKIT_URL", ("production", "preview", "development"))]
    with pytest.raises(AdoptionConflict, match="remove it from development, preview"):
        vercel_variables_to_adopt(project, shared)
    twice = [
        ExistingVariable("a", "LIVEKIT_URL", ("production",)),
        ExistingVariable("b", "LIVEKIT_URL", ("production",)),
    ]
    with pytest.raises(AdoptionConflict, match="2 times"):
        vercel_variables_to_adopt(project, twice)
    # A branch's own variable, or another environment's, sits beside the stack's.
    beside = [
        ExistingVariable("c", "LIVEKIT_URL", ("preview",), git_branch="feature"),
        ExistingVariable("d", "LIVEKIT_URL", ("development",)),
    ]
    assert vercel_variables_to_adopt(project, beside) == {}


def redeploy_trigger(overrides: dict[str, str]) -> Any:
    return reveal(run_program(overrides={**VERCEL, **overrides}).named("vercel-env-redeploy").inputs["triggers"])


def test_the_app_redeploys_only_when_a_variable_changed() -> None:
    unchanged = redeploy_trigger({})
    assert redeploy_trigger({}) == unchanged
    assert redeploy_trigger({"flowspace:healthGateSeconds": "30"}) == unchanged, "a host-only change redeploys"
    assert redeploy_trigger({"flowspace:socketHostname": "rt.flow-coder.com"}) != unchanged
    assert redeploy_trigger({"flowspace:livekitApiKey": "APIold", "flowspace:livekitApiSecret": "x" * 40}) != unchanged


def test_the_hook_url_reaches_only_stdin_as_a_secret(cutover: Run) -> None:
    redeploy = cutover.named("vercel-env-redeploy")
    assert HOOK not in redeploy.inputs["create"]
    assert is_secret(redeploy.inputs["stdin"]) and HOOK in reveal(redeploy.inputs["stdin"])


def test_no_hook_no_redeploy() -> None:
    run = run_program(overrides={"flowspace:vercelProjectId": PROJECT_ID})
    assert run.of_type(VARIABLE) and not [r for r in run.resources if r.name.endswith("redeploy")]


class HookServer(http.server.BaseHTTPRequestHandler):
    received: ClassVar[list[tuple[str, str]]] = []
    status: ClassVar[int] = 201

    def do_POST(self) -> None:
        HookServer.received.append((self.command, self.path))
        self.send_response(HookServer.status)
        self.end_headers()
        self.wfile.write(b'{"job":{"state":"PENDING"}}')

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def hook_server() -> Iterator[str]:
    server = http.server.HTTPServer(("127.0.0.1", 0), HookServer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    HookServer.received, HookServer.status = [], 201
    yield f"http://127.0.0.1:{server.server_address[1]}/v1/integrations/deploy/prj_x/hook"
    server.shutdown()


def test_the_redeploy_command_posts_to_the_hook_it_reads_from_stdin(hook_server: str) -> None:
    done = subprocess.run(["sh", "-c", REDEPLOY], input=curl_config(hook_server), capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert HookServer.received == [("POST", "/v1/integrations/deploy/prj_x/hook")]
    HookServer.status = 500
    failed = subprocess.run(["sh", "-c", REDEPLOY], input=curl_config(hook_server), capture_output=True, text=True)
    assert failed.returncode == 1 and "not redeployed" in failed.stderr
    assert "hook" not in failed.stderr.replace("deploy hook", "").replace("the hook", "")


def test_dns_points_back_at_the_old_server_for_a_rollback() -> None:
    run = run_program(overrides={"flowspace:dnsTargetIp": OLD_IP})
    assert {record.inputs["content"] for record in run.of_type(RECORD)} == {OLD_IP}
    # The host keeps its release: rolling back moves traffic only.
    assert run.named("rollout-activate")


def test_carried_over_keys_replace_the_generated_ones() -> None:
    secret = "s3cretOfTheOldServer" * 2
    run = run_program(overrides={"flowspace:livekitApiKey": "APIoldkey", "flowspace:livekitApiSecret": secret})
    generated = run.of_type("random:index/randomPassword:RandomPassword") + run.of_type(
        "random:index/randomString:RandomString"
    )
    assert sorted(resource.name for resource in generated) == ["rollout-digest-key", "rollout-metrics-token"]
    assert run.outputs["livekit_api_key"].value == "APIoldkey"
    environment = run.outputs["vercel_env"]
    assert environment.secret and environment.value["LIVEKIT_API_SECRET"] == secret
    written = dict(line.split(" ") for line in reveal(run.named("rollout-secrets").inputs["stdin"]).splitlines())
    assert base64.b64decode(written["livekit-keys.yaml"]).decode() == f"APIoldkey: {secret}\n"


def problems(values: dict[str, str], stack: str = "prod") -> str:
    base = {
        "compartmentId": "ocid1.tenancy.oc1..aaaaaaaaexampleexampleexampleexample",
        "cloudflareZoneId": ZONE,
        "domain": "flow-coder.com",
        "socketHostname": "space-socket.flow-coder.com",
        "livekitHostname": "space-livekit.flow-coder.com",
    }
    with pytest.raises(ConfigError) as error:
        load_stack_config(DictSource({**base, **values}), stack)
    return str(error.value)


def test_a_dev_stack_never_writes_production_variables() -> None:
    text = problems({"vercelProjectId": PROJECT_ID, "vercelTargets": '["production"]'}, stack="dev")
    assert "vercelTargets" in text and "only the 'prod' stack" in text
    dev = run_program(stack="dev", overrides={"flowspace:vercelProjectId": PROJECT_ID})
    targets = {target for variable in dev.of_type(VARIABLE) for target in variable.inputs["targets"]}
    assert targets == {"preview", "development"}


@pytest.mark.parametrize(
    ("values", "says"),
    [
        ({"livekitApiKey": "APIold"}, "livekitApiSecret: is not set while livekitApiKey is"),
        ({"livekitApiKey": "APIold", "livekitApiSecret": "short"}, "is not a LiveKit secret"),
        ({"livekitApiKey": "API old", "livekitApiSecret": "x" * 40}, "is not a LiveKit key id"),
        ({"dnsTargetIp": "10.0.0.5"}, "dnsTargetIp: '10.0.0.5' is not a public IPv4"),
        ({"vercelProjectId": PROJECT_ID, "vercelDeployHook": "https://example.com/hook"}, "not a Vercel deploy hook"),
        (
            {"vercelProjectId": "prj_other", "vercelDeployHook": HOOK},
            "belongs to project prj_flowspace1, not to vercelProjectId prj_other",
        ),
        ({"vercelDeployHook": HOOK}, "vercelDeployHook: would be ignored"),
    ],
)
def test_cutover_settings_are_checked(values: dict[str, str], says: str) -> None:
    text = problems(values)
    assert says in text
    assert "short" not in text.replace("is not set", "") or "livekitApiSecret" not in values, "a secret was echoed"
    assert HOOK.rsplit("/", 1)[1] not in text, "the hook's token was echoed"


def test_every_refusal_the_cloud_s_answers_raise_is_reported_at_once() -> None:
    """The availability domain, the image and both adoptions are looked up before anything is
    declared, and one run names everything to fix."""
    invokes = {
        **existing_setup(
            [{"id": "r3", "type": "AAAA", "content": "2001:db8::1", "name": "space-livekit.flow-coder.com"}]
        ),
        "oci:Core/getImages:getImages": {"images": []},
    }
    shared = [{"id": "e1", "key": "LIVEKIT_URL", "targets": ["production", "preview"], "gitBranch": ""}]
    invokes[GET_PROJECT] = {"environments": shared}
    overrides = {**VERCEL, "flowspace:adoptExisting": "true", "flowspace:availabilityDomain": "Uocm:AP-TEST-1-AD-9"}
    run, error = run_failing_program(overrides, invokes=invokes)
    said = str(error)
    assert "3 configuration problem(s); nothing was created" in said, said
    assert "flowspace:availabilityDomain: 'Uocm:AP-TEST-1-AD-9' is not one of" in said
    assert "space-livekit.flow-coder.com also has an AAAA record" in said
    assert "LIVEKIT_URL is one variable for preview, production" in said
    assert not run.resources
    # With the domain right, the region's missing image is the next thing named, with its key.
    overrides["flowspace:availabilityDomain"] = "0"
    _, error = run_failing_program(overrides, invokes=invokes)
    assert "flowspace:imageId: no Canonical Ubuntu 24.04 image for VM.Standard.A1.Flex" in str(error)
    assert "pulumi config set flowspace:imageId" in str(error)
