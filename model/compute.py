"""The server: the A1 shape's limits and the instance a stack asks for."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from model.allowance import A1_SHAPE

A1_MAX_OCPUS = 80
A1_MAX_MEMORY_GB = 512
A1_MIN_GB_PER_OCPU = 1
A1_MAX_GB_PER_OCPU = 64


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


def pick_availability_domain(names: Sequence[str], wanted: int | str) -> str:
    """The name `wanted` (an index into this region's domains, or a name) stands for; ValueError
    says why there is none."""
    if isinstance(wanted, str):
        if wanted not in names:
            raise ValueError(f"{wanted!r} is not one of this region's {', '.join(names)}")
        return wanted
    if not 0 <= wanted < len(names):
        raise ValueError(f"index {wanted} is out of range: this region has {len(names)} ({', '.join(names)})")
    return names[wanted]


@dataclass(frozen=True)
class Placement:
    """Where a new instance goes and what it boots, as the region answered."""

    availability_domain: str
    image_id: str
