"""The host firewall: the ports table as iptables and ip6tables rules, on any Ubuntu or Debian host.

The rules sit in their own chain, the first rule of INPUT, so they decide before any rule of the
image (Oracle's own `--dport 22 ACCEPT` among them): allowed sources are accepted, every other
connection to a port the program manages (public or internal) is rejected, and the rest of the
host's traffic returns to INPUT untouched. That holds with Oracle's final REJECT and without it.
The chain is replaced atomically (`*-restore --noflush`); INPUT itself is never flushed, since on
Oracle's images it also carries the boot volume's rules.

A public port with a redirect (TURN/TLS on 443) is split by source in the nat table's own chain:
Cloudflare's ranges keep reaching the port's web service, everyone else is redirected to the
listener, and the filter chain accepts the listener only for connections the redirect made.
"""

from __future__ import annotations

from model.layout import FIREWALL_SCRIPT_PATH
from model.ports import INTERNAL_PORTS, PUBLIC_PORTS, Ingress, IpFamily

CHAIN = "FLOWSPACE-INGRESS"
REDIRECT_CHAIN = "FLOWSPACE-REDIRECT"
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
        match = f"-p {port.protocol} -m {port.protocol} --dport {port.spec}"
        edge = ingress.origin_lock_cidrs or ()
        rules += [f'-A {REDIRECT_CHAIN} -s {source} {match} -m comment --comment "edge" -j RETURN' for source in edge]
        rules.append(
            f'-A {REDIRECT_CHAIN} {match} -m comment --comment "{port.name}" '
            f"-j REDIRECT --to-ports {port.redirected_to.port}"
        )
    return rules


def _ruleset(ingress: Ingress, family: IpFamily) -> str:
    managed = [(port.protocol, port.spec, port.name) for port in PUBLIC_PORTS if port.redirected_to is None]
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
first_in() {{
  tool=$1 table=$2 parent=$3 chain=$4
  if [ "$("$tool" --wait -t "$table" -S "$parent" | sed -n 2p)" != "-A $parent -j $chain" ]; then
    "$tool" --wait -t "$table" -I "$parent" 1 -j "$chain"
  fi
  while [ "$("$tool" --wait -t "$table" -S "$parent" | grep -c -x -- "-A $parent -j $chain")" -gt 1 ]; do
    last=$("$tool" --wait -t "$table" -L "$parent" --line-numbers -n |
      awk -v c="$chain" '$2 == c {{ n = $1 }} END {{ print n }}')
    "$tool" --wait -t "$table" -D "$parent" "$last"
  done
}}

iptables-restore --wait --noflush <<'RULES'
{_ruleset(ingress, 4)}
RULES
first_in iptables filter INPUT {CHAIN}
first_in iptables nat PREROUTING {REDIRECT_CHAIN}

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
