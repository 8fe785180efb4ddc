"""The host's upkeep files: what unattended-upgrades and needrestart are told."""

from __future__ import annotations

import re

from model.layout import ENGINE_DEPENDENCIES, ENGINE_PACKAGES
from model.ports import Ingress
from render.cloud_init import CloudInitSettings, cloud_config
from render.upkeep import render_apt_upkeep, render_needrestart


def test_docker_and_what_it_runs_on_are_never_upgraded_unattended() -> None:
    text = render_apt_upkeep("19:00")
    (held,) = re.findall(r"Unattended-Upgrade::Package-Blacklist \{ (.*) \};", text)
    assert re.findall(r'"([^"]+)";', held) == [*ENGINE_PACKAGES, *ENGINE_DEPENDENCIES]
    first_boot = cloud_config(CloudInitSettings("ubuntu", "key", "public key", Ingress(("0.0.0.0/0",))))
    assert set(ENGINE_PACKAGES) <= set(first_boot["packages"]), "what first boot installs is what is held"


def test_a_reboot_an_update_asks_for_waits_for_the_window() -> None:
    text = render_apt_upkeep("03:30")
    assert 'Unattended-Upgrade::Automatic-Reboot "true";' in text
    assert 'Unattended-Upgrade::Automatic-Reboot-Time "03:30";' in text
    # Every line is apt.conf syntax: a comment, or `Name "value";` / `Name { ... };`.
    for line in text.splitlines():
        assert line.startswith("//") or re.fullmatch(r'[\w:-]+ (".*"|\{ .* \});', line), line


def test_needrestart_never_restarts_docker_or_containerd() -> None:
    (rule,) = [line for line in render_needrestart().splitlines() if not line.startswith("#")]
    pattern = re.search(r"qr\((.*)\)\} = 0;$", rule)
    assert pattern is not None, rule
    matches = re.compile(pattern.group(1).replace("\\\\", "\\"))
    assert matches.match("docker.service") and matches.match("containerd.service")
    assert not matches.match("ssh.service") and not matches.match("docker.socket.service")
