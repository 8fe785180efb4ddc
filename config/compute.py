"""Compute: the A1 instance's size, placement and image."""

from __future__ import annotations

import re

from config import checks
from config.keys import Key
from config.reader import Reader
from model import allowance
from model.compute import (
    A1_MAX_GB_PER_OCPU,
    A1_MAX_MEMORY_GB,
    A1_MAX_OCPUS,
    A1_MIN_GB_PER_OCPU,
    DEFAULT_MAINTENANCE_WINDOW_UTC,
    InstanceSpec,
)

OCPUS = Key("ocpus", "integer", "int", "A1 OCPUs (1-80, and within the allowance)", "2", default=2)
MEMORY_GB = Key("memoryGb", "integer", "int", "A1 memory, 1-64 GB per OCPU", "12", default=12)
BOOT_VOLUME_GB = Key(
    "bootVolumeGb",
    "integer",
    "int",
    "boot volume, 50-200 GB (Always Free block storage is 200 GB in all)",
    "50",
    default=50,
)
AVAILABILITY_DOMAIN = Key(
    "availabilityDomain",
    "string",
    "int or name",
    "index into the region's ADs, or a name like `Uocm:AP-CHUNCHEON-1-AD-1`",
    "0",
    default="0",
)
IMAGE_ID = Key(
    "imageId",
    "string",
    "OCID",
    "pin an image; a newer image never rebuilds a running server",
    "ocid1.image.oc1.ap-chuncheon-1.<id>",
    default_doc="newest Ubuntu 24.04 aarch64",
)
COMPARTMENT_ID = Key(
    "compartmentId",
    "string",
    "OCID",
    "compartment (or tenancy) OCID everything is created in",
    "ocid1.compartment.oc1..<id>",
    default_doc="*required* (not with `targetHost`)",
)
MAINTENANCE_WINDOW = Key(
    "maintenanceWindowUtc",
    "string",
    "HH:MM (UTC)",
    "when the host may reboot for an update that asks for it (a reboot ends every call); security updates "
    "install unattended, Docker's packages never",
    "19:00",
    default=DEFAULT_MAINTENANCE_WINDOW_UTC,
)
KEYS = (COMPARTMENT_ID, OCPUS, MEMORY_GB, BOOT_VOLUME_GB, AVAILABILITY_DOMAIN, IMAGE_ID, MAINTENANCE_WINDOW)
_WINDOW = re.compile(r"(?:[01][0-9]|2[0-3]):[0-5][0-9]")


def read_compartment(reader: Reader) -> str:
    compartment_id = reader.required(COMPARTMENT_ID, "the OCID of the compartment (or tenancy) to deploy into")
    if compartment_id:
        checks.ocid(reader, COMPARTMENT_ID, compartment_id, ("compartment", "tenancy"))
    return compartment_id


def read_instance(reader: Reader) -> InstanceSpec:
    ocpus = reader.integer(OCPUS)
    memory_gb = reader.integer(MEMORY_GB)
    boot_volume_gb = reader.integer(BOOT_VOLUME_GB)
    shape = allowance.A1_SHAPE
    if not 1 <= ocpus <= A1_MAX_OCPUS:
        reader.problem(OCPUS, f"{ocpus} is outside {shape}'s 1-{A1_MAX_OCPUS} OCPUs")
    if not 1 <= memory_gb <= A1_MAX_MEMORY_GB:
        reader.problem(MEMORY_GB, f"{memory_gb} is outside {shape}'s 1-{A1_MAX_MEMORY_GB} GB")
    elif ocpus >= 1 and not A1_MIN_GB_PER_OCPU * ocpus <= memory_gb <= A1_MAX_GB_PER_OCPU * ocpus:
        reader.problem(
            MEMORY_GB,
            f"{memory_gb} GB for {ocpus} OCPU is outside {shape}'s "
            f"{A1_MIN_GB_PER_OCPU}-{A1_MAX_GB_PER_OCPU} GB per OCPU",
            MEMORY_GB.set_command(str(6 * ocpus)),
        )
    low, high = allowance.BOOT_VOLUME_MIN_GB, allowance.BLOCK_STORAGE_TOTAL_GB
    if not low <= boot_volume_gb <= high:
        reader.problem(
            BOOT_VOLUME_GB,
            f"{boot_volume_gb} GB is outside {low}-{high} GB (OCI's minimum boot volume to the Always Free "
            "block storage total)",
        )
    domain_text = reader.text(AVAILABILITY_DOMAIN) or "0"
    availability_domain: int | str = (
        int(domain_text) if domain_text.isascii() and domain_text.isdigit() else domain_text
    )
    if isinstance(availability_domain, str) and not _is_domain_name(availability_domain):
        reader.problem(
            AVAILABILITY_DOMAIN,
            f"{domain_text!r} is neither an index (0, 1, 2) nor a name like 'Uocm:AP-CHUNCHEON-1-AD-1'",
        )
    image_id = reader.raw(IMAGE_ID)
    if image_id is not None:
        checks.ocid(reader, IMAGE_ID, image_id, ("image",))
    window = reader.text(MAINTENANCE_WINDOW) or DEFAULT_MAINTENANCE_WINDOW_UTC
    if not _WINDOW.fullmatch(window):
        reader.problem(MAINTENANCE_WINDOW, f"{window!r} is not a time of day like 19:00 (UTC, 24-hour)")
        window = DEFAULT_MAINTENANCE_WINDOW_UTC
    return InstanceSpec(ocpus, memory_gb, boot_volume_gb, availability_domain, image_id, maintenance_window_utc=window)


def _is_domain_name(text: str) -> bool:
    prefix, _, name = text.partition(":")
    return (
        bool(prefix)
        and bool(name)
        and all(part.isalnum() for part in prefix.split("-"))
        and all(part.isalnum() for part in name.split("-"))
    )
