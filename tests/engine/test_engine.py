"""The project's program under the real Pulumi engine (CLI, language host, command and random
plugins) against an OpenSSH server in a network namespace, exactly as a user runs `pulumi`.

The tests of one module share one stack and run in order: each scenario starts from the state the
previous one left, as the next `pulumi up` on a real stack would.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from model import layout
from scripts.host_diff import host_diff, release_from_preview
from testbed.engine import (
    APP_DIR,
    ROOT,
    Operator,
    Run,
    SshHost,
    existing_server_config,
    failing_socket_server,
    install_engine,
    operator_for,
    project_copy,
    reference_socket_server,
    ssh_host,
)
from testbed.mocks import run_with_config
from testbed.tools import require, require_root, require_tool
from tests.unit.identities import engine_urns

UP = ("up", "--yes", "--skip-preview", "--non-interactive", "--diff")


@pytest.fixture(scope="module")
def engine() -> Path:
    require_root()
    for tool in ("ssh-keygen", "unshare", "nsenter", "flock"):
        require_tool(tool)
    require(Path("/usr/sbin/sshd").exists(), "openssh-server is not installed")
    try:
        return install_engine()
    except RuntimeError as error:
        require(False, f"the Pulumi engine could not be installed: {error}")
        raise


@pytest.fixture(scope="module")
def site(engine: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[SshHost, Operator]]:
    work = tmp_path_factory.mktemp("engine")
    with (
        ssh_host(work / "host") as host,
        operator_for(host, engine, work / "operator", existing_server_config(host)) as operator,
    ):
        yield host, operator


@pytest.fixture
def host(site: tuple[SshHost, Operator]) -> SshHost:
    return site[0]


@pytest.fixture
def operator(site: tuple[SshHost, Operator]) -> Operator:
    return site[1]


def current_release(host: SshHost) -> str:
    return host.inside("readlink", f"{APP_DIR}/current").stdout.strip().rsplit("/", 1)[-1]


def running_release(host: SshHost) -> str:
    """The current release when its services run (LiveKit, Caddy, the socket server's live slot)."""
    slot = host.inside("cat", f"{APP_DIR}/{layout.LIVE_SLOT_FILE}", check=False).stdout.strip()
    serving = {"livekit", "caddy", f"socket-server-{slot}"}
    return current_release(host) if slot and set(host.containers()) == serving else ""


def releases_on(host: SshHost) -> set[str]:
    return {path.split("/")[1] for path in host.files() if path.startswith("releases/") and path.count("/") == 1}


def test_0_a_committed_stack_file_without_the_operators_keys_is_refused_by_name(engine: Path, tmp_path: Path) -> None:
    """Pulumi.yaml's typed declarations pass the engine's own check; the program then lists what is missing."""
    home, state = tmp_path / "home", tmp_path / "state"
    home.mkdir()
    state.mkdir()
    operator = Operator(engine, project_copy(tmp_path / "project"), "", state, home, "prod")
    shutil.copy(ROOT / "Pulumi.prod.yaml", operator.project / "Pulumi.prod.yaml")
    operator.must("stack", "init")
    # A misspelt key: the program lists the keys the engine hands it, and refuses it by name.
    operator.set_config({"sshAllowedCIDRs": "0.0.0.0/0"})
    run = operator.pulumi("preview", "--non-interactive")
    assert run.returncode != 0
    assert "4 configuration problem(s); nothing was created" in run.output, run.output[-3000:]
    assert "flowspace:sshAllowedCIDRs: is not a setting of this program; did you mean sshAllowedCidrs?" in run.output
    assert "pulumi config set flowspace:compartmentId" in run.output
    assert "pulumi config set flowspace:socketServerImage" in run.output, "prod names its socket server"
    assert "pulumi config set flowspace:cloudflareZoneId" in run.output
    assert "must be of type" not in run.output, "the committed stack file fails Pulumi.yaml's types"


def test_1_preview_lists_the_creates_and_touches_nothing_on_the_host(host: SshHost, operator: Operator) -> None:
    run = operator.must("preview", "--non-interactive")
    assert "+ 21 to create" in run.output, run.output[-2000:]
    assert "command:remote:Command" in run.output and "rollout-activate" in run.output
    assert host.sessions() == 0, "preview opened SSH sessions"
    assert host.containers() == {}


def test_2_up_lands_the_release_activates_it_and_sets_the_outputs(host: SshHost, operator: Operator) -> None:
    run = operator.must(*UP)
    assert "21 created" in run.output
    outputs = operator.outputs()
    release = str(outputs["release_id"])
    files = host.files()
    assert files[f"releases/{release}/secrets"] == "700", files
    assert files[f"releases/{release}/secrets/livekit-keys.yaml"] == "600"
    assert files[f"releases/{release}/secrets/caddy.env"] == "600"
    # One archive shipped; unpacked on the host for the build.
    assert f"releases/{release}/socket-server/server.js" in files, files
    assert {
        f"releases/{release}/{name}" for name in ("docker-compose.yml", "livekit.yaml", "Caddyfile", "release.sh")
    } <= set(files)
    assert current_release(host) == release and running_release(host) == release
    built = host.docker().docker("images", "--quiet", layout.SOCKET_SERVER_BUILT_IMAGE).stdout.split()
    assert len(built) == 1, "the socket server's image is built on the host"
    assert set(host.containers()) == {"livekit", "caddy", "socket-server-blue"}
    # The gate reached both through Caddy, with the certificate Caddy holds for each.
    assert "healthy: https://space-socket.flow-coder.com/healthz" in run.output
    assert "healthy: https://space-livekit.flow-coder.com/healthz" in run.output
    assert outputs["socket_url"] == "https://space-socket.flow-coder.com"
    assert outputs["public_ip"] == "144.24.72.143"
    assert outputs["ssh_command"] == f"ssh root@{host.address}"
    assert outputs["vercel_env"] == "[secret]"


def test_2b_the_state_holds_the_urns_the_identity_fixtures_derive(host: SshHost, operator: Operator) -> None:
    """The identity fixtures' URNs are derived under mocks (tests/unit/identities.py); here the
    engine's own, for the same configuration, are the same."""
    config = {f"flowspace:{key}": value for key, value in existing_server_config(host).items()}
    config["flowspace:targetPrivateKey"] = host.login_key.read_text()
    derived = engine_urns(operator.stack, run_with_config(operator.stack, config).resources)
    exported = json.loads(operator.must("stack", "export").stdout)["deployment"]["resources"]
    in_state = {resource["urn"] for resource in exported if not resource["type"].startswith("pulumi:")}
    assert in_state == set(derived)


def test_3_up_again_changes_nothing_and_runs_nothing_on_the_host(host: SshHost, operator: Operator) -> None:
    containers, sessions = host.containers(), host.sessions()
    run = operator.must(*UP)
    assert "21 unchanged" in run.output, run.output[-2000:]
    assert host.containers() == containers, "an unchanged stack touched the services"
    assert host.sessions() == sessions, "an unchanged stack opened SSH sessions"


def test_4_one_changed_setting_rolls_exactly_one_new_release(host: SshHost, operator: Operator) -> None:
    before = str(operator.outputs()["release_id"])
    operator.set_config({"memoryGb": "8"})
    operator.must(*UP)
    after = str(operator.outputs()["release_id"])
    assert after != before
    assert releases_on(host) == {before, after}, "the previous release is kept, and only one is added"
    changed = [
        name
        for name in ("docker-compose.yml", "livekit.yaml", "Caddyfile", "firewall.sh", "release.sh", "release.env")
        if host.read(f"releases/{before}/{name}") != host.read(f"releases/{after}/{name}")
    ]
    assert changed == ["docker-compose.yml"], changed
    assert current_release(host) == after and running_release(host) == after


def as_uploaded(files: dict[str, str]) -> dict[str, str]:
    """A release's files but the socket server's source, which the host unpacks only to build a new
    image (the diff shows it file by file)."""
    return {name: text for name, text in files.items() if not name.startswith(f"{layout.SOCKET_SERVER_DIR}/")}


def test_4a_scripts_deploy_shows_the_preview_and_the_policy_verdict_then_rolls_out(
    host: SshHost, operator: Operator
) -> None:
    """The operator's deploy command, from the checkout: the preview with the policy pack, then `up`,
    from a copy holding everything the program runs; it changes nothing without an answer."""
    serving = str(operator.outputs()["release_id"])
    operator.set_config({"healthGateSeconds": "7"})
    command = [str(ROOT / "scripts" / "deploy"), "-s", operator.stack, "--project-dir", str(operator.project)]

    def deploy(*extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["ip", "netns", "exec", operator.namespace, *command, *extra],
            env=operator.env(),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )

    # The policy pack's virtualenv comes from PyPI, out of the namespace's reach: made first, here.
    subprocess.run([str(operator.project / "scripts" / "ensure-venv"), "--policy"], check=True)
    unasked = deploy()
    assert unasked.returncode == 2 and "pass --yes" in unasked.stderr, unasked
    assert str(operator.outputs()["release_id"]) == serving and current_release(host) == serving
    run = deploy("--yes")
    assert run.returncode == 0, (run.stdout + run.stderr)[-4000:]
    assert "the preview, with the policy pack's verdict" in run.stdout
    assert "flowspace-always-free" in run.stdout, run.stdout[-4000:]
    assert "rollout-activate" in run.stdout and "[deploy] done" in run.stdout, run.stdout[-4000:]
    rolled = str(operator.outputs()["release_id"])
    assert rolled != serving and current_release(host) == rolled and running_release(host) == rolled


def test_4b_the_host_diff_from_the_recorded_release_is_what_the_next_up_uploads(
    host: SshHost, operator: Operator
) -> None:
    operator.set_config({"memoryGb": "9"})
    document = json.loads(operator.must("preview", "--json", "--diff", "--non-interactive").stdout)
    old, new = release_from_preview(document, "old"), release_from_preview(document, "new")
    assert old is not None and new is not None
    live = str(operator.outputs()["release_id"])
    assert as_uploaded(old.files) == {name: host.read(f"releases/{live}/{name}") for name in as_uploaded(old.files)}, (
        "old side is the live release"
    )
    diff = host_diff(old, new)
    assert [change.name for change in diff.files if change.status != "unchanged"] == ["docker-compose.yml"]
    assert not diff.headlines
    operator.must(*UP)
    rolled = str(operator.outputs()["release_id"])
    landed = {name: host.read(f"releases/{rolled}/{name}") for name in as_uploaded(new.files)}
    assert as_uploaded(new.files) == landed, "new side is what landed"


def test_4c_the_operator_command_reads_the_host_rolls_back_and_forward_again(host: SshHost, operator: Operator) -> None:
    declared = str(operator.outputs()["release_id"])
    previous = sorted(releases_on(host) - {declared})

    def ops(*args: str) -> subprocess.CompletedProcess[str]:
        command = [str(ROOT / "scripts" / "ops"), "-s", operator.stack, "--project-dir", str(operator.project)]
        return subprocess.run(
            ["ip", "netns", "exec", operator.namespace, *command, *args],
            env=operator.env(),
            capture_output=True,
            text=True,
            check=False,
        )

    status = ops("status")
    assert status.returncode == 0, status.stderr
    assert f"release: {declared}" in status.stdout and "livekit: Up" in status.stdout, status.stdout
    assert "firewall:" in status.stdout and "memory:" in status.stdout and "disk:" in status.stdout
    assert f"{declared}  running" in ops("releases").stdout
    assert "caddy-1  | " in ops("logs", "caddy").stdout
    version = ops("exec", "caddy", "--", "caddy", "version")
    assert version.returncode == 0 and version.stdout.startswith("v2."), version
    assert ops("logs", "postgres").returncode == 1, "only the stack's services"

    rolled = ops("rollback")
    assert rolled.returncode == 0, rolled.stderr
    assert current_release(host) in previous and current_release(host) != declared
    assert "the next `pulumi up` activates it again" in rolled.stdout
    again = operator.must(*UP)
    assert "+ 1 created" in again.output or "1 created" in again.output, again.output[-2000:]
    assert current_release(host) == declared and running_release(host) == declared, "up restores the declared one"
    assert f"{declared}  running" in ops("releases").stdout
    assert ops("rollback").returncode == 0 and current_release(host) != declared
    forward = ops("forward")
    assert forward.returncode == 0, forward.stderr
    assert current_release(host) == declared and running_release(host) == declared
    operator.must(*UP)

    audit = [line.split() for line in ops("audit").stdout.splitlines()]
    # "<time> <action> <release> by <user> from <address>", oldest first.
    rolled_back, activated = audit[-3], audit[-2]
    assert rolled_back[1].startswith("rolled-back-to-") and rolled_back[2] == declared, audit
    assert activated[1:3] == ["activated", declared] and activated[3:5] == ["by", "root"], audit
    assert activated[5:] == ["from", host.pair.client_ips[0]], audit
    login_key_body = host.login_key.read_text().splitlines()[1]
    for run in (status, rolled):
        assert login_key_body not in run.stdout + run.stderr


def test_5_a_failing_health_gate_fails_up_and_keeps_the_previous_release_serving(
    host: SshHost, operator: Operator
) -> None:
    serving = str(operator.outputs()["release_id"])
    failing_socket_server(operator, "gate")
    run = operator.pulumi(*UP)
    assert run.returncode != 0, "a release that fails its gate must fail pulumi up"
    assert "health gate: https://space-socket.flow-coder.com/healthz did not answer" in run.output
    assert "last log lines of socket-server-" in run.output, "the failing service's log lines are shown"
    assert f"restoring the previous release {serving}" in run.output
    assert current_release(host) == serving and running_release(host) == serving
    reference_socket_server(operator)
    operator.set_config({"memoryGb": "10"})
    operator.must(*UP)
    fixed = str(operator.outputs()["release_id"])
    assert fixed != serving and current_release(host) == fixed and running_release(host) == fixed


def test_6_failures_and_good_releases_in_any_order_never_jam(host: SshHost, operator: Operator) -> None:
    serving = str(operator.outputs()["release_id"])
    failing_socket_server(operator, "gate")
    for memory in ("6", "7"):
        operator.set_config({"memoryGb": memory})
        assert operator.pulumi(*UP).returncode != 0
        assert current_release(host) == serving and serving in releases_on(host)
    reference_socket_server(operator)
    for memory in ("9", "11", "12", "9"):
        operator.set_config({"memoryGb": memory})
        operator.must(*UP)
        live = str(operator.outputs()["release_id"])
        assert current_release(host) == live and running_release(host) == live
        assert len(releases_on(host)) <= 3, releases_on(host)
    again = operator.must(*UP)
    assert "21 unchanged" in again.output, again.output[-2000:]


def test_7_no_plaintext_secret_anywhere_in_the_state(host: SshHost, operator: Operator) -> None:
    livekit_secret = json.loads(operator.must("stack", "output", "vercel_env", "--show-secrets", "--json").stdout)[
        "LIVEKIT_API_SECRET"
    ]
    login_key_body = host.login_key.read_text().splitlines()[1]
    assert len(livekit_secret) >= 32 and len(login_key_body) > 40
    files = operator.state_files()
    assert any(".json" in path.name for path in files), files
    assert any("history" in str(path) or "backups" in str(path) for path in files), "no history or backups to check"
    for path in files:
        text = path.read_bytes().decode(errors="replace")
        assert livekit_secret not in text, f"the LiveKit secret is in {path}"
        assert login_key_body not in text, f"the SSH login key is in {path}"
    stack_file = (operator.project / "Pulumi.engine.yaml").read_text()
    assert login_key_body not in stack_file and "secure:" in stack_file


def test_7b_a_pull_request_previews_the_mirror_and_can_decrypt_none_of_the_stacks_secrets(
    host: SshHost, operator: Operator, tmp_path: Path
) -> None:
    outputs = json.loads(operator.must("stack", "output", "--show-secrets", "--json").stdout)
    stack_secrets = (outputs["vercel_env"]["LIVEKIT_API_SECRET"], outputs["vercel_env"]["SOCKET_METRICS_TOKEN"])
    login_key_body = host.login_key.read_text().splitlines()[1]
    mirror_state = tmp_path / "mirror-state"
    mirror_state.mkdir()
    mirror_passphrase = "mirror-passphrase"
    published = _script(
        ["publish", "-s", operator.stack, "--project-dir", str(operator.project)],
        {
            **operator.env(),
            "PREVIEW_BACKEND_URL": f"file://{mirror_state}",
            "PREVIEW_CONFIG_PASSPHRASE": mirror_passphrase,
        },
    )
    assert published.returncode == 0, published.stderr[-3000:]
    assert stack_secrets[0] not in published.stdout + published.stderr

    # The pull request's side: its checkout (the stack file holds the stack's ciphertexts), the
    # mirror's backend and passphrase, and no passphrase of the stack.
    pull_request = Operator(
        operator.engine,
        project_copy(tmp_path / "pr"),
        "",
        mirror_state,
        operator.home,
        operator.stack,
        passphrase=mirror_passphrase,
    )
    shutil.copy(operator.project / f"Pulumi.{operator.stack}.yaml", pull_request.project)
    configured = _script(
        ["config", "-s", operator.stack, "--project-dir", str(pull_request.project)], pull_request.env()
    )
    assert configured.returncode == 0, configured.stderr[-3000:]
    assert "flowspace:targetPrivateKey" in configured.stdout
    decrypted = pull_request.must("stack", "export", "--show-secrets").stdout
    for secret in (*stack_secrets, login_key_body):
        assert secret not in decrypted, "the mirror holds a secret of the stack"

    before = {path: path.read_bytes() for path in mirror_state.rglob("*") if path.is_file()}
    preview = pull_request.pulumi("preview", "--refresh=false", "--json", "--diff", "--non-interactive")
    assert preview.returncode == 0, preview.output[-4000:]
    assert {path: path.read_bytes() for path in mirror_state.rglob("*") if path.is_file()} == before, (
        "a preview wrote to the mirror"
    )
    document = json.loads(preview.stdout)
    unchanged = host_diff(release_from_preview(document, "old"), release_from_preview(document, "new"), mirror=True)
    assert not unchanged.changed, unchanged.summary()
    # The secrets step as the mirror recorded it (previewMirrorSecrets): the release id is the same.
    assert "flowspace:previewMirrorSecrets" in configured.stdout
    changing = [step["urn"] for step in document["steps"] if step["op"] != "same"]
    assert not changing, f"the deployed program previews changes against its mirror: {changing}"

    pull_request.set_config({"memoryGb": "7"})
    changed = json.loads(pull_request.must("preview", "--refresh=false", "--json", "--diff").stdout)
    diff = host_diff(release_from_preview(changed, "old"), release_from_preview(changed, "new"), mirror=True)
    assert [change.name for change in diff.files if change.status == "changed"] == ["docker-compose.yml"]


def _script(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(ROOT / "scripts" / "preview-mirror"), *args], env=env, capture_output=True, text=True, check=False
    )


def test_7c_replacing_the_rollouts_commands_keeps_the_host_serving(host: SshHost, operator: Operator) -> None:
    """`up --replace` creates the new command before the old one's delete runs: the activation's
    delete then finds its release activated again, by the new one, and leaves it (then every host
    command at once). Nothing restarts, and the next preview has nothing to do."""
    release = current_release(host)
    containers = host.containers()
    commands = [
        str(resource["urn"])
        for resource in json.loads(operator.must("stack", "export").stdout)["deployment"]["resources"]
        if str(resource["type"]).startswith("command:remote:") and "flowspace:host:Rollout" in str(resource["urn"])
    ]
    activation = [urn for urn in commands if urn.endswith("::rollout-activate")]
    assert len(activation) == 1 and len(commands) > 3, commands
    for replaced in (activation, commands):
        run = operator.must(*UP, *(argument for urn in replaced for argument in ("--replace", urn)))
        assert f"{len(replaced)} replaced" in run.output, run.output[-3000:]
        assert "was activated again" in run.output and "stopping the stack" not in run.output, run.output[-3000:]
        assert current_release(host) == release and running_release(host) == release
        assert host.containers() == containers, "a replaced command restarted a service"
    operator.must("preview", "--expect-no-changes", "--non-interactive")


def test_8_destroy_leaves_nothing_on_the_host_or_in_the_state(host: SshHost, operator: Operator) -> None:
    run = operator.must("destroy", "--yes", "--non-interactive", "--skip-preview")
    assert "deleted" in run.output
    assert host.containers() == {}, "services still run after destroy"
    volumes = host.docker().docker("volume", "ls", "--quiet").stdout.split()
    assert not [volume for volume in volumes if volume.startswith(f"{layout.COMPOSE_PROJECT}_")], volumes
    assert host.files() == {}, f"left on the host: {host.files()}"
    exported = json.loads(operator.must("stack", "export").stdout)
    assert not exported["deployment"].get("resources"), "resources left in the state"


def test_9_two_stacks_aimed_at_one_host_never_interleave(engine: Path, tmp_path: Path) -> None:
    with ssh_host(tmp_path / "host", tag="eb") as host:
        config = existing_server_config(host)
        with (
            operator_for(host, engine, tmp_path / "a", config, stack="alpha") as alpha,
            operator_for(host, engine, tmp_path / "b", config, stack="beta") as beta,
        ):
            results: dict[str, Run] = {}
            threads = [
                threading.Thread(target=lambda op=op: results.__setitem__(op.stack, op.pulumi(*UP)))
                for op in (alpha, beta)
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=600)
            codes = {stack: run.returncode for stack, run in results.items()}
            assert sorted(codes.values())[0] == 0 and sorted(codes.values())[1] != 0, codes
            loser = next(stack for stack, run in results.items() if run.returncode != 0)
            winner = next(stack for stack in codes if stack != loser)
            assert (
                f"this host serves stack '{winner}'; refusing to roll stack '{loser}' onto it" in results[loser].output
            )
            assert len(host.containers()) == 3, f"only the owning stack's release runs: {host.containers()}"
            assert host.inside("cat", f"{APP_DIR}/stack").stdout.strip() == winner
    shutil.rmtree(tmp_path, ignore_errors=True)


def test_10_a_machine_replaced_at_the_same_address_gets_the_release(engine: Path, tmp_path: Path) -> None:
    """A new machine behind the same address (a replaced VM keeps its reserved IP): its new host key
    is its identity, so one `up` lands the release there; the old activation's delete reaches the
    new machine and leaves it serving."""
    with (
        ssh_host(tmp_path / "host", tag="ec") as host,
        operator_for(host, engine, tmp_path / "operator", existing_server_config(host)) as operator,
    ):
        operator.must(*UP)
        release = current_release(host)
        host.replace_machine()
        assert not host.files(), "the replacement starts with an empty disk"
        operator.set_config({"targetHostKey": host.host_public_key})
        run = operator.must(*UP)
        assert current_release(host) == release and running_release(host) == release, run.output[-3000:]
        assert "stopping the stack" not in run.output, "nothing is retired: the release stays"
        again = operator.must(*UP)
        assert "21 unchanged" in again.output, again.output[-2000:]
    shutil.rmtree(tmp_path, ignore_errors=True)
