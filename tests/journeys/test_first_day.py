"""The README's first day, run as written: its commands are read from README.md (the marked block
and the named inline commands), so the journey runs whatever the README says now, and fails when
a command no longer runs or is gone. Placeholders (`<id>`, `<zone id>`) get test values; the secret
is typed on standard input, as the terminal would. The backend is a versioned S3 bucket (versitygw)
and the passphrase a file of the operator's own. Then a second operator, with the committed stack
file, the backend and the passphrase file only, reads the secret back."""

from __future__ import annotations

import os
import pwd
import re
import shlex
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from testbed.engine import ROOT, install_engine, plugin_home, project_copy
from testbed.netns import namespace_pair
from testbed.s3_state import S3State, s3_state
from testbed.tools import require, require_root

README = ROOT / "README.md"
MARKER = "<!-- journey: first-day-settings"
PLACEHOLDERS = {"<id>": "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "<zone id>": "0" * 32}
# Steps 1 and 2 of the first day, inline in the README's text: each must still be there, word for word.
TRY_OUT_FOLDER = "mkdir -p ~/.pulumi-flowspace"
PASSPHRASE_FILE = "install -m 0600 /dev/null ~/.flowspace-prod.passphrase"
PASSPHRASE_EXPORT = "export PULUMI_CONFIG_PASSPHRASE_FILE=~/.flowspace-prod.passphrase"
TOKEN = "cloudflare-token-typed-at-the-prompt"


def marked_block(text: str) -> list[str]:
    """The commands of the block after the marker: comments and blank lines dropped."""
    after = text.split(MARKER, 1)[1]
    block = re.search(r"```sh\n(.*?)```", after, re.DOTALL)
    assert block, "the first day's marked block is gone from README.md"
    commands = [line.split("  #", 1)[0].strip() for line in block.group(1).splitlines()]
    return [command for command in commands if command and not command.startswith("#")]


@pytest.fixture(scope="module")
def bucket(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[S3State, Path]]:
    require_root()
    versitygw = Path(os.environ.get("VERSITYGW", ""))
    require(versitygw.is_file(), "versitygw not built: scripts/build-versitygw")
    engine = install_engine()
    work = tmp_path_factory.mktemp("first-day")
    with namespace_pair("jf") as pair, s3_state(versitygw, pair.client, work / "s3") as s3:
        yield s3, engine


def test_the_readmes_first_day_runs_as_written(bucket: tuple[S3State, Path], tmp_path: Path) -> None:
    s3, engine = bucket
    text = README.read_text()
    for command in (TRY_OUT_FOLDER, PASSPHRASE_FILE, PASSPHRASE_EXPORT):
        assert f"`{command}`" in text, f"README.md no longer says `{command}`"
    # The operator's home is a temporary folder mounted over this user's own (Pulumi finds `~` in
    # backend.url from the user database, not $HOME), in a mount namespace of the commands' own.
    # The built tools under ~/.cache stay in view.
    home = tmp_path / "home"
    (home / ".cache").mkdir(parents=True)
    real_home = pwd.getpwuid(os.getuid()).pw_dir
    checkout = project_copy(tmp_path / "checkout")
    base = {
        "PATH": f"{engine / 'bin'}:{os.environ['PATH']}",
        "HOME": real_home,
        "PULUMI_HOME": str(plugin_home(engine, tmp_path / "pulumi-home")),
        "PULUMI_SKIP_UPDATE_CHECK": "true",
        "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
    }

    def shell(
        script: str, env: dict[str, str], stdin: str = "", cwd: Path = checkout
    ) -> subprocess.CompletedProcess[str]:
        quoted_home, quoted_real = shlex.quote(str(home)), shlex.quote(real_home)
        mounted = (
            f"mount --bind {quoted_real}/.cache {quoted_home}/.cache && mount --rbind {quoted_home} {quoted_real} && "
            f"cd {shlex.quote(str(cwd))} && {script}"
        )
        return subprocess.run(
            ["ip", "netns", "exec", s3.namespace, "unshare", "--mount", "bash", "-euc", mounted],
            cwd=cwd,
            env=env,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )

    # Trying the program out: the default local backend needs its folder (pulumi/pulumi#15841).
    without = shell("pulumi stack ls --non-interactive", base)
    assert "unable to open state directory" in without.stderr, f"the README's step is moot: {without.stderr}"
    tried = shell(f"{TRY_OUT_FOLDER}; pulumi stack ls --non-interactive", base)
    assert tried.returncode == 0, tried.stderr

    # Step 2: the passphrase in a file of the operator's own, written "with an editor".
    made = shell(
        f"{PASSPHRASE_FILE}; echo 'a passphrase from the password manager' > ~/.flowspace-prod.passphrase", base
    )
    assert made.returncode == 0, made.stderr
    assert (home / ".flowspace-prod.passphrase").stat().st_mode & 0o777 == 0o600
    # Step 1 (the shared backend) and step 2's export, then step 3's block, line by line.
    exports = "; ".join(f"export {name}={shlex.quote(value)}" for name, value in s3.env().items())
    for command in marked_block(text):
        for placeholder, value in PLACEHOLDERS.items():
            command = command.replace(placeholder, value)
        typed = f"{TOKEN}\n" if "--secret" in command else ""
        ran = shell(f"{exports}; {PASSPHRASE_EXPORT}; {command} --non-interactive", base, typed)
        assert ran.returncode == 0, f"README's `{command}` failed:\n{ran.stdout}{ran.stderr}"
        assert TOKEN not in ran.stdout + ran.stderr, "the secret was echoed"

    # Step 4: what is committed holds the salt and the secret, encrypted.
    stack_file = (checkout / "Pulumi.prod.yaml").read_text()
    document = yaml.safe_load(stack_file)
    assert document["encryptionsalt"] and "secure" in document["config"]["cloudflare:apiToken"]
    assert TOKEN not in stack_file
    assert document["config"]["flowspace:cloudflareZoneId"] == PLACEHOLDERS["<zone id>"]

    # Step 6: a second operator, with the committed stack file, the backend and the passphrase file.
    second = project_copy(tmp_path / "second")
    (second / "Pulumi.prod.yaml").write_text(stack_file)
    read = shell(
        f"{exports}; {PASSPHRASE_EXPORT}; pulumi config get cloudflare:apiToken --stack prod --non-interactive",
        base,
        cwd=second,
    )
    assert read.returncode == 0 and read.stdout.strip() == TOKEN, read.stderr
