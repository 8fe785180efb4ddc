"""Every config key, read once into frozen dataclasses and validated before any resource exists.

Problems are collected, not raised one by one: an operator sees every missing or bad key in one
run, each with the key, what is wrong and the `pulumi config set` command that fixes it.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol, TypeVar

import pulumi
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.serialization import load_ssh_public_key

from components import allowance

NAMESPACE = "flowspace"

A1_SHAPE = allowance.A1_SHAPE
A1_MAX_OCPUS = 80
A1_MAX_MEMORY_GB = 512
A1_MIN_GB_PER_OCPU = 1
A1_MAX_GB_PER_OCPU = 64

ORIGIN_CERT_TYPES = ("origin-ecc", "origin-rsa")
ORIGIN_CERT_VALIDITY_DAYS = (7, 30, 90, 365, 730, 1095, 5475)

# "none": another stack in the zone owns the configuration rule (a zone has one per phase).
TlsScope = Literal["hostnames", "zone", "none"]
TLS_SCOPES: tuple[TlsScope, ...] = ("hostnames", "zone", "none")

_OCID = re.compile(r"^ocid1\.(?P<kind>[a-z0-9]+)\.oc[0-9]+\.[a-z0-9-]*\.[a-z0-9]{20,}$")
_HOST_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
_ZONE_ID = re.compile(r"^[0-9a-f]{32}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_IMAGE_REF = re.compile(
    r"^[a-z0-9]+([._/-][a-z0-9]+)*(:[0-9]+)?(/[a-z0-9._-]+)*(:[A-Za-z0-9._-]{1,128})?(@sha256:[0-9a-f]{64})?$"
)
PROJECT_DIR = Path(__file__).resolve().parents[1]
DEFAULT_SOCKET_SERVER_SOURCE = "files/socket-server"
SOCKET_SERVER_REQUIRED_FILES = ("package.json", "Dockerfile")


class ConfigSource(Protocol):
    """What `pulumi.Config` offers; tests pass a dict-backed stand-in."""

    def get(self, key: str) -> str | None: ...

    def get_secret(self, key: str) -> pulumi.Output[str] | None: ...


@dataclass(frozen=True)
class Problem:
    key: str
    message: str
    fix: str

    def __str__(self) -> str:
        return f"{NAMESPACE}:{self.key}: {self.message}\n    fix: {self.fix}"


class ConfigError(Exception):
    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"{len(problems)} configuration problem(s); nothing was created:\n{lines}")


@dataclass(frozen=True)
class InstanceConfig:
    ocpus: int
    memory_gb: int
    boot_volume_gb: int
    availability_domain: int | str
    image_id: str | None
    shape: str = A1_SHAPE


@dataclass(frozen=True)
class NetworkConfig:
    vcn_cidr: str
    subnet_cidr: str
    ssh_allowed_cidrs: tuple[str, ...]


@dataclass(frozen=True)
class FreeTierConfig:
    allowance: allowance.A1Allowance
    accepted_monthly_cost_usd: float


@dataclass(frozen=True)
class EdgeConfig:
    # None: no Cloudflare edge (only for an existing server); Caddy gets its own certificates.
    zone_id: str | None
    domain: str
    socket_hostname: str
    livekit_hostname: str
    socket_proxied: bool
    livekit_proxied: bool
    origin_cert_type: str
    origin_cert_validity_days: int
    origin_cert_rotation: int
    tls_scope: TlsScope
    origin_lock: bool
    # Other stacks' hostnames in the same zone, covered by this stack's strict-TLS rule.
    strict_tls_extra_hostnames: tuple[str, ...] = ()

    @property
    def hostnames(self) -> tuple[str, str]:
        return (self.socket_hostname, self.livekit_hostname)


@dataclass(frozen=True)
class ExistingServerConfig:
    """A host that already runs (any provider): the stack is rolled onto it over SSH."""

    address: str
    user: str
    public_ip: str
    private_key: pulumi.Output[str]
    # Pinned when given; without it the SSH host key is not checked.
    host_key: str | None


@dataclass(frozen=True)
class CostAlertsConfig:
    email: str
    budget_amount_usd: int
    # Budgets live in the root compartment.
    tenancy_id: str


@dataclass(frozen=True)
class VercelConfig:
    project_id: str
    team_id: str | None
    targets: tuple[str, ...]


VERCEL_TARGETS = ("production", "preview", "development")


@dataclass(frozen=True)
class SocketServerConfig:
    # A registry image to pull, or None to build `source_dir` on the host.
    image: str | None
    source_dir: Path


@dataclass(frozen=True)
class StackConfig:
    stack: str
    compartment_id: str
    instance: InstanceConfig
    network: NetworkConfig
    free_tier: FreeTierConfig
    edge: EdgeConfig
    admin_ssh_public_keys: tuple[str, ...]
    socket_server: SocketServerConfig
    cost_alerts: CostAlertsConfig | None
    vercel: VercelConfig | None
    # None: the program creates the OCI network and server.
    existing_server: ExistingServerConfig | None = None
    deploy_user: str = "ubuntu"
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def name_prefix(self) -> str:
        return f"flowspace-{self.stack}"


T = TypeVar("T")


def _set(key: str, example: str) -> str:
    return f"pulumi config set {NAMESPACE}:{key} {example}"


class _Reader:
    """Reads keys, converting and recording every problem instead of stopping at the first."""

    def __init__(self, source: ConfigSource) -> None:
        self.source = source
        self.problems: list[Problem] = []

    def problem(self, key: str, message: str, fix: str) -> None:
        self.problems.append(Problem(key, message, fix))

    def raw(self, key: str) -> str | None:
        value = self.source.get(key)
        return None if value is None or value.strip() == "" else value.strip()

    def required(self, key: str, example: str, what: str) -> str:
        value = self.raw(key)
        if value is None:
            self.problem(key, f"is not set; it is {what}", _set(key, example))
            return ""
        return value

    def typed(self, key: str, default: T, convert: Callable[[str], T], example: str, kind: str) -> T:
        value = self.raw(key)
        if value is None:
            return default
        try:
            return convert(value)
        except ValueError:
            self.problem(key, f"{value!r} is not {kind}", _set(key, example))
            return default

    def integer(self, key: str, default: int, example: str) -> int:
        return self.typed(key, default, int, example, "a whole number")

    def number(self, key: str, default: float, example: str) -> float:
        return self.typed(key, default, float, example, "a number")

    def boolean(self, key: str, default: bool) -> bool:
        return self.typed(key, default, _parse_bool, "true", "true or false")

    def string_list(self, key: str, default: tuple[str, ...], example: str) -> tuple[str, ...]:
        return self.typed(key, default, _parse_string_list, example, "a list of strings")


def _parse_bool(text: str) -> bool:
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    raise ValueError(text)


def _parse_string_list(text: str) -> tuple[str, ...]:
    """A JSON list (what `pulumi config set --path key[0]` stores) or one plain string."""
    if not text.startswith("["):
        return (text,)
    try:
        parsed = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(text) from error
    if not isinstance(parsed, list) or not all(isinstance(item, str) for item in parsed):
        raise ValueError(text)
    return tuple(parsed)


def _check_ocid(reader: _Reader, key: str, value: str, kinds: tuple[str, ...], example: str) -> None:
    match = _OCID.match(value)
    if match is None or match.group("kind") not in kinds:
        wanted = " or ".join(f"ocid1.{kind}..." for kind in kinds)
        reader.problem(key, f"{value!r} is not an OCID of the form {wanted}", _set(key, example))


def _check_cidr(reader: _Reader, key: str, value: str, example: str) -> ipaddress.IPv4Network | None:
    try:
        return ipaddress.IPv4Network(value, strict=True)
    except ValueError:
        reader.problem(
            key, f"{value!r} is not an IPv4 CIDR block with its host bits zero (e.g. {example})", _set(key, example)
        )
        return None


def _is_hostname(name: str) -> bool:
    labels = name.split(".")
    return len(name) <= 253 and len(labels) >= 2 and all(_HOST_LABEL.match(label) for label in labels)


def _check_openssh_key(reader: _Reader, key: str, value: str) -> None:
    try:
        load_ssh_public_key(value.encode())
    except (ValueError, TypeError, UnsupportedAlgorithm):
        shown = value if len(value) <= 40 else value[:37] + "..."
        reader.problem(
            key,
            f"{shown!r} is not an OpenSSH public key (a line like 'ssh-ed25519 AAAA... you@host')",
            f"pulumi config set --path '{NAMESPACE}:{key}[0]' \"$(cat ~/.ssh/id_ed25519.pub)\"",
        )


def _read_instance(reader: _Reader) -> InstanceConfig:
    ocpus = reader.integer("ocpus", 2, "2")
    memory_gb = reader.integer("memoryGb", 12, "12")
    boot_volume_gb = reader.integer("bootVolumeGb", 50, "50")
    if not 1 <= ocpus <= A1_MAX_OCPUS:
        reader.problem("ocpus", f"{ocpus} is outside {A1_SHAPE}'s 1-{A1_MAX_OCPUS} OCPUs", _set("ocpus", "2"))
    if not 1 <= memory_gb <= A1_MAX_MEMORY_GB:
        reader.problem(
            "memoryGb", f"{memory_gb} is outside {A1_SHAPE}'s 1-{A1_MAX_MEMORY_GB} GB", _set("memoryGb", "12")
        )
    elif ocpus >= 1 and not A1_MIN_GB_PER_OCPU * ocpus <= memory_gb <= A1_MAX_GB_PER_OCPU * ocpus:
        reader.problem(
            "memoryGb",
            f"{memory_gb} GB for {ocpus} OCPU is outside {A1_SHAPE}'s "
            f"{A1_MIN_GB_PER_OCPU}-{A1_MAX_GB_PER_OCPU} GB per OCPU",
            _set("memoryGb", str(6 * ocpus)),
        )
    low, high = allowance.BOOT_VOLUME_MIN_GB, allowance.BLOCK_STORAGE_TOTAL_GB
    if not low <= boot_volume_gb <= high:
        reader.problem(
            "bootVolumeGb",
            f"{boot_volume_gb} GB is outside {low}-{high} GB (OCI's minimum boot volume to the Always Free "
            "block storage total)",
            _set("bootVolumeGb", str(low)),
        )
    domain_text = reader.raw("availabilityDomain") or "0"
    availability_domain: int | str = int(domain_text) if domain_text.isdigit() else domain_text
    if isinstance(availability_domain, str) and ":" not in availability_domain:
        reader.problem(
            "availabilityDomain",
            f"{domain_text!r} is neither an index (0, 1, 2) nor a name like 'Uocm:AP-CHUNCHEON-1-AD-1'",
            _set("availabilityDomain", "0"),
        )
    image_id = reader.raw("imageId")
    if image_id is not None:
        _check_ocid(reader, "imageId", image_id, ("image",), "ocid1.image.oc1.ap-chuncheon-1.<id>")
    return InstanceConfig(ocpus, memory_gb, boot_volume_gb, availability_domain, image_id)


def _read_network(reader: _Reader) -> NetworkConfig:
    vcn_cidr = reader.raw("vcnCidr") or "10.0.0.0/16"
    subnet_cidr = reader.raw("subnetCidr") or "10.0.1.0/24"
    vcn = _check_cidr(reader, "vcnCidr", vcn_cidr, "10.0.0.0/16")
    subnet = _check_cidr(reader, "subnetCidr", subnet_cidr, "10.0.1.0/24")
    if vcn is not None and subnet is not None and not subnet.subnet_of(vcn):
        reader.problem(
            "subnetCidr", f"{subnet_cidr} is not inside vcnCidr {vcn_cidr}", _set("subnetCidr", "10.0.1.0/24")
        )
    ssh_cidrs = reader.string_list("sshAllowedCidrs", ("0.0.0.0/0",), "'[\"203.0.113.7/32\"]'")
    if not ssh_cidrs:
        reader.problem(
            "sshAllowedCidrs", "is empty: the rollout needs SSH", _set("sshAllowedCidrs", "'[\"203.0.113.7/32\"]'")
        )
    for cidr in ssh_cidrs:
        _check_cidr(reader, "sshAllowedCidrs", cidr, "203.0.113.7/32")
    return NetworkConfig(vcn_cidr, subnet_cidr, ssh_cidrs)


def _read_free_tier(reader: _Reader, instance: InstanceConfig) -> FreeTierConfig:
    names = tuple(allowance.A1_ALLOWANCES)
    chosen = reader.raw("freeTierAllowance") or allowance.DEFAULT_A1_ALLOWANCE
    if chosen not in allowance.A1_ALLOWANCES:
        reader.problem(
            "freeTierAllowance",
            f"{chosen!r} is not one of {', '.join(names)}",
            _set("freeTierAllowance", allowance.DEFAULT_A1_ALLOWANCE),
        )
        chosen = allowance.DEFAULT_A1_ALLOWANCE
    a1 = allowance.A1_ALLOWANCES[chosen]
    accepted = reader.number("acceptedMonthlyCostUsd", 0.0, "0")
    estimate = allowance.estimate_monthly_cost(
        [allowance.Instance(instance.ocpus, instance.memory_gb, instance.boot_volume_gb)], a1
    )
    if estimate.total_usd > accepted:
        reader.problem(
            "ocpus",
            f"{instance.ocpus} OCPU / {instance.memory_gb} GB exceeds the {chosen} Always Free allowance "
            f"({a1.ocpus:.2g} OCPU / {a1.memory_gb:.3g} GB running all month) and would cost about "
            f"${estimate.total_usd:.2f}/month ({estimate.explain()}); accepted: ${accepted:.2f}",
            f"{_set('ocpus', f'{int(a1.ocpus)}')} && {_set('memoryGb', f'{int(a1.memory_gb)}')}, or accept the cost: "
            f"{_set('acceptedMonthlyCostUsd', f'{estimate.total_usd:.2f}')}",
        )
    return FreeTierConfig(a1, accepted)


def _read_edge(reader: _Reader, edge_optional: bool) -> EdgeConfig:
    zone_id: str | None = (
        reader.raw("cloudflareZoneId")
        if edge_optional
        else reader.required(
            "cloudflareZoneId", "<32-hex zone id from the zone's Overview page>", "the Cloudflare zone id"
        )
    )
    if zone_id and not _ZONE_ID.match(zone_id):
        reader.problem(
            "cloudflareZoneId", f"{zone_id!r} is not a 32-character hex zone id", _set("cloudflareZoneId", "<zone id>")
        )
    domain = reader.required("domain", "flow-coder.com", "the Cloudflare zone's domain").lower()
    if domain and not _is_hostname(domain):
        reader.problem("domain", f"{domain!r} is not a domain name", _set("domain", "flow-coder.com"))
    hostnames: dict[str, str] = {}
    for key, label in (("socketHostname", "space-socket"), ("livekitHostname", "space-livekit")):
        example = f"{label}.{domain or 'flow-coder.com'}"
        name = reader.required(key, example, "a hostname inside the zone").lower()
        if name and not _is_hostname(name):
            reader.problem(key, f"{name!r} is not a valid hostname", _set(key, example))
        elif name and domain and not name.endswith("." + domain):
            reader.problem(key, f"{name!r} is not inside the zone {domain!r}", _set(key, example))
        hostnames[key] = name
    if hostnames["socketHostname"] and hostnames["socketHostname"] == hostnames["livekitHostname"]:
        reader.problem(
            "livekitHostname",
            f"{hostnames['livekitHostname']!r} is also socketHostname; each service needs its own hostname",
            _set("livekitHostname", f"space-livekit.{domain}"),
        )
    socket_proxied = reader.boolean("socketProxied", True)
    livekit_proxied = reader.boolean("livekitProxied", True)
    cert_type = reader.raw("originCertType") or "origin-ecc"
    if cert_type not in ORIGIN_CERT_TYPES:
        reader.problem(
            "originCertType",
            f"{cert_type!r} is not one of {', '.join(ORIGIN_CERT_TYPES)}",
            _set("originCertType", "origin-ecc"),
        )
    validity = reader.integer("originCertValidityDays", 1095, "1095")
    if validity not in ORIGIN_CERT_VALIDITY_DAYS:
        reader.problem(
            "originCertValidityDays",
            f"{validity} is not a validity Cloudflare issues ({', '.join(map(str, ORIGIN_CERT_VALIDITY_DAYS))})",
            _set("originCertValidityDays", "1095"),
        )
    rotation = reader.integer("originCertRotation", 0, "1")
    scope = reader.raw("cloudflareTlsScope") or "hostnames"
    tls_scope: TlsScope = scope if scope in TLS_SCOPES else "hostnames"
    if scope not in TLS_SCOPES:
        reader.problem(
            "cloudflareTlsScope",
            f"{scope!r} is not one of {', '.join(TLS_SCOPES)}",
            _set("cloudflareTlsScope", "hostnames"),
        )
    extra_strict = reader.string_list("strictTlsExtraHostnames", (), "'[\"dev-socket.flow-coder.com\"]'")
    for name in extra_strict:
        if not (_is_hostname(name) and name.endswith("." + domain)):
            reader.problem(
                "strictTlsExtraHostnames",
                f"{name!r} is not a hostname inside the zone {domain!r}",
                _set("strictTlsExtraHostnames", f"'[\"dev-socket.{domain}\"]'"),
            )
    all_proxied = socket_proxied and livekit_proxied
    origin_lock = reader.boolean("originLock", all_proxied and zone_id is not None)
    if origin_lock and zone_id is None:
        reader.problem(
            "originLock",
            "is on without a Cloudflare edge (cloudflareZoneId is not set): nothing would reach 80/443",
            f"{_set('originLock', 'false')}, or {_set('cloudflareZoneId', '<zone id>')}",
        )
    elif origin_lock and not all_proxied:
        dns_only = [
            key
            for key, proxied in (("socketProxied", socket_proxied), ("livekitProxied", livekit_proxied))
            if not proxied
        ]
        reader.problem(
            "originLock",
            f"is on while {', '.join(dns_only)} is false: a DNS-only hostname is reached directly, "
            "not through Cloudflare, so locking 80/443 to Cloudflare would cut it off",
            f"{_set('originLock', 'false')}, or proxy every web hostname",
        )
    return EdgeConfig(
        zone_id=zone_id,
        domain=domain,
        socket_hostname=hostnames["socketHostname"],
        livekit_hostname=hostnames["livekitHostname"],
        socket_proxied=socket_proxied,
        livekit_proxied=livekit_proxied,
        origin_cert_type=cert_type,
        origin_cert_validity_days=validity,
        origin_cert_rotation=rotation,
        tls_scope=tls_scope,
        origin_lock=origin_lock,
        strict_tls_extra_hostnames=extra_strict,
    )


def _read_socket_server(reader: _Reader) -> SocketServerConfig:
    image = reader.raw("socketServerImage")
    pinned = image is not None and (":" in image.rsplit("/", 1)[-1] or "@" in image)
    if image is not None and not (_IMAGE_REF.match(image) and pinned):
        reader.problem(
            "socketServerImage",
            f"{image!r} is not an image reference pinned to a tag or digest (e.g. ghcr.io/acme/socket:1.4.2)",
            _set("socketServerImage", "ghcr.io/<owner>/<image>:<version>"),
        )
    source_text = reader.raw("socketServerSource") or DEFAULT_SOCKET_SERVER_SOURCE
    source_dir = (PROJECT_DIR / source_text).resolve()
    if image is None:
        missing = [name for name in SOCKET_SERVER_REQUIRED_FILES if not (source_dir / name).is_file()]
        if missing:
            reader.problem(
                "socketServerSource",
                f"{source_text!r} has no {' or '.join(missing)}; the host builds the socket server from it",
                f"{_set('socketServerSource', DEFAULT_SOCKET_SERVER_SOURCE)}, or pull an image: "
                + _set("socketServerImage", "<image>:<version>"),
            )
    return SocketServerConfig(image, source_dir)


def _read_cost_alerts(reader: _Reader, compartment_id: str) -> CostAlertsConfig | None:
    email = reader.raw("alertEmail")
    amount = reader.integer("budgetAmountUsd", 1, "1")
    tenancy_id = reader.raw("tenancyId")
    if email is None:
        return None
    if not _EMAIL.match(email):
        reader.problem("alertEmail", f"{email!r} is not an e-mail address", _set("alertEmail", "ops@example.com"))
    if amount < 1:
        reader.problem(
            "budgetAmountUsd", f"{amount} is below OCI's smallest budget of $1", _set("budgetAmountUsd", "1")
        )
    if tenancy_id is None:
        if compartment_id.startswith("ocid1.tenancy."):
            tenancy_id = compartment_id
        else:
            reader.problem(
                "tenancyId",
                "is not set; budgets are created in the root compartment, and compartmentId is not the tenancy",
                _set("tenancyId", "ocid1.tenancy.oc1..<id>"),
            )
            tenancy_id = ""
    else:
        _check_ocid(reader, "tenancyId", tenancy_id, ("tenancy",), "ocid1.tenancy.oc1..<id>")
    return CostAlertsConfig(email, amount, tenancy_id)


def _read_vercel(reader: _Reader, stack: str) -> VercelConfig | None:
    project_id = reader.raw("vercelProjectId")
    default_targets = ("production",) if stack == "prod" else ("preview", "development")
    targets = reader.string_list("vercelTargets", default_targets, "'[\"production\"]'")
    team_id = reader.raw("vercelTeamId")
    if project_id is None:
        return None
    if not re.match(r"^prj_[A-Za-z0-9]+$", project_id):
        reader.problem(
            "vercelProjectId",
            f"{project_id!r} is not a Vercel project id (prj_..., under Project Settings > General)",
            _set("vercelProjectId", "prj_<id>"),
        )
    unknown = [target for target in targets if target not in VERCEL_TARGETS]
    if unknown or not targets:
        reader.problem(
            "vercelTargets",
            f"{list(targets)} must be a non-empty list of {', '.join(VERCEL_TARGETS)}",
            _set("vercelTargets", "'[\"production\"]'"),
        )
    return VercelConfig(project_id, team_id, targets)


def _read_existing_server(reader: _Reader) -> ExistingServerConfig | None:
    address = reader.raw("targetHost")
    if address is None:
        return None
    if not (_is_ipv4(address) or _is_hostname(address.lower())):
        reader.problem(
            "targetHost", f"{address!r} is neither an IPv4 address nor a hostname", _set("targetHost", "203.0.113.7")
        )
    user = reader.raw("targetUser") or "ubuntu"
    public_ip = reader.raw("targetPublicIp") or (address if _is_ipv4(address) else "")
    if not _is_ipv4(public_ip):
        reader.problem(
            "targetPublicIp",
            f"{public_ip or 'nothing'!r} is not the server's public IPv4 address (LiveKit advertises it for media)",
            _set("targetPublicIp", "203.0.113.7"),
        )
    host_key = reader.raw("targetHostKey")
    if host_key is not None:
        _check_openssh_key(reader, "targetHostKey", host_key)
    private_key = reader.source.get_secret("targetPrivateKey")
    if private_key is None:
        reader.problem(
            "targetPrivateKey",
            "is not set; it is the SSH private key the rollout logs in with",
            f"pulumi config set --secret {NAMESPACE}:targetPrivateKey < ~/.ssh/<key>",
        )
        private_key = pulumi.Output.secret("")
    return ExistingServerConfig(address, user, public_ip, private_key, host_key)


def _is_ipv4(text: str) -> bool:
    try:
        ipaddress.IPv4Address(text)
    except ValueError:
        return False
    return True


def load_stack_config(source: ConfigSource, stack: str) -> StackConfig:
    """Reads and validates every key; raises ConfigError naming every problem at once."""
    reader = _Reader(source)
    existing_server = _read_existing_server(reader)
    compartment_id = ""
    if existing_server is None:
        compartment_id = reader.required(
            "compartmentId", "ocid1.compartment.oc1..<id>", "the OCID of the compartment (or tenancy) to deploy into"
        )
    if compartment_id:
        _check_ocid(reader, "compartmentId", compartment_id, ("compartment", "tenancy"), "ocid1.compartment.oc1..<id>")
    instance = _read_instance(reader)
    network = _read_network(reader)
    # An existing server is not billed by this program: its size only sets the service limits.
    free_tier = (
        _read_free_tier(reader, instance)
        if existing_server is None
        else FreeTierConfig(allowance.A1_ALLOWANCES[allowance.DEFAULT_A1_ALLOWANCE], 0.0)
    )
    edge = _read_edge(reader, edge_optional=existing_server is not None)
    admin_keys = reader.string_list("adminSshPublicKeys", (), "'[\"ssh-ed25519 AAAA... you@host\"]'")
    for key in admin_keys:
        _check_openssh_key(reader, "adminSshPublicKeys", key)
    socket_server = _read_socket_server(reader)
    cost_alerts = _read_cost_alerts(reader, compartment_id) if existing_server is None else None
    if existing_server is not None and reader.raw("alertEmail") is not None:
        reader.problem(
            "alertEmail",
            "needs the OCI server this program creates (its VNIC and compartment); an existing server has none",
            f"pulumi config rm {NAMESPACE}:alertEmail",
        )
    vercel = _read_vercel(reader, stack)
    if reader.problems:
        raise ConfigError(reader.problems)
    return StackConfig(
        stack=stack,
        compartment_id=compartment_id,
        instance=instance,
        network=network,
        free_tier=free_tier,
        edge=edge,
        admin_ssh_public_keys=admin_keys,
        socket_server=socket_server,
        cost_alerts=cost_alerts,
        vercel=vercel,
        existing_server=existing_server,
        deploy_user=existing_server.user if existing_server else "ubuntu",
        tags={"project": "flowspace", "stack": stack, "always-free": "true"},
    )
