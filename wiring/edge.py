"""Cloudflare's side: the origin and TURN certificates, and the records that lead to the host."""

from __future__ import annotations

from collections.abc import Sequence

import pulumi

from components.dns_records import DnsRecords, DnsRecordsArgs
from components.origin_certificate import OriginCertificate, OriginCertificateArgs
from components.turn_certificate import TurnCertificate, TurnCertificateArgs
from config import StackConfig
from model.ports import TURN_TLS


def origin_certificate(config: StackConfig) -> OriginCertificate | None:
    if config.edge.zone_id is None:
        return None
    names = [host.name for host in config.edge.hostnames]
    certificate = OriginCertificate("origin-certificate", OriginCertificateArgs(names, config.edge.origin_cert))
    pulumi.export("origin_certificate_expires_on", certificate.expires_on)
    return certificate


def turn_certificate(config: StackConfig) -> TurnCertificate | None:
    turn, token = config.turn, config.turn_dns_token
    if turn is None or token is None:
        return None
    certificate = TurnCertificate("turn", TurnCertificateArgs(turn.hostname, turn.acme_server, turn.acme_email, token))
    pulumi.export("turn_url", f"turns:{turn.hostname}:{TURN_TLS.first}?transport=tcp")
    pulumi.export("turn_certificate_expires_on", certificate.expires_on)
    return certificate


def dns_records(
    config: StackConfig,
    addresses: Sequence[pulumi.Input[str]],
    serving: pulumi.Resource,
    imports: dict[str, str],
    turn_address: pulumi.Input[str] | None = None,
) -> list[pulumi.Resource]:
    """`addresses`: the server's, or each node's of a cluster; `turn_address`: TURN/TLS's own, if not
    the server's."""
    edge, cutover = config.edge, config.cutover
    if edge.zone_id is None:
        return []
    direct = [config.turn.hostname] if config.turn else []
    first, *more = addresses
    points_to = cutover.dns_target_ip or first
    extra = edge.strict_tls_extra_hostnames
    args = DnsRecordsArgs(
        edge.zone_id,
        edge.hostnames,
        points_to,
        edge.tls_scope,
        config.project,
        extra,
        imports,
        direct,
        # Rolled back: every name leads to the old server again.
        [] if cutover.dns_target_ip else more,
        None if cutover.dns_target_ip else turn_address,
    )
    # The records move to the new host only once it serves (its release passed the health gate).
    return [DnsRecords("dns", args, opts=pulumi.ResourceOptions(depends_on=[serving]))]
