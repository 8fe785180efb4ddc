"""prod and dev side by side, and the Vercel environment each of them feeds."""

from __future__ import annotations

import pytest

from testbed.mocks import Run, is_secret, reveal, run_program

VERCEL = {"flowspace:vercelProjectId": "prj_abc123", "flowspace:vercelTeamId": "team_flowcoder"}
VARIABLE = "vercel:index/projectEnvironmentVariable:ProjectEnvironmentVariable"


@pytest.fixture(scope="module")
def prod() -> Run:
    return run_program("prod", overrides=VERCEL)


@pytest.fixture(scope="module")
def dev() -> Run:
    return run_program("dev", overrides=VERCEL)


def names(run: Run) -> set[str]:
    found = set()
    for resource in run.resources:
        for key in ("displayName", "name"):
            value = resource.inputs.get(key)
            if isinstance(value, str) and "flowspace" in value:
                found.add(value)
    return found


def test_dev_runs_under_mocks_in_update_and_preview(dev: Run) -> None:
    assert dev.outputs["socket_url"].value == "https://dev-socket.flow-coder.com"
    assert run_program("dev", preview=True).of_type("oci:Core/instance:Instance")


def test_prod_and_dev_names_and_hostnames_are_disjoint(prod: Run, dev: Run) -> None:
    assert names(prod) and names(dev)
    assert not names(prod) & names(dev), names(prod) & names(dev)
    assert all("flowspace-prod" in name for name in names(prod) if "flowspace-" in name)
    hostnames = {
        run_name: {r.inputs["name"] for r in run.of_type("cloudflare:index/dnsRecord:DnsRecord")}
        for run_name, run in (("prod", prod), ("dev", dev))
    }
    assert not hostnames["prod"] & hostnames["dev"]


def test_vercel_gets_the_apps_variables_for_production(prod: Run) -> None:
    variables = {v.inputs["key"]: v.inputs for v in prod.of_type(VARIABLE)}
    assert set(variables) == {
        "NEXT_PUBLIC_SOCKET_URL",
        "NEXT_PUBLIC_LIVEKIT_URL",
        "LIVEKIT_URL",
        "LIVEKIT_API_KEY",
        "LIVEKIT_API_SECRET",
        "SOCKET_METRICS_URL",
        "SOCKET_METRICS_TOKEN",
    }
    secrets = {"LIVEKIT_API_SECRET", "SOCKET_METRICS_TOKEN"}
    for key, variable in variables.items():
        assert variable["targets"] == ["production"], key
        assert variable["projectId"] == "prj_abc123" and variable["teamId"] == "team_flowcoder"
        assert variable["sensitive"] is (key in secrets), key
    assert is_secret(variables["LIVEKIT_API_SECRET"]["value"]) and is_secret(variables["SOCKET_METRICS_TOKEN"]["value"])
    assert reveal(variables["SOCKET_METRICS_URL"]["value"]) == "https://space-socket.flow-coder.com/metrics"
    assert reveal(variables["LIVEKIT_URL"]["value"]) == "https://space-livekit.flow-coder.com"
    assert reveal(variables["NEXT_PUBLIC_LIVEKIT_URL"]["value"]) == "wss://space-livekit.flow-coder.com"
    exported = reveal(prod.outputs["vercel_env"].value)
    assert reveal(variables["LIVEKIT_API_SECRET"]["value"]) == exported["LIVEKIT_API_SECRET"]


def test_dev_feeds_preview_and_development_and_keeps_the_secret_sensitive(dev: Run) -> None:
    variables = {v.inputs["key"]: v.inputs for v in dev.of_type(VARIABLE)}
    assert variables["NEXT_PUBLIC_SOCKET_URL"]["targets"] == ["preview", "development"]
    assert reveal(variables["NEXT_PUBLIC_SOCKET_URL"]["value"]) == "https://dev-socket.flow-coder.com"
    # Vercel keeps sensitive variables out of development.
    assert variables["LIVEKIT_API_SECRET"]["targets"] == ["preview"]


def test_vercel_env_is_off_when_no_project_is_configured() -> None:
    assert not run_program("prod").of_type(VARIABLE)


@pytest.mark.parametrize(
    ("overrides", "key"),
    [
        ({"flowspace:vercelProjectId": "flowspace"}, "vercelProjectId"),
        ({**VERCEL, "flowspace:vercelTargets": '["staging"]'}, "vercelTargets"),
    ],
)
def test_bad_vercel_settings_name_their_key(overrides: dict[str, str], key: str) -> None:
    with pytest.raises(Exception, match=f"flowspace:{key}"):
        run_program(overrides=overrides)


def test_each_stack_generates_its_own_livekit_keys(prod: Run, dev: Run) -> None:
    # Generated in each stack's own state, from nothing a stack file or another stack could share.
    for stack, run in (("prod", prod), ("dev", dev)):
        for name in ("rollout-livekit-api-secret", "rollout-livekit-api-key"):
            generated = run.named(name)
            assert generated.typ.startswith("random:index/random"), f"{stack}: {name} is not generated"
            assert generated.urn.startswith(f"urn:pulumi:{stack}::flowspace::"), generated.urn
            assert set(generated.inputs) <= {"length", "special", "upper", "lower", "numeric"}, generated.inputs
