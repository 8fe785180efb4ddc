"""Cloudflare DNS for the served hostnames, and strict TLS towards the origin.

Resources: one A record per hostname (an existing one adopted by import id); with the
`hostnames` scope a configuration rule (`http_config_settings`) for exactly those hostnames, with
the `zone` scope the zone's `ssl` and `websockets` settings; and, whenever the records change, a
local check of both hostnames through the edge (scripts/edge-check), which warns but never fails
the `up`: DNS may still be spreading when it runs.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_cloudflare as cloudflare
import pulumi_command as command

from model.edge import Hostname, TlsScope
from model.project import Project


@dataclass(frozen=True)
class DnsRecordsArgs:
    zone_id: str
    # (socket server, LiveKit)
    hostnames: tuple[Hostname, Hostname]
    public_ip: pulumi.Input[str]
    tls_scope: TlsScope
    project: Project
    strict_tls_extra_hostnames: Sequence[str] = ()
    # Import ids (`<zone id>/<record id>`) by hostname: records that exist and are taken over in place.
    adopt: Mapping[str, str] = field(default_factory=dict)
    # DNS-only names served by the host itself (TURN/TLS), outside the strict-TLS rule.
    direct_hostnames: Sequence[str] = ()
    # A cluster's other nodes: each proxied hostname has a record for each, and the edge spreads
    # connections over them.
    more_public_ips: Sequence[pulumi.Input[str]] = ()
    # Where the direct hostnames lead when not to `public_ip` (a cluster's TURN/TLS entry).
    direct_public_ip: pulumi.Input[str] | None = None


def strict_tls_expression(hostnames: Sequence[str]) -> str:
    """A ruleset expression matching exactly these hosts and nothing else in the zone."""
    quoted = " ".join(f'"{name}"' for name in hostnames)
    return f"(http.host in {{{quoted}}})"


class DnsRecords(pulumi.ComponentResource):
    record_ids: pulumi.Output[list[str]]

    def __init__(self, name: str, args: DnsRecordsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("flowspace:edge:DnsRecords", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)

        records = [
            cloudflare.DnsRecord(
                f"{name}-{host.label}",
                zone_id=args.zone_id,
                name=host.name,
                type="A",
                content=args.direct_public_ip
                if args.direct_public_ip is not None and host.name in args.direct_hostnames
                else args.public_ip,
                proxied=host.proxied,
                ttl=1,
                comment=args.project.comment,
                opts=pulumi.ResourceOptions(parent=self, import_=args.adopt.get(host.name)),
            )
            for host in [*args.hostnames, *(Hostname(direct, proxied=False) for direct in args.direct_hostnames)]
        ]
        records += [
            cloudflare.DnsRecord(
                f"{name}-{host.label}-{number}",
                zone_id=args.zone_id,
                name=host.name,
                type="A",
                content=address,
                proxied=host.proxied,
                ttl=1,
                comment=args.project.comment,
                opts=child,
            )
            for number, address in enumerate(args.more_public_ips, start=2)
            for host in args.hostnames
        ]

        if args.tls_scope == "hostnames":
            # The zone's other sites (the Vercel app among them) keep their own SSL mode.
            cloudflare.Ruleset(
                f"{name}-strict-tls",
                zone_id=args.zone_id,
                kind="zone",
                phase="http_config_settings",
                name=f"{args.project.name_prefix} origin TLS",
                description=args.project.comment,
                rules=[
                    cloudflare.RulesetRuleArgs(
                        action="set_config",
                        expression=strict_tls_expression(
                            [host.name for host in args.hostnames] + list(args.strict_tls_extra_hostnames)
                        ),
                        action_parameters=cloudflare.RulesetRuleActionParametersArgs(ssl="strict"),
                        description="Full (strict) TLS to the FlowSpace origin",
                        enabled=True,
                    )
                ],
                opts=child,
            )
        elif args.tls_scope == "zone":
            cloudflare.ZoneSetting(f"{name}-ssl", zone_id=args.zone_id, setting_id="ssl", value="strict", opts=child)
            cloudflare.ZoneSetting(
                f"{name}-websockets", zone_id=args.zone_id, setting_id="websockets", value="on", opts=child
            )

        socket_host, livekit_host = (host.name for host in args.hostnames)
        check = ["scripts/edge-check", "--socket", socket_host, "--livekit", livekit_host, "--warn-only"]
        command.local.Command(
            f"{name}-edge-check",
            create=shlex.join(check),
            triggers=[record.content for record in records],
            opts=pulumi.ResourceOptions(parent=self, depends_on=records),
        )

        self.record_ids = pulumi.Output.all(*[record.id for record in records])
        self.register_outputs({"record_ids": self.record_ids})
