"""The rendered cloud-init, checked by cloud-init itself; its firewall applied on Oracle's stock rules."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from model import ports
from model.layout import FIREWALL_SCRIPT_PATH, FIREWALL_UNIT
from model.ports import Ingress
from render import firewall
from render.cloud_init import CloudInitSettings, render_cloud_init
from testbed.netns import ORACLE_RULES, Pair, namespace_pair
from testbed.tools import require_root, require_tool

FIXTURES = Path(__file__).parent / "fixtures"
PROBE = Path(__file__).parents[2] / "testbed" / "probe.py"
CLOUDFLARE_STAND_IN = "192.0.2.3"
BROWSER = "192.0.2.2"
HOST_KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----\n"
SETTINGS = CloudInitSettings(
    deploy_user="ubuntu",
    host_private_key_openssh=HOST_KEY,
    host_public_key_openssh="ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHostKey\n",
    ingress=Ingress(("0.0.0.0/0",)),
)

OPEN_TCP = sorted({p.first for p in ports.PUBLIC_PORTS if p.protocol == "tcp"})
OPEN_UDP = sorted({port for p in ports.PUBLIC_PORTS if p.protocol == "udp" for port in {p.first, p.last}} | {55555})
CLOSED_TCP = [*(p.port for p in ports.INTERNAL_PORTS), 8080, 3478]
CLOSED_UDP = [49999, 60001, 3479]


def test_cloud_init_passes_cloud_inits_schema(tmp_path: Path) -> None:
    cloud_init = require_tool("cloud-init")
    path = tmp_path / "user-data"
    path.write_text(render_cloud_init(SETTINGS))
    result = subprocess.run([cloud_init, "schema", "--config-file", str(path)], capture_output=True, text=True)
    assert result.returncode == 0, f"cloud-init schema rejected the user data:\n{result.stdout}{result.stderr}"
    assert "Valid cloud-config" in result.stdout


def test_cloud_init_installs_docker_compose_and_the_persistent_firewall() -> None:
    document = yaml.safe_load(render_cloud_init(SETTINGS))
    assert {"docker.io", "docker-compose-v2"} <= set(document["packages"])
    paths = {entry["path"] for entry in document["write_files"]}
    assert {FIREWALL_SCRIPT_PATH, f"/etc/systemd/system/{FIREWALL_UNIT}"} <= paths
    assert ["systemctl", "enable", "--now", FIREWALL_UNIT] in document["runcmd"]
    assert not any("netfilter-persistent" in " ".join(cmd) and "save" in cmd for cmd in document["runcmd"])
    assert document["ssh_keys"]["ed25519_private"] == HOST_KEY


def test_rendering_is_deterministic() -> None:
    assert render_cloud_init(SETTINGS) == render_cloud_init(SETTINGS)


@pytest.fixture
def host() -> Iterator[Pair]:
    require_root()
    require_tool("iptables-restore")
    with namespace_pair("fw", client_ips=(BROWSER, CLOUDFLARE_STAND_IN)) as pair:
        pair.run(pair.server, "iptables-restore", input_text=ORACLE_RULES.read_text())
        listener = pair.popen(
            pair.server,
            [
                sys.executable,
                str(PROBE),
                "listen",
                ",".join(map(str, OPEN_TCP + CLOSED_TCP)),
                ",".join(map(str, OPEN_UDP + CLOSED_UDP)),
            ],
            stdout=subprocess.PIPE,
        )
        assert listener.stdout is not None and listener.stdout.readline().strip() == b"ready"
        yield pair
        listener.kill()


def apply_firewall(pair: Pair, origin_lock_cidrs: tuple[str, ...] | None) -> None:
    script = firewall.render_firewall_script(Ingress(("0.0.0.0/0",), origin_lock_cidrs))
    result = pair.run(pair.server, "sh", "-s", input_text=script, check=False)
    assert result.returncode == 0, f"firewall script failed: {result.stderr}"


def probe(pair: Pair, source: str) -> dict[str, str]:
    tcp = ",".join(map(str, OPEN_TCP + CLOSED_TCP))
    udp = ",".join(map(str, OPEN_UDP + CLOSED_UDP))
    result = pair.run(pair.client, sys.executable, str(PROBE), "check", pair.server_ip, source, tcp, udp)
    verdicts: dict[str, str] = json.loads(result.stdout)
    return verdicts


def ruleset(pair: Pair) -> list[str]:
    saved = pair.run(pair.server, "iptables-save").stdout.splitlines()
    return [line.split(" [")[0] for line in saved if line.startswith(("-A", ":"))]


def assert_exactly_the_ports_table(verdicts: dict[str, str], web_open: bool = True) -> None:
    web = {f"tcp/{ports.HTTP.first}", f"tcp/{ports.HTTPS.first}"}
    for port in OPEN_TCP:
        expected = web_open or f"tcp/{port}" not in web
        assert (verdicts[f"tcp/{port}"] == "open") == expected, f"tcp/{port}: {verdicts[f'tcp/{port}']}"
    for port in OPEN_UDP:
        assert verdicts[f"udp/{port}"] == "open", f"udp/{port} should be reachable: {verdicts[f'udp/{port}']}"
    for port in CLOSED_TCP:
        assert verdicts[f"tcp/{port}"] != "open", f"tcp/{port} must stay closed"
    for port in CLOSED_UDP:
        assert verdicts[f"udp/{port}"] != "open", f"udp/{port} must stay closed"


def test_before_the_firewall_only_ssh_is_open(host: Pair) -> None:
    verdicts = probe(host, BROWSER)
    assert verdicts["tcp/22"] == "open" and verdicts["tcp/443"] != "open", verdicts


def test_firewall_accepts_exactly_the_ports_table_and_is_idempotent(host: Pair) -> None:
    apply_firewall(host, None)
    first = ruleset(host)
    assert_exactly_the_ports_table(probe(host, BROWSER))
    apply_firewall(host, None)
    assert ruleset(host) == first, "re-applying the firewall changed the ruleset"
    input_rules = [line for line in first if line.startswith("-A INPUT")]
    jump = input_rules.index(f"-A INPUT -j {firewall.CHAIN}")
    assert input_rules[jump + 1].startswith("-A INPUT -j REJECT"), "our chain must sit just before Oracle's REJECT"
    assert any("InstanceServices" in line for line in first), "the image's InstanceServices rules must survive"


def test_origin_lock_lets_only_cloudflare_reach_web_ports(host: Pair) -> None:
    apply_firewall(host, (f"{CLOUDFLARE_STAND_IN}/32",))
    assert_exactly_the_ports_table(probe(host, BROWSER), web_open=False)
    assert_exactly_the_ports_table(probe(host, CLOUDFLARE_STAND_IN), web_open=True)
