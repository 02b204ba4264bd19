"""The policy pack `pulumi preview --policy-pack policy` runs.

Constructing a PolicyPack starts the analyzer server and never returns, so this file
only builds the pack; the policies live (and are unit-tested) in ``policies.py``.
"""

from policies import POLICIES
from pulumi_policy import EnforcementLevel, PolicyPack

PolicyPack(name="gyrinx-tasks", enforcement_level=EnforcementLevel.MANDATORY, policies=POLICIES)
