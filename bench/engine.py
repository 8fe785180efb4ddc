"""Wall times of the real engine on the existing-server stack, and SSH sessions per release, in
one run against the namespace test host (root, the engine from scripts/install-pulumi).

    .venv/bin/python -m bench.engine
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from testbed.engine import existing_server_config, install_engine, operator_for, ssh_host

UP = ("up", "--yes", "--skip-preview", "--non-interactive")


def main() -> None:
    engine = install_engine()
    print(f"cores: {os.cpu_count()}")
    with tempfile.TemporaryDirectory() as work, ssh_host(Path(work) / "host", tag="bn") as host:
        config = existing_server_config(host)
        with operator_for(host, engine, Path(work) / "operator", config) as operator:
            steps = [
                ("preview", ("preview", "--non-interactive"), None),
                ("first up", UP, None),
                ("no-op up", UP, None),
                ("one-change up", UP, {"memoryGb": "8"}),
                ("destroy", ("destroy", "--yes", "--non-interactive", "--skip-preview"), None),
            ]
            print("| step | wall s | SSH sessions |\n|---|---|---|")
            for name, args, change in steps:
                if change:
                    operator.set_config(change)
                before = host.sessions()
                run = operator.must(*args)
                print(f"| {name} | {run.seconds:.1f} | {host.sessions() - before} |")


if __name__ == "__main__":
    main()
