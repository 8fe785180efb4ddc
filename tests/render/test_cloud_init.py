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
from model.layout import FIREWALL_SCRIPT_PATH, FIREWALL_UNIT, SYSCTL_PATH
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


def test_cloud_init_gives_livekit_its_udp_buffers_before_docker_starts() -> None:
    document = yaml.safe_load(render_cloud_init(SETTINGS))
    (written,) = [entry for entry in document["write_files"] if entry["path"] == SYSCTL_PATH]
    assert written["content"] == "net.core.rmem_max=5000000\nnet.core.wmem_max=5000000\n"
    commands = document["runcmd"]
    loads = commands.index(["sysctl", "--quiet", "--load", SYSCTL_PATH])
    assert loads < commands.index(["systemctl", "enable", "--now", "docker.service"])


def test_rendering_is_deterministic() -> None:
    assert render_cloud_init(SETTINGS) == render_cloud_init(SETTINGS)


SERVER_V6, BROWSER_V6, CLOUDFLARE_STAND_IN_V6 = "fd00:f5::1", "fd00:f5::2", "fd00:f5::3"
# What each baseline leaves open that is not ours to close: on a plain host, any port nothing manages.
UNMANAGED_TCP, UNMANAGED_UDP = [8080, 3478], [49999, 60001, 3479]


@pytest.fixture(params=["oracle", "plain"])
def host(request: pytest.FixtureRequest) -> Iterator[Pair]:
    """The VM: Oracle's stock rules (final REJECT, its own SSH ACCEPT) or a plain host (no rules)."""
    require_root()
    require_tool("iptables-restore")
    require_tool("ip6tables-restore")
    with namespace_pair("fw", client_ips=(BROWSER, CLOUDFLARE_STAND_IN)) as pair:
        server_dev = pair.run(pair.server, "ip", "-o", "link", "show", "type", "veth").stdout.split(":")[1].strip()
        client_dev = pair.run(pair.client, "ip", "-o", "link", "show", "type", "veth").stdout.split(":")[1].strip()
        pair.run(pair.server, "ip", "-6", "addr", "add", f"{SERVER_V6}/64", "dev", server_dev.split("@")[0], "nodad")
        for address in (BROWSER_V6, CLOUDFLARE_STAND_IN_V6):
            pair.run(pair.client, "ip", "-6", "addr", "add", f"{address}/64", "dev", client_dev.split("@")[0], "nodad")
        if request.param == "oracle":
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


def baseline(pair: Pair) -> str:
    return "oracle" if "InstanceServices" in pair.run(pair.server, "iptables-save").stdout else "plain"


def apply_firewall(pair: Pair, ingress: Ingress) -> None:
    script = firewall.render_firewall_script(ingress)
    result = pair.run(pair.server, "sh", "-s", input_text=script, check=False)
    assert result.returncode == 0, f"firewall script failed: {result.stderr}"


def probe(pair: Pair, source: str) -> dict[str, str]:
    tcp = ",".join(map(str, OPEN_TCP + CLOSED_TCP))
    udp = ",".join(map(str, OPEN_UDP + CLOSED_UDP))
    server = SERVER_V6 if ":" in source else pair.server_ip
    result = pair.run(pair.client, sys.executable, str(PROBE), "check", server, source, tcp, udp)
    verdicts: dict[str, str] = json.loads(result.stdout)
    return verdicts


def ruleset(pair: Pair, tool: str = "iptables-save") -> list[str]:
    saved = pair.run(pair.server, tool).stdout.splitlines()
    return [line.split(" [")[0] for line in saved if line.startswith(("-A", ":"))]


def assert_exposure(verdicts: dict[str, str], host_baseline: str, web_open: bool = True, ssh_open: bool = True) -> None:
    """Exactly the ports table: public ports as allowed, internal ports never, the rest as the baseline has it."""
    web = {ports.HTTP.first, ports.HTTPS.first}
    for port in OPEN_TCP:
        expected = (web_open or port not in web) and (ssh_open or port != ports.SSH.first)
        assert (verdicts[f"tcp/{port}"] == "open") == expected, f"tcp/{port}: {verdicts[f'tcp/{port}']}"
    for port in OPEN_UDP:
        assert verdicts[f"udp/{port}"] == "open", f"udp/{port} should be reachable: {verdicts[f'udp/{port}']}"
    for port in (p.port for p in ports.INTERNAL_PORTS):
        assert verdicts[f"tcp/{port}"] != "open", f"internal tcp/{port} must never be reachable"
    if host_baseline == "oracle":
        for port in UNMANAGED_TCP:
            assert verdicts[f"tcp/{port}"] != "open", f"tcp/{port}: Oracle's REJECT must still hold"
        for port in UNMANAGED_UDP:
            assert verdicts[f"udp/{port}"] != "open", f"udp/{port}: Oracle's REJECT must still hold"


def test_before_the_firewall_the_baseline_decides(host: Pair) -> None:
    verdicts = probe(host, BROWSER)
    assert verdicts["tcp/22"] == "open", verdicts
    assert (verdicts["tcp/443"] == "open") is (baseline(host) == "plain"), verdicts


def test_firewall_accepts_exactly_the_ports_table_and_is_idempotent(host: Pair) -> None:
    apply_firewall(host, Ingress(("0.0.0.0/0",)))
    first, first_v6 = ruleset(host), ruleset(host, "ip6tables-save")
    assert_exposure(probe(host, BROWSER), baseline(host))
    assert_exposure(probe(host, BROWSER_V6), "plain")
    apply_firewall(host, Ingress(("0.0.0.0/0",)))
    assert (ruleset(host), ruleset(host, "ip6tables-save")) == (first, first_v6), "re-applying changed the rules"
    for rules in (first, first_v6):
        input_rules = [line for line in rules if line.startswith("-A INPUT")]
        assert input_rules[0] == f"-A INPUT -j {firewall.CHAIN}", "our chain decides first"
        assert input_rules.count(f"-A INPUT -j {firewall.CHAIN}") == 1
    if baseline(host) == "oracle":
        assert any("InstanceServices" in line for line in first), "the image's InstanceServices rules must survive"


def test_origin_lock_lets_only_cloudflare_reach_web_ports_over_ipv4_and_ipv6(host: Pair) -> None:
    apply_firewall(host, Ingress(("0.0.0.0/0",), (f"{CLOUDFLARE_STAND_IN}/32",), (f"{CLOUDFLARE_STAND_IN_V6}/128",)))
    assert_exposure(probe(host, BROWSER), baseline(host), web_open=False)
    assert_exposure(probe(host, CLOUDFLARE_STAND_IN), baseline(host), web_open=True)
    assert_exposure(probe(host, BROWSER_V6), "plain", web_open=False)
    assert_exposure(probe(host, CLOUDFLARE_STAND_IN_V6), "plain", web_open=True)


def test_narrowed_ssh_is_enforced_before_the_images_own_ssh_rule(host: Pair) -> None:
    apply_firewall(host, Ingress((f"{CLOUDFLARE_STAND_IN}/32",)))
    assert_exposure(probe(host, BROWSER), baseline(host), ssh_open=False)
    assert_exposure(probe(host, CLOUDFLARE_STAND_IN), baseline(host), ssh_open=True)
    assert_exposure(probe(host, BROWSER_V6), "plain", ssh_open=False)


def test_an_older_placement_is_replaced_and_a_reboot_restores_the_rules(host: Pair) -> None:
    # The placement of earlier releases: just before the image's REJECT (or appended on a plain host).
    host.run(host.server, "iptables", "-N", firewall.CHAIN)
    host.run(host.server, "iptables", "-A", "INPUT", "-j", firewall.CHAIN)
    apply_firewall(host, Ingress(("0.0.0.0/0",), (f"{CLOUDFLARE_STAND_IN}/32",), ()))
    input_rules = [line for line in ruleset(host) if line.startswith("-A INPUT")]
    assert input_rules.count(f"-A INPUT -j {firewall.CHAIN}") == 1 and input_rules[0] == f"-A INPUT -j {firewall.CHAIN}"
    before = probe(host, BROWSER)
    # A reboot: the image's saved rules (or none), then the boot unit runs the same script.
    host.run(
        host.server,
        "iptables-restore",
        input_text=ORACLE_RULES.read_text() if baseline(host) == "oracle" else "*filter\nCOMMIT\n",
    )
    host.run(host.server, "ip6tables-restore", input_text="*filter\nCOMMIT\n")
    apply_firewall(host, Ingress(("0.0.0.0/0",), (f"{CLOUDFLARE_STAND_IN}/32",), ()))
    assert probe(host, BROWSER) == before
    assert_exposure(probe(host, BROWSER_V6), "plain", web_open=False)
