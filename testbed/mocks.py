"""Runs Pulumi code under mocks and records every registration for assertions."""

from __future__ import annotations

import asyncio
import hashlib
import json
import runpy
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import yaml
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
from google.protobuf import json_format
from pulumi.runtime import mocks, rpc, settings
from pulumi.runtime.sync_await import _sync_await

ROOT = Path(__file__).resolve().parents[1]
PROJECT = "flowspace"

OPERATOR_VALUES = {
    "flowspace:compartmentId": "ocid1.tenancy.oc1..aaaaaaaaexampleexampleexampleexample",
    "flowspace:cloudflareZoneId": "0123456789abcdef0123456789abcdef",
    # The tests deploy the reference socket server unless they name another.
    "flowspace:socketServerReference": "true",
}
APP_SERVER_KEYS = ("flowspace:socketServerImage", "flowspace:socketServerSource")
CLOUDFLARE_IPV4 = ["173.245.48.0/20", "103.21.244.0/22", "104.16.0.0/13"]
RESERVED_IP = "203.0.113.10"
NLB_IP = "203.0.113.20"
NEWEST_IMAGE = "ocid1.image.oc1.ap-chuncheon-1.aaaaaaaanewestnewestnewestnewest"
VNIC_ID = "ocid1.vnic.oc1.ap-chuncheon-1.abvwaaaaaaaaexamplevnic"
# A key for tests only, never authorised anywhere, made from a fixed seed (PKCS8: the same text
# every run, so the recorded inputs hold): the config parses targetPrivateKey.
TEST_LOGIN_KEY = (
    Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
    .private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    .decode()
)
PRIVATE_IP_ID = "ocid1.privateip.oc1.ap-chuncheon-1.abvwaaaaaaaaexampleprivip"
SECONDARY_PRIVATE_IP_ID = "ocid1.privateip.oc1.ap-chuncheon-1.abvwaaaaaaaaexamplesecondary"


def is_secret(value: Any) -> bool:
    return rpc.is_rpc_secret(value)


def reveal(value: Any) -> Any:
    """The value inside a secret wrapper, recursively."""
    if rpc.is_rpc_secret(value):
        return reveal(value["value"])
    if isinstance(value, dict):
        return {k: reveal(v) for k, v in value.items()}
    if isinstance(value, list):
        return [reveal(v) for v in value]
    return value


Invoke = dict[str, Any] | Callable[[dict[str, Any]], dict[str, Any]]


@dataclass
class Registration:
    typ: str
    name: str
    inputs: dict[str, Any]
    parent: str
    dependencies: list[str]
    urn: str
    ignore_changes: list[str]
    replacement_trigger: Any
    protect: bool
    delete_before_replace: bool
    # The `import` option: the id of an existing resource to take over ("" when none).
    import_id: str = ""
    # The `aliases` option, as the engine receives them (e.g. {"noParent": True}).
    aliases: list[dict[str, Any]] = field(default_factory=list)
    # The `custom_timeouts` option ({"create": "10m", ...}; empty when none).
    custom_timeouts: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Export:
    value: Any
    secret: bool
    known: bool


@dataclass
class Run:
    preview: bool
    resources: list[Registration] = field(default_factory=list)
    outputs: dict[str, Export] = field(default_factory=dict)
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    # What invokes return, by token, over the defaults (the providers' lookups of what exists):
    # a result, or a function of the invoke's arguments.
    invoke_results: Mapping[str, Invoke] = field(default_factory=dict)

    def of_type(self, typ: str) -> list[Registration]:
        return [r for r in self.resources if r.typ == typ]

    def one(self, typ: str) -> Registration:
        found = self.of_type(typ)
        assert len(found) == 1, f"expected one {typ}, found {[r.name for r in found]}"
        return found[0]

    def named(self, name: str) -> Registration:
        found = [r for r in self.resources if r.name == name]
        assert len(found) == 1, f"expected one resource named {name}, found {len(found)}"
        return found[0]


def _pem(label: str, body: str) -> str:
    """A stand-in PEM block (no key material: the body is the resource's name)."""
    return f"-----BEGIN {label}-----\n{body}\n-----END {label}-----\n"


def _fake_outputs(args: mocks.MockResourceArgs, preview: bool) -> dict[str, Any]:
    """What the provider would compute; nothing during a preview, as for resources not yet created."""
    if preview:
        return {}
    typ, name, inputs = args.typ, args.name, args.inputs
    if typ == "tls:index/privateKey:PrivateKey":
        return {
            "privateKeyOpenssh": _pem("OPENSSH PRIVATE KEY", name),
            "privateKeyPem": _pem("PRIVATE KEY", name),
            "publicKeyOpenssh": f"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI{name.replace('-', '')} \n",
        }
    if typ == "tls:index/certRequest:CertRequest":
        described = json.dumps({"dns": inputs.get("dnsNames"), "subject": inputs.get("subject")}, sort_keys=True)
        return {
            "certRequestPem": f"-----BEGIN CERTIFICATE REQUEST-----\n{described}\n-----END CERTIFICATE REQUEST-----\n"
        }
    if typ == "cloudflare:index/originCaCertificate:OriginCaCertificate":
        # Issued for the CSR it was given, as the real CA does.
        issued_for = hashlib.sha256(str(inputs.get("csr")).encode()).hexdigest()
        return {
            "certificate": f"-----BEGIN CERTIFICATE-----\n{issued_for}\n-----END CERTIFICATE-----\n",
            "expiresOn": "2029-11-23",
        }
    if typ == "acme:index/certificate:Certificate":
        issued_for = hashlib.sha256(str(inputs.get("certificateRequestPem")).encode()).hexdigest()
        return {
            "certificatePem": _pem("CERTIFICATE", f"leaf {issued_for}"),
            "issuerPem": _pem("CERTIFICATE", "intermediate"),
            "certificateNotAfter": "2027-02-21T00:00:00Z",
        }
    if typ == "oci:Core/publicIp:PublicIp":
        return {"ipAddress": RESERVED_IP}
    if typ == "oci:NetworkLoadBalancer/networkLoadBalancer:NetworkLoadBalancer":
        return {"ipAddresses": [{"ipAddress": "10.0.1.9", "isPublic": False}, {"ipAddress": NLB_IP, "isPublic": True}]}
    if typ == "oci:ContainerEngine/nodePool:NodePool":
        size = int((inputs.get("nodeConfigDetails") or {}).get("size") or 0)
        return {
            "nodes": [
                {"id": f"ocid1.instance.oc1..node{n}", "state": "ACTIVE", "publicIp": f"198.51.100.{11 + n}"}
                for n in range(size)
            ]
        }
    if typ == "kubernetes:core/v1:Service":
        # A ClusterIP per Service, as the API server allocates one.
        return {"spec": {**inputs.get("spec", {}), "clusterIP": f"10.96.0.{sum(name.encode()) % 200 + 10}"}}
    if typ == "random:index/randomPassword:RandomPassword":
        return {"result": "s" * int(inputs.get("length", 16))}
    if typ == "random:index/randomString:RandomString":
        return {"result": "K" * int(inputs.get("length", 8))}
    return {}


class _Mocks(pulumi.runtime.Mocks):
    def __init__(self, run: Run) -> None:
        self.run = run

    def new_resource(self, args: mocks.MockResourceArgs) -> tuple[str | None, dict[Any, Any]]:
        outputs = _fake_outputs(args, self.run.preview)
        resource_id = None if self.run.preview else f"{args.name}-id"
        return resource_id, {**args.inputs, **outputs}

    def call(self, args: mocks.MockCallArgs) -> dict[Any, Any]:
        self.run.calls.append((args.token, dict(args.args)))
        results: dict[str, dict[str, Any]] = {
            "oci:Identity/getAvailabilityDomains:getAvailabilityDomains": {
                "availabilityDomains": [{"name": "Uocm:AP-CHUNCHEON-1-AD-1", "id": "ad1"}]
            },
            "oci:Core/getImages:getImages": {
                "images": [{"id": NEWEST_IMAGE}, {"id": "ocid1.image.oc1.ap-chuncheon-1.aaaaaaaaolderolderolderolder"}]
            },
            "oci:Core/getVnicAttachments:getVnicAttachments": {"vnicAttachments": [{"vnicId": VNIC_ID}]},
            # A secondary address listed first: the reserved IP goes to the primary.
            "oci:Core/getPrivateIps:getPrivateIps": {
                "privateIps": [
                    {"id": SECONDARY_PRIVATE_IP_ID, "isPrimary": False},
                    {"id": PRIVATE_IP_ID, "isPrimary": True},
                ]
            },
            "cloudflare:index/getIpRanges:getIpRanges": {"ipv4Cidrs": CLOUDFLARE_IPV4, "ipv6Cidrs": ["2400:cb00::/32"]},
        }
        answer = {**results, **self.run.invoke_results}.get(args.token, {})
        return answer(dict(args.args)) if callable(answer) else answer


class _RecordingMonitor(mocks.MockMonitor):
    def __init__(self, run: Run, recorder: _Mocks) -> None:
        super().__init__(recorder)
        self.run = run

    def RegisterResource(self, request: Any) -> Any:
        response = super().RegisterResource(request)
        if request.type != "pulumi:pulumi:Stack":
            self.run.resources.append(
                Registration(
                    typ=request.type,
                    name=request.name,
                    inputs=rpc.deserialize_properties(request.object, keep_unknowns=True),
                    parent=request.parent,
                    dependencies=list(request.dependencies),
                    urn=response.urn,
                    ignore_changes=list(request.ignoreChanges),
                    replacement_trigger=json_format.MessageToDict(request.replacement_trigger)
                    if request.HasField("replacement_trigger")
                    else None,
                    protect=bool(request.protect),
                    delete_before_replace=bool(request.deleteBeforeReplace),
                    import_id=request.importId,
                    aliases=[json_format.MessageToDict(alias) for alias in request.aliases],
                    custom_timeouts=json_format.MessageToDict(request.customTimeouts)
                    if request.HasField("customTimeouts")
                    else {},
                )
            )
        return response


def _mock_run(
    body: Callable[[], Any], config: dict[str, str], preview: bool, stack: str, run: Run | None = None
) -> Run:
    run = run if run is not None else Run(preview=preview)
    recorder = _Mocks(run)
    settings.ROOT.set(None)
    pulumi.runtime.set_mocks(
        recorder, project=PROJECT, stack=stack, preview=preview, monitor=_RecordingMonitor(run, recorder)
    )
    pulumi.runtime.set_all_config(config, [])
    exported: dict[str, Any] = {}
    real_export = pulumi.export
    pulumi.export = lambda name, value: exported.__setitem__(name, value)  # type: ignore[assignment]
    try:
        pulumi.runtime.test(body)()
    finally:
        pulumi.export = real_export
    for name, value in exported.items():
        run.outputs[name] = _sync_await(_describe(pulumi.Output.from_input(value)))
    return run


async def _describe(output: pulumi.Output[Any]) -> Export:
    return Export(
        value=await output.future(with_unknowns=True),
        secret=await output.is_secret(),
        known=await output.is_known(),
    )


def stack_config(stack: str = "prod", overrides: Mapping[str, str | None] | None = None) -> dict[str, str]:
    """The stack file's values plus what only an operator has, as the engine hands them over.

    An override of None removes the key.
    """
    document = yaml.safe_load((ROOT / f"Pulumi.{stack}.yaml").read_text())
    values = {key: value if isinstance(value, str) else json.dumps(value) for key, value in document["config"].items()}
    operator = dict(OPERATOR_VALUES)
    if any((overrides or {}).get(key) for key in APP_SERVER_KEYS):
        # An operator who names the app's server has no reason to ask for the reference one.
        operator.pop("flowspace:socketServerReference")
    merged: dict[str, str | None] = {**values, **operator, **(overrides or {})}
    return {key: value for key, value in merged.items() if value is not None}


def _program() -> None:
    runpy.run_path(str(ROOT / "__main__.py"), run_name="__main__")


def run_program(
    stack: str = "prod",
    preview: bool = False,
    overrides: Mapping[str, str | None] | None = None,
    invokes: Mapping[str, Invoke] | None = None,
) -> Run:
    run = Run(preview=preview, invoke_results=invokes or {})
    return _mock_run(_program, stack_config(stack, overrides), preview, stack, run)


def run_with_config(stack: str, config: dict[str, str]) -> Run:
    """The program with exactly this configuration (no stack file read)."""
    return _mock_run(_program, config, False, stack)


def run_failing_program(
    overrides: Mapping[str, str | None], stack: str = "prod", invokes: Mapping[str, Invoke] | None = None
) -> tuple[Run, Exception]:
    """Runs the program expecting it to fail; returns what it registered before failing, and the error."""
    run = Run(preview=False, invoke_results=invokes or {})
    try:
        _mock_run(_program, stack_config(stack, overrides), False, stack, run)
    except Exception as error:
        return run, error
    raise AssertionError(f"the program accepted {dict(overrides)}")


def run_components(body: Callable[[], Any], preview: bool = False) -> Run:
    return _mock_run(body, {}, preview, "test")


def unknown() -> pulumi.Output[Any]:
    """An Output whose value is not known, as in a preview before its resource exists."""
    loop = asyncio.get_event_loop()
    value: asyncio.Future[Any] = loop.create_future()
    value.set_result(None)
    known: asyncio.Future[bool] = loop.create_future()
    known.set_result(False)
    return pulumi.Output(set(), value, known)


class DictSource:
    """A stack's config as plain values (keys without the namespace), for the reader alone."""

    def __init__(self, values: Mapping[str, str]) -> None:
        self.values = dict(values)

    def get(self, key: str) -> str | None:
        return self.values.get(key)

    def get_secret(self, key: str) -> pulumi.Output[str] | None:
        value = self.values.get(key)
        return None if value is None else pulumi.Output.secret(value)

    def keys(self) -> list[str]:
        return [f"{PROJECT}:{key}" for key in self.values]
