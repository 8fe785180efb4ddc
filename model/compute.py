"""The server: the A1 shape's limits and the instance a stack asks for."""

from __future__ import annotations

from dataclasses import dataclass

from model.allowance import A1_SHAPE

A1_MAX_OCPUS = 80
A1_MAX_MEMORY_GB = 512
A1_MIN_GB_PER_OCPU = 1
A1_MAX_GB_PER_OCPU = 64


# How the program states a region's number of availability domains (scripts/deploy reads it back).
AD_COUNT_PHRASE = "this region has {count}"


# 04:00 in Korea, when the fewest people are in a room.
DEFAULT_MAINTENANCE_WINDOW_UTC = "19:00"


@dataclass(frozen=True)
class InstanceSpec:
    ocpus: int
    memory_gb: int
    boot_volume_gb: int
    # An index into the region's availability domains, or a domain's name.
    availability_domain: int | str
    # None: the newest Ubuntu 24.04 aarch64 image when the instance is created.
    image_id: str | None
    shape: str = A1_SHAPE
    # True when the old and the new instance together would not fit the allowance: a replacement
    # deletes the old one first (a free tenancy refuses the second, a paid one bills it).
    delete_before_replace: bool = False
    # UTC "HH:MM": when a reboot that an update asks for may happen (it ends every call).
    maintenance_window_utc: str = DEFAULT_MAINTENANCE_WINDOW_UTC
