"""The real engine keeps a component and its children when the component moves under a new parent
with `Alias(parent=ROOT_STACK_RESOURCE)`: the way components/host.py moved the network, the server
and the cost guard under the Host (which cannot run here: no OCI provider). Shown with random
resources, whose replacement would change their value."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from testbed.engine import install_engine, program_operator
from testbed.tools import require_root

ROOT = Path(__file__).resolve().parents[2]
# A component declared at the root, with a child, as the network was.
AT_ROOT = """\
import pulumi
import pulumi_random as random


class Network(pulumi.ComponentResource):
    def __init__(self, name, opts=None):
        super().__init__("flowspace:net:Network", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.vcn = random.RandomString(f"{name}-vcn", length=24, special=False, opts=child)
        self.register_outputs({})


network = Network("network")
pulumi.export("vcn", network.vcn.result)
"""
# The same component under a Host, kept by the alias components/host.py gives its parts.
UNDER_HOST = AT_ROOT.replace(
    'network = Network("network")',
    """class Host(pulumi.ComponentResource):
    def __init__(self, name):
        super().__init__("flowspace:host:Host", name, None, None)
        moved = pulumi.ResourceOptions(parent=self, aliases=[pulumi.Alias(parent=pulumi.ROOT_STACK_RESOURCE)])
        self.network = Network("network", opts=moved)
        self.register_outputs({})


network = Host("host").network""",
)


@pytest.fixture
def engine() -> Path:
    require_root()
    return install_engine()


def test_a_component_moved_under_the_host_keeps_its_children(engine: Path, tmp_path: Path) -> None:
    operator = program_operator(tmp_path, engine, "moved", AT_ROOT)
    operator.must("stack", "init")
    operator.must("up", "--yes", "--skip-preview")
    before = operator.outputs()["vcn"]

    (operator.project / "__main__.py").write_text(UNDER_HOST)
    preview = operator.must("preview", "--diff", "--non-interactive")
    assert "+ 1 to create" in preview.output and "to delete" not in preview.output, preview.output[-2000:]
    assert "to replace" not in preview.output, preview.output[-2000:]
    operator.must("up", "--yes", "--skip-preview")
    assert operator.outputs()["vcn"] == before, "the child was replaced"
    urns = {
        resource["urn"] for resource in json.loads(operator.must("stack", "export").stdout)["deployment"]["resources"]
    }
    chain = "flowspace:host:Host$flowspace:net:Network$random:index/randomString:RandomString"
    moved = f"urn:pulumi:moved::moved::{chain}::network-vcn"
    assert moved in urns, sorted(urns)
    operator.must("preview", "--expect-no-changes", "--non-interactive")
