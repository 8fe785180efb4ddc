"""The host firewall: the ports table as iptables rules on top of Oracle's stock Ubuntu rules.

Oracle's images end INPUT with a REJECT, so our rules sit in their own chain that INPUT jumps to
just before that REJECT. The chain is replaced atomically (iptables-restore --noflush) and never
flushes INPUT itself, which also carries the image's boot-volume rules.
"""

from __future__ import annotations

from model.layout import FIREWALL_SCRIPT_PATH
from model.ports import Ingress

CHAIN = "FLOWSPACE-INGRESS"


def ingress_rules(ingress: Ingress) -> list[str]:
    return [
        f"-A {CHAIN} -s {source} -p {port.protocol} -m {port.protocol} --dport {port.spec} "
        f'-m comment --comment "{port.name}" -j ACCEPT'
        for port, source in ingress.rules()
    ]


def render_firewall_script(ingress: Ingress) -> str:
    ruleset = "\n".join(["*filter", f":{CHAIN} - [0:0]", *ingress_rules(ingress), "COMMIT"])
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
ExecStart={FIREWALL_SCRIPT_PATH}

[Install]
WantedBy=multi-user.target
"""
