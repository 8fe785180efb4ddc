"""What the cloud must answer before anything is declared: the availability domain and image a new
server takes, and the DNS records and Vercel variables a cutover adopts. Every refusal is collected
and reported together, so nothing is half-created and one run names everything to fix.

Plain invokes: an import id, a domain's name and an image must be known when a resource is
registered. Once adopted, a record or variable is in the state under the same id and the engine no
longer imports it, so the adoption lookups may stay on.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial

import pulumi
import pulumi_cloudflare as cloudflare
import pulumi_oci as oci
import pulumiverse_vercel as vercel

from config import ConfigError, StackConfig
from config.compute import AVAILABILITY_DOMAIN, COMPARTMENT_ID, IMAGE_ID
from config.cutover import ADOPT_EXISTING
from model.adoption import (
    AdoptionConflict,
    ExistingRecord,
    ExistingVariable,
    dns_record_to_adopt,
    vercel_variable_to_adopt,
)
from model.app_env import APP_VARIABLES
from model.cluster import OKE_KUBERNETES_VERSION
from model.compute import Placement, pick_availability_domain
from model.problems import Problem

UBUNTU = "Canonical Ubuntu"
UBUNTU_VERSION = "24.04"


@dataclass(frozen=True)
class Lookups:
    # The new server's availability domain and image; None on an existing server.
    placement: Placement | None = None
    # Import ids by hostname and by variable name, for what a cutover adopts.
    dns_imports: dict[str, str] = field(default_factory=dict)
    vercel_imports: dict[str, str] = field(default_factory=dict)


def look_up(config: StackConfig) -> Lookups:
    problems: list[Problem] = []
    placement = _placement(config, problems) if config.existing_server is None else None
    adopting = config.cutover.adopt_existing
    dns_imports = _dns_imports(config, problems) if adopting and config.edge.zone_id else {}
    vercel_imports = _vercel_imports(config, problems) if adopting and config.vercel else {}
    if problems:
        raise pulumi.RunError(str(ConfigError(problems)))
    return Lookups(placement, dns_imports, vercel_imports)


def _placement(config: StackConfig, problems: list[Problem]) -> Placement | None:
    compartment, wanted = config.compartment_id, config.instance
    found = oci.identity.get_availability_domains(compartment_id=compartment).availability_domains or []
    names = [domain.name for domain in found]
    if not names:
        problems.append(
            Problem(
                COMPARTMENT_ID.name,
                f"no availability domain is visible in compartment {compartment}",
                "check the OCID, that the OCI API key may read it, and that oci:region is the tenancy's home region",
            )
        )
        return None
    try:
        domain = pick_availability_domain(names, wanted.availability_domain)
    except ValueError as error:
        problems.append(Problem(AVAILABILITY_DOMAIN.name, str(error), AVAILABILITY_DOMAIN.set_command("0")))
        return None
    if wanted.image_id:
        image_id: str | None = wanted.image_id
    elif config.cluster:
        image_id = _newest_node_image(compartment, problems)
    else:
        image_id = _newest_image(compartment, wanted.shape, problems)
    return Placement(domain, image_id) if image_id else None


def _newest_node_image(compartment: str, problems: list[Problem]) -> str | None:
    """OKE's own A1 node image for the cluster's Kubernetes version: OKE names them
    `Oracle-Linux-<release>-aarch64-<date>-<n>-OKE-<version>-<build>`, so the greatest name is the newest."""
    version = f"OKE-{OKE_KUBERNETES_VERSION.lstrip('v')}-"
    sources = oci.containerengine.get_node_pool_option(node_pool_option_id="all", compartment_id=compartment).sources
    fitting = sorted(
        (source for source in sources or [] if "aarch64" in source.source_name and version in source.source_name),
        key=lambda source: source.source_name,
        reverse=True,
    )
    if not fitting:
        message = f"no OKE aarch64 node image for Kubernetes {OKE_KUBERNETES_VERSION} was found in this region"
        problems.append(Problem(IMAGE_ID.name, message, IMAGE_ID.set_command()))
        return None
    return str(fitting[0].image_id)


def _newest_image(compartment: str, shape: str, problems: list[Problem]) -> str | None:
    found = oci.core.get_images(
        compartment_id=compartment,
        operating_system=UBUNTU,
        operating_system_version=UBUNTU_VERSION,
        shape=shape,
        sort_by="TIMECREATED",
        sort_order="DESC",
    ).images
    if not found:
        message = f"no {UBUNTU} {UBUNTU_VERSION} image for {shape} was found in this region"
        problems.append(Problem(IMAGE_ID.name, message, IMAGE_ID.set_command()))
        return None
    return found[0].id


def _dns_imports(config: StackConfig, problems: list[Problem]) -> dict[str, str]:
    """Import ids (`<zone id>/<record id>`) by hostname, for the hostnames that already have an A record."""
    zone_id = config.edge.zone_id
    assert zone_id is not None
    names = [host.name for host in config.edge.hostnames] + ([config.turn.hostname] if config.turn else [])
    imports = {}
    for hostname in names:
        lookup = cloudflare.get_dns_records(zone_id=zone_id, name=cloudflare.GetDnsRecordsNameArgs(exact=hostname))
        records = [ExistingRecord(record.id, record.type, record.content) for record in lookup.results or []]
        refused = len(problems)
        record_id = _decide(problems, partial(dns_record_to_adopt, hostname, records))
        if record_id:
            imports[hostname] = f"{zone_id}/{record_id}"
            pulumi.log.info(f"adopting the DNS record of {hostname}")
        elif len(problems) == refused:
            pulumi.log.info(f"{hostname} has no record to adopt")
    return imports


def _vercel_imports(config: StackConfig, problems: list[Problem]) -> dict[str, str]:
    """Import ids by variable name, for the app's variables that already exist on the stack's targets."""
    project = config.vercel
    # The lookup takes a name only (its validator refuses a prj_ id); the config requires one here.
    assert project is not None and project.name is not None
    lookup = vercel.get_project(name=project.name, team_id=project.team_id)
    existing = [
        ExistingVariable(found.id, found.key, tuple(found.targets or ()), found.git_branch or None)
        for found in lookup.environments or []
    ]
    imports = {}
    for variable in APP_VARIABLES:
        import_id = _decide(problems, partial(vercel_variable_to_adopt, project, variable, existing))
        if import_id:
            imports[variable.name] = import_id
    if imports:
        pulumi.log.info(f"adopting the Vercel variables {', '.join(sorted(imports))}")
    return imports


def _decide(problems: list[Problem], decide: Callable[[], str | None]) -> str | None:
    try:
        return decide()
    except AdoptionConflict as conflict:
        problems.append(Problem(ADOPT_EXISTING.name, conflict.message, conflict.fix))
        return None
