"""Policy pack entry point: pulumi preview --policy-pack policy [--policy-pack-config policy/prod.json]."""

import sys
from pathlib import Path

# The allowances live in the program's own module, so the guard and the program agree.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pulumi_policy import PolicyPack

from policy.free_tier import POLICIES

PolicyPack(name="flowspace-always-free", policies=POLICIES)
