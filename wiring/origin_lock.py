"""Who may reach the public ports: with the origin lock, the web ports only from Cloudflare's ranges."""

from __future__ import annotations

import pulumi
import pulumi_cloudflare as cloudflare

from model.ports import Ingress, SshAccess


def ingress(ssh: SshAccess, origin_lock: bool, turn_tls: bool = False) -> pulumi.Output[Ingress]:
    """Unknown in a first preview while Cloudflare's ranges are looked up."""
    if not origin_lock:
        return pulumi.Output.from_input(Ingress(ssh.cidrs, ssh_port=ssh.port))
    ranges = cloudflare.get_ip_ranges_output()
    return pulumi.Output.all(ranges.ipv4_cidrs, ranges.ipv6_cidrs).apply(
        lambda cidrs: Ingress(ssh.cidrs, tuple(cidrs[0] or ()), tuple(cidrs[1] or ()), turn_tls, ssh.port)
    )
