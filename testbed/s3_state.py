"""A real S3-compatible server for Pulumi's state: versitygw (scripts/build-versitygw) over a folder,
with bucket versioning, listening on loopback inside a network namespace (the operator's), as the
README tells a team to keep its state (a versioned bucket, `PULUMI_BACKEND_URL=s3://…`)."""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BUCKET = "flowspace-state"
REGION = "us-east-1"


@dataclass(frozen=True)
class S3State:
    namespace: str
    port: int
    access_key: str
    secret_key: str

    @property
    def backend_url(self) -> str:
        endpoint = f"127.0.0.1:{self.port}"
        return f"s3://{BUCKET}?endpoint={endpoint}&region={REGION}&s3ForcePathStyle=true&disableSSL=true"

    def env(self) -> dict[str, str]:
        """What an operator sets: the URL, and the bucket's keys."""
        return {
            "PULUMI_BACKEND_URL": self.backend_url,
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
        }

    def s3(self, call: str, **arguments: Any) -> dict[str, Any]:
        """One S3 call (boto3's name and arguments), made from inside the namespace; the keys go by
        the environment, never a command line."""
        script = (
            "import boto3, json, sys; a = json.loads(sys.argv[2]); "
            f"c = boto3.client('s3', endpoint_url=sys.argv[1], region_name='{REGION}'); "
            "r = getattr(c, a['call'])(**a['arguments']); r.pop('ResponseMetadata', None); "
            "print(json.dumps(r, default=str))"
        )
        result = subprocess.run(
            [
                "ip",
                "netns",
                "exec",
                self.namespace,
                str(ROOT / ".venv" / "bin" / "python"),
                "-c",
                script,
                f"http://127.0.0.1:{self.port}",
                json.dumps({"call": call, "arguments": arguments}),
            ],
            env={**os.environ, "AWS_ACCESS_KEY_ID": self.access_key, "AWS_SECRET_ACCESS_KEY": self.secret_key},
            capture_output=True,
            text=True,
            check=True,
        )
        return dict(json.loads(result.stdout or "{}"))

    def state_versions(self) -> dict[str, int]:
        """Each object of the bucket, and how many versions of it the bucket keeps."""
        listed = self.s3("list_object_versions", Bucket=BUCKET)
        counts: dict[str, int] = {}
        for version in listed.get("Versions", []):
            counts[version["Key"]] = counts.get(version["Key"], 0) + 1
        return counts


@contextmanager
def s3_state(binary: Path, namespace: str, workdir: Path) -> Iterator[S3State]:
    """versitygw in `namespace`, its bucket made and versioned; stopped (and its folders left to the
    caller's temporary folder) at the end."""
    (workdir / "data").mkdir(parents=True)
    (workdir / "versions").mkdir()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    state = S3State(namespace, port, "journey" + secrets.token_hex(4), secrets.token_hex(20))
    log = (workdir / "versitygw.log").open("w")
    server = subprocess.Popen(
        [
            "ip",
            "netns",
            "exec",
            namespace,
            str(binary),
            "--port",
            f"127.0.0.1:{port}",
            "posix",
            "--versioning-dir",
            str(workdir / "versions"),
            str(workdir / "data"),
        ],
        # The root keys by the environment (versitygw reads them there), not on a command line.
        env={**os.environ, "ROOT_ACCESS_KEY": state.access_key, "ROOT_SECRET_KEY": state.secret_key},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            probe_result = subprocess.run(
                ["ip", "netns", "exec", namespace, "bash", "-c", f"exec 3<>/dev/tcp/127.0.0.1/{port}"],
                capture_output=True,
                check=False,
            )
            if probe_result.returncode == 0:
                break
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"versitygw did not start: {(workdir / 'versitygw.log').read_text()[-2000:]}")
            time.sleep(0.2)
        state.s3("create_bucket", Bucket=BUCKET)
        state.s3("put_bucket_versioning", Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
        yield state
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()
