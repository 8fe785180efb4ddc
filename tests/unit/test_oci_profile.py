"""scripts/oci-profile: the profile the workflows write for the OCI SDK and CLI, read back by the SDK."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import oci  # type: ignore[import-untyped]
import pytest

ROOT = Path(__file__).resolve().parents[2]
LINES = "user=ocid1.user.oc1..u\nfingerprint=aa:bb\ntenancy=ocid1.tenancy.oc1..t\nregion=ap-chuncheon-1"


@pytest.mark.parametrize("profile", [LINES, f"[DEFAULT]\n{LINES}"], ids=["lines only", "with its header"])
def test_the_profile_is_one_the_sdk_reads_and_the_key_is_the_users_alone(tmp_path: Path, profile: str) -> None:
    key = "-----BEGIN PRIVATE KEY-----\nbody\n-----END PRIVATE KEY-----"
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "OCI_PRIVATE_KEY": key, "OCI_PROFILE": profile}
    written = subprocess.run([str(ROOT / "scripts" / "oci-profile")], env=env, capture_output=True, text=True)
    assert written.returncode == 0 and not written.stdout + written.stderr
    config = oci.config.from_file(str(tmp_path / ".oci" / "config"))
    assert config["region"] == "ap-chuncheon-1" and config["key_file"] == str(tmp_path / ".oci" / "key.pem")
    assert (tmp_path / ".oci" / "key.pem").read_text() == key + "\n"
    assert (tmp_path / ".oci" / "key.pem").stat().st_mode & 0o777 == 0o600
    assert (tmp_path / ".oci").stat().st_mode & 0o777 == 0o700
