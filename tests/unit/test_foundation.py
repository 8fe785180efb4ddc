"""The OCI network and server as the program declares them, in update and preview mode."""

from __future__ import annotations

import base64
import json

import pytest
import yaml

from model import ports
from testbed.mocks import (
    CLOUDFLARE_IPV4,
    NEWEST_IMAGE,
    PRIVATE_IP_ID,
    RESERVED_IP,
    Run,
    is_secret,
    reveal,
    run_failing_program,
    run_program,
)


@pytest.fixture(scope="module")
def prod() -> Run:
    return run_program("prod")


@pytest.fixture(scope="module")
def prod_preview() -> Run:
    return run_program("prod", preview=True)


def all_ingress(run: Run) -> list[dict[str, object]]:
    rules = run.one("oci:Core/securityList:SecurityList").inputs["ingressSecurityRules"]
    assert isinstance(rules, list)
    return rules


def ingress(run: Run) -> list[dict[str, object]]:
    """The rules that open ports (all but ICMP's)."""
    return [rule for rule in all_ingress(run) if rule["protocol"] != ports.IANA_PROTOCOL_NUMBERS["icmp"]]


def test_path_mtu_discovery_reaches_the_vm_and_no_other_icmp(prod: Run) -> None:
    icmp = [rule for rule in all_ingress(prod) if rule["protocol"] == ports.IANA_PROTOCOL_NUMBERS["icmp"]]
    assert icmp == [
        {
            "protocol": "1",
            "source": "0.0.0.0/0",
            "sourceType": "CIDR_BLOCK",
            "stateless": False,
            "description": "path-mtu-discovery",
            "icmpOptions": {"type": 3, "code": 4},
        }
    ]


def opened(rule: dict[str, object]) -> tuple[str, int, int]:
    options = rule.get("tcpOptions") or rule.get("udpOptions")
    assert isinstance(options, dict)
    return (str(rule["protocol"]), int(options["min"]), int(options["max"]))


def test_security_list_opens_exactly_the_ports_table(prod: Run) -> None:
    wanted = {(ports.IANA_PROTOCOL_NUMBERS[p.protocol], p.first, p.last) for p in ports.PUBLIC_PORTS}
    assert {opened(rule) for rule in ingress(prod)} == wanted


def test_security_list_never_exposes_internal_ports(prod: Run) -> None:
    for rule in ingress(prod):
        _, low, high = opened(rule)
        for internal in ports.INTERNAL_PORTS:
            assert not low <= internal.port <= high, f"security list rule {rule} exposes {internal.name}"


def test_ssh_is_open_only_to_configured_cidrs() -> None:
    run = run_program(overrides={"flowspace:sshAllowedCidrs": '["198.51.100.0/24", "203.0.113.7/32"]'})
    sources = sorted(str(r["source"]) for r in ingress(run) if opened(r)[1] == ports.SSH.first)
    assert sources == ["198.51.100.0/24", "203.0.113.7/32"]


def test_shape_and_boot_volume_come_from_config(prod: Run) -> None:
    instance = prod.one("oci:Core/instance:Instance").inputs
    assert instance["shape"] == "VM.Standard.A1.Flex"
    assert instance["shapeConfig"] == {"ocpus": 4, "memoryInGbs": 24}
    assert instance["sourceDetails"]["bootVolumeSizeInGbs"] == "50"
    assert instance["availabilityDomain"] == "Uocm:AP-CHUNCHEON-1-AD-1"


def test_newest_ubuntu_image_is_looked_up_unless_pinned(prod: Run) -> None:
    assert prod.one("oci:Core/instance:Instance").inputs["sourceDetails"]["sourceId"] == NEWEST_IMAGE
    lookups = [args for token, args in prod.calls if token == "oci:Core/getImages:getImages"]
    assert lookups and lookups[0]["operatingSystemVersion"] == "24.04"
    assert lookups[0]["shape"] == "VM.Standard.A1.Flex"
    pinned_image = "ocid1.image.oc1.ap-chuncheon-1.aaaaaaaapinnedpinnedpinnedpinned"
    pinned = run_program(overrides={"flowspace:imageId": pinned_image})
    assert pinned.one("oci:Core/instance:Instance").inputs["sourceDetails"]["sourceId"] == pinned_image
    assert not [token for token, _ in pinned.calls if token == "oci:Core/getImages:getImages"]


def test_instance_ignores_image_and_user_data_drift(prod: Run) -> None:
    instance = prod.one("oci:Core/instance:Instance")
    assert set(instance.ignore_changes) == {"metadata", "sourceDetails.sourceId"}


def test_reserved_ip_is_attached_to_the_instances_primary_private_ip(prod: Run) -> None:
    public_ip = prod.one("oci:Core/publicIp:PublicIp").inputs
    assert public_ip["lifetime"] == "RESERVED"
    assert public_ip["privateIpId"] == PRIVATE_IP_ID
    assert prod.one("oci:Core/instance:Instance").inputs["createVnicDetails"]["assignPublicIp"] == "false"
    assert prod.outputs["public_ip"].value == RESERVED_IP


def test_instance_metadata_is_secret_and_carries_cloud_init(prod: Run) -> None:
    metadata = prod.one("oci:Core/instance:Instance").inputs["metadata"]
    assert is_secret(metadata), "instance metadata (host key inside) must be secret"
    user_data = base64.b64decode(reveal(metadata)["user_data"]).decode()
    assert user_data.startswith("#cloud-config\n")
    document = yaml.safe_load(user_data)
    assert "server-host-key" in document["ssh_keys"]["ed25519_private"]
    assert reveal(metadata)["ssh_authorized_keys"].startswith("ssh-ed25519 ")


def test_keys_are_secret_outputs(prod: Run) -> None:
    assert prod.outputs["ssh_private_key"].secret
    assert prod.outputs["ssh_host_public_key"].known
    assert not prod.outputs["ssh_host_public_key"].secret


def test_every_resource_is_parented_to_its_component(prod: Run) -> None:
    components = {r.urn for r in prod.resources if r.typ.startswith("flowspace:")}
    for resource in prod.resources:
        if resource.typ.startswith("flowspace:"):
            # A component sits at the root or inside another component (the Host's parts).
            at_root = resource.parent.endswith("pulumi:pulumi:Stack::flowspace-prod")
            assert at_root or resource.parent in components, resource.name
        else:
            assert resource.parent in components, f"{resource.name} is not parented to a component"


def test_dependency_edges_follow_the_graph(prod: Run) -> None:
    urn = {r.name: r.urn for r in prod.resources}
    assert urn["network-vcn"] in prod.named("network-subnet").dependencies
    assert urn["network-security-list"] in prod.named("network-subnet").dependencies
    assert urn["network-subnet"] in prod.named("server-instance").dependencies
    assert urn["server-instance"] in prod.named("server-public-ip").dependencies


def test_outputs_are_present(prod: Run) -> None:
    for name in ("public_ip", "ssh_command", "instance_id", "ssh_private_key", "ssh_host_public_key"):
        assert name in prod.outputs, name
    assert prod.outputs["ssh_command"].value == f"ssh ubuntu@{RESERVED_IP}"


def test_preview_with_unknown_values_declares_the_same_graph(prod: Run, prod_preview: Run) -> None:
    assert sorted(r.name for r in prod_preview.resources) == sorted(r.name for r in prod.resources)
    assert not prod_preview.outputs["public_ip"].known


def test_origin_lock_limits_web_ports_to_cloudflare(prod: Run) -> None:
    web = [r for r in ingress(prod) if opened(r)[1] in (ports.HTTP.first, ports.HTTPS.first)]
    assert sorted(str(r["source"]) for r in web) == sorted(CLOUDFLARE_IPV4 * 2)
    others = [r for r in ingress(prod) if opened(r)[1] not in (ports.HTTP.first, ports.HTTPS.first, ports.SSH.first)]
    assert {r["source"] for r in others} == {"0.0.0.0/0"}


def test_without_origin_lock_web_ports_are_open_to_all() -> None:
    run = run_program(overrides={"flowspace:originLock": "false"})
    web = [r for r in ingress(run) if opened(r)[1] in (ports.HTTP.first, ports.HTTPS.first)]
    assert {r["source"] for r in web} == {"0.0.0.0/0"} and len(web) == 2
    assert not [token for token, _ in run.calls if token == "cloudflare:index/getIpRanges:getIpRanges"]


def test_host_firewall_in_cloud_init_carries_the_same_origin_lock(prod: Run) -> None:
    metadata = reveal(prod.one("oci:Core/instance:Instance").inputs["metadata"])
    document = yaml.safe_load(base64.b64decode(metadata["user_data"]).decode())
    (script,) = [entry["content"] for entry in document["write_files"] if entry["path"].endswith("flowspace-firewall")]
    for cidr in CLOUDFLARE_IPV4:
        for port in (ports.HTTP.first, ports.HTTPS.first):
            assert f"-s {cidr} -p tcp -m tcp --dport {port} " in script, (
                f"{cidr} -> {port} missing in the host firewall"
            )
    assert "-s 0.0.0.0/0 -p tcp -m tcp --dport 443 " not in script, "443 must not be open to all with the origin lock"
    assert "-s 0.0.0.0/0 -p udp -m udp --dport 50000:60000 " in script


@pytest.mark.parametrize(
    ("value", "expected"), [("3", "index 3 is out of range"), ("Uocm:AP-SEOUL-1-AD-1", "is not one of")]
)
def test_an_availability_domain_the_region_lacks_stops_before_anything_is_declared(value: str, expected: str) -> None:
    run, error = run_failing_program({"flowspace:availabilityDomain": value})
    assert expected in str(error) and "flowspace:availabilityDomain" in str(error), error
    assert "pulumi config set flowspace:availabilityDomain 0" in str(error)
    assert not run.resources, f"declared before the check: {[r.name for r in run.resources]}"


def test_the_reserved_ip_goes_to_the_primary_private_ip_and_legacy_imds_is_off(prod: Run) -> None:
    """The mocks list a secondary address first."""
    assert prod.one("oci:Core/publicIp:PublicIp").inputs["privateIpId"] == PRIVATE_IP_ID
    options = prod.one("oci:Core/instance:Instance").inputs["instanceOptions"]
    assert options == {"areLegacyImdsEndpointsDisabled": True}


def test_an_operators_own_key_gets_in_without_the_state() -> None:
    """Break glass: a key that never was in the state opens the VM beside the deploy key."""
    operator_key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMsGGAAfhkdmdIm7nT1yWNdlhbJLuxmLFWNXbtgY3Mqm ops@laptop"
    run = run_program(overrides={"flowspace:adminSshPublicKeys": json.dumps([operator_key])})
    metadata = reveal(run.one("oci:Core/instance:Instance").inputs["metadata"])
    keys = metadata["ssh_authorized_keys"].splitlines()
    assert len(keys) == 2 and keys[1] == operator_key
    assert keys[0].startswith("ssh-ed25519 ") and keys[0] != operator_key, "the deploy key stays first"
