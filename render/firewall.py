"""The host firewall: the ports table as iptables and ip6tables rules, on any Ubuntu or Debian host.

The rules sit in their own chain, the first rule of INPUT, so they decide before any rule of the
image (Oracle's own `--dport 22 ACCEPT` among them): allowed sources are accepted, every other
connection to a port the program manages (public or internal) is rejected, and the rest of the
host's traffic returns to INPUT untouched. That holds with Oracle's final REJECT and without it.
The chain is replaced atomically (`*-restore --noflush`); INPUT itself is never flushed, since on
Oracle's images it also carries the boot volume's rules.
"""

from __future__ import annotations

from model.layout import FIREWALL_SCRIPT_PATH
from model.ports import INTERNAL_PORTS, PUBLIC_PORTS, Ingress, IpFamily

CHAIN = "FLOWSPACE-INGRESS"
_TOOLS: dict[IpFamily, str] = {4: "iptables", 6: "ip6tables"}
_UDP_REJECT: dict[IpFamily, str] = {4: "icmp-port-unreachable", 6: "icmp6-port-unreachable"}


def ingress_rules(ingress: Ingress, family: IpFamily = 4) -> list[str]:
    return [
        f"-A {CHAIN} -s {source} -p {port.protocol} -m {port.protocol} --dport {port.spec} "
        f'-m comment --comment "{port.name}" -j ACCEPT'
        for port, source in ingress.rules(family=family)
    ]


def _ruleset(ingress: Ingress, family: IpFamily) -> str:
    managed = [(port.protocol, port.spec, port.name) for port in PUBLIC_PORTS]
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
        ]
    )


def render_firewall_script(ingress: Ingress) -> str:
    return f"""#!/bin/sh
# Applies FlowSpace's ingress rules; safe to run again (boot, every rollout).
set -eu

# Our chain is INPUT's first rule; a placement from an older release is dropped once this one holds.
first_in_input() {{
  tool=$1
  if [ "$("$tool" --wait -S INPUT | sed -n 2p)" != "-A INPUT -j {CHAIN}" ]; then
    "$tool" --wait -I INPUT 1 -j {CHAIN}
  fi
  while [ "$("$tool" --wait -S INPUT | grep -c -x -- "-A INPUT -j {CHAIN}")" -gt 1 ]; do
    last=$("$tool" --wait -L INPUT --line-numbers -n | awk '$2 == "{CHAIN}" {{ n = $1 }} END {{ print n }}')
    "$tool" --wait -D INPUT "$last"
  done
}}

iptables-restore --wait --noflush <<'RULES'
{_ruleset(ingress, 4)}
RULES
first_in_input iptables

if command -v ip6tables-restore > /dev/null && ip6tables --wait -S INPUT > /dev/null 2>&1; then
  ip6tables-restore --wait --noflush <<'RULES'
{_ruleset(ingress, 6)}
RULES
  first_in_input ip6tables
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
