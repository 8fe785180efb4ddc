"""The host firewall: the ports table as iptables and ip6tables rules, on any Ubuntu or Debian host.

The rules sit in their own chain, the first rule of INPUT, so they decide before any rule of the
image (Oracle's own `--dport 22 ACCEPT` among them): allowed sources are accepted, every other
connection to a port the program manages (public or internal) is rejected, and the rest of the
host's traffic returns to INPUT untouched. That holds with Oracle's final REJECT and without it.
The chain is replaced atomically (`*-restore --noflush`); INPUT itself is never flushed, since on
Oracle's images it also carries the boot volume's rules.

A public port with a redirect (TURN/TLS on 443) is split by source in the nat table's own chain:
Cloudflare's ranges keep reaching the port's web service, everyone else is redirected to the
listener, and the filter chain accepts the listener only for connections the redirect made. The
redirect matches only connections addressed to the host itself: containers' own outbound HTTPS
passes PREROUTING too, and must reach the internet, not LiveKit.

Containers on Docker's bridges cannot reach the instance metadata service (its credentials are
the instance's): a chain first in DOCKER-USER, the place Docker keeps for rules of the host's own.
"""

from __future__ import annotations

from model.layout import FIREWALL_SCRIPT_PATH
from model.ports import INTERNAL_PORTS, Ingress, IpFamily

CHAIN = "FLOWSPACE-INGRESS"
REDIRECT_CHAIN = "FLOWSPACE-REDIRECT"
CONTAINER_CHAIN = "FLOWSPACE-CONTAINERS"
# Docker jumps to this chain first from FORWARD; it keeps rules already there.
DOCKER_USER_CHAIN = "DOCKER-USER"
METADATA_SERVICE = "169.254.169.254/32"
_TOOLS: dict[IpFamily, str] = {4: "iptables", 6: "ip6tables"}
_UDP_REJECT: dict[IpFamily, str] = {4: "icmp-port-unreachable", 6: "icmp6-port-unreachable"}


def ingress_rules(ingress: Ingress, family: IpFamily = 4) -> list[str]:
    return [
        f"-A {CHAIN} -s {source} -p {port.protocol} -m {port.protocol} --dport {port.spec} "
        f'-m comment --comment "{port.name}" -j ACCEPT'
        if port.redirected_to is None
        else f"-A {CHAIN} -p {port.protocol} -m {port.protocol} --dport {port.redirected_to.port} "
        f"-m conntrack --ctstate DNAT --ctorigdstport {port.spec} "
        f'-m comment --comment "{port.name}: redirected from {port.spec}" -j ACCEPT'
        for port, source in ingress.rules(family=family)
    ]


def redirect_rules(ingress: Ingress) -> list[str]:
    """The nat chain: the edge keeps the port, everyone else goes to the redirect's listener."""
    rules = []
    for port in ingress.public_ports:
        if port.redirected_to is None:
            continue
        match = f"-p {port.protocol} -m {port.protocol} --dport {port.spec} -m addrtype --dst-type LOCAL"
        edge = ingress.origin_lock_cidrs or ()
        rules += [f'-A {REDIRECT_CHAIN} -s {source} {match} -m comment --comment "edge" -j RETURN' for source in edge]
        rules.append(
            f'-A {REDIRECT_CHAIN} {match} -m comment --comment "{port.name}" '
            f"-j REDIRECT --to-ports {port.redirected_to.port}"
        )
    return rules


def _ruleset(ingress: Ingress, family: IpFamily) -> str:
    managed = [(port.protocol, port.spec, port.name) for port in ingress.public_ports if port.redirected_to is None]
    managed += [("tcp", str(port.port), port.name) for port in INTERNAL_PORTS]
    rejects = [
        f'-A {CHAIN} -p {protocol} -m {protocol} --dport {spec} -m comment --comment "{name}: anyone else" '
        f"-j REJECT --reject-with {'tcp-reset' if protocol == 'tcp' else _UDP_REJECT[family]}"
        for protocol, spec, name in managed
    ]
    return "\n".join(
        [
            "*filter",
            f":{CHAIN} - [0:0]",
            f"-A {CHAIN} -i lo -j RETURN",
            f"-A {CHAIN} -m conntrack --ctstate RELATED,ESTABLISHED -j RETURN",
            *ingress_rules(ingress, family),
            *rejects,
            *(
                [
                    f":{CONTAINER_CHAIN} - [0:0]",
                    f'-A {CONTAINER_CHAIN} -d {METADATA_SERVICE} -m comment --comment "instance metadata" '
                    "-j REJECT --reject-with icmp-host-prohibited",
                ]
                if family == 4
                else []
            ),
            "COMMIT",
            # Declared even when empty, so that a release without a redirect removes an older one's.
            # IPv4 only: the redirected hostname has an A record alone.
            *(["*nat", f":{REDIRECT_CHAIN} - [0:0]", *redirect_rules(ingress), "COMMIT"] if family == 4 else []),
        ]
    )


def render_firewall_script(ingress: Ingress) -> str:
    return f"""#!/bin/sh
# Applies FlowSpace's ingress rules; safe to run again (boot, every rollout).
set -eu

# Our chain is its parent's first rule; a placement from an older release is dropped once this one holds.
# (Every variable in sh is global: a function's carry its name.)
first_in() {{
  first_in_tool=$1 first_in_table=$2 first_in_parent=$3 first_in_chain=$4
  if [ "$("$first_in_tool" --wait -t "$first_in_table" -S "$first_in_parent" | sed -n 2p)" \
    != "-A $first_in_parent -j $first_in_chain" ]; then
    "$first_in_tool" --wait -t "$first_in_table" -I "$first_in_parent" 1 -j "$first_in_chain"
  fi
  while [ "$("$first_in_tool" --wait -t "$first_in_table" -S "$first_in_parent" |
    grep -c -x -- "-A $first_in_parent -j $first_in_chain")" -gt 1 ]; do
    first_in_last=$("$first_in_tool" --wait -t "$first_in_table" -L "$first_in_parent" --line-numbers -n |
      awk -v c="$first_in_chain" '$2 == c {{ n = $1 }} END {{ print n }}')
    "$first_in_tool" --wait -t "$first_in_table" -D "$first_in_parent" "$first_in_last"
  done
}}

iptables-restore --wait --noflush <<'RULES'
{_ruleset(ingress, 4)}
RULES
first_in iptables filter INPUT {CHAIN}
first_in iptables nat PREROUTING {REDIRECT_CHAIN}
# Docker creates {DOCKER_USER_CHAIN} when it starts (the boot unit runs before it) and keeps what is in it.
iptables --wait -N {DOCKER_USER_CHAIN} 2> /dev/null || true
first_in iptables filter {DOCKER_USER_CHAIN} {CONTAINER_CHAIN}

if command -v ip6tables-restore > /dev/null && ip6tables --wait -S INPUT > /dev/null 2>&1; then
  ip6tables-restore --wait --noflush <<'RULES'
{_ruleset(ingress, 6)}
RULES
  first_in ip6tables filter INPUT {CHAIN}
fi
"""


def render_firewall_unit(script_path: str = FIREWALL_SCRIPT_PATH) -> str:
    """Re-applies the rules at boot, after the image's saved rules and before Docker adds its own."""
    return f"""[Unit]
Description=FlowSpace host firewall rules
After=netfilter-persistent.service
Before=docker.service network-online.target
Wants=netfilter-persistent.service

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart={script_path}

[Install]
WantedBy=multi-user.target
"""
