"""The host firewall: the ports table as iptables rules on top of Oracle's stock Ubuntu rules.

Oracle's images end INPUT with a REJECT, so our rules sit in their own chain that INPUT jumps to
just before that REJECT. The chain is replaced atomically (iptables-restore --noflush) and never
flushes INPUT itself, which also carries the image's boot-volume rules.
"""

from __future__ import annotations

from collections.abc import Sequence

from components.ports import PUBLIC_PORTS, PublicPort, sources_for

CHAIN = "FLOWSPACE-INGRESS"
SCRIPT_PATH = "/usr/local/sbin/flowspace-firewall"
UNIT_NAME = "flowspace-firewall.service"


def ingress_rules(
    ssh_cidrs: Sequence[str], web_cidrs: Sequence[str], ports: Sequence[PublicPort] = PUBLIC_PORTS
) -> list[str]:
    rules = []
    for port in ports:
        for source in sources_for(port, tuple(ssh_cidrs), tuple(web_cidrs)):
            rules.append(
                f"-A {CHAIN} -s {source} -p {port.protocol} -m {port.protocol} --dport {port.spec} "
                f'-m comment --comment "{port.name}" -j ACCEPT'
            )
    return rules


def render_firewall_script(ssh_cidrs: Sequence[str], web_cidrs: Sequence[str]) -> str:
    ruleset = "\n".join(["*filter", f":{CHAIN} - [0:0]", *ingress_rules(ssh_cidrs, web_cidrs), "COMMIT"])
    return f"""#!/bin/sh
# Applies FlowSpace's ingress rules; safe to run again (boot, every rollout).
set -eu

iptables-restore --wait --noflush <<'RULES'
{ruleset}
RULES

if ! iptables --wait -C INPUT -j {CHAIN} 2>/dev/null; then
  reject_at=$(iptables --wait -L INPUT --line-numbers -n | awk '$2 == "REJECT" {{ print $1; exit }}')
  if [ -n "$reject_at" ]; then
    iptables --wait -I INPUT "$reject_at" -j {CHAIN}
  else
    iptables --wait -A INPUT -j {CHAIN}
  fi
fi
"""


def render_firewall_unit() -> str:
    """Re-applies the rules at boot, after the image's saved rules and before Docker adds its own."""
    return f"""[Unit]
Description=FlowSpace host firewall rules
After=netfilter-persistent.service
Before=docker.service network-online.target
Wants=netfilter-persistent.service

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart={SCRIPT_PATH}

[Install]
WantedBy=multi-user.target
"""
