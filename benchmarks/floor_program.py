"""The Pulumi SDK's floor for a plan, as a program: the same resources, nothing else.

Registers every resource of a plan written by ``python -m tools plan --json`` (the
path is the program's first argument), flat, at module level, as a raw
``pulumi.CustomResource`` (components as ``ComponentResource``) with the plan's literal
inputs. No typed args, no structure, no output references: what is left is what the
SDK itself costs per resource. Run it as the language host runs a program:

    python -m benchmarks.host benchmarks/floor_program.py PLAN.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pulumi

for resource in json.loads(Path(sys.argv[1]).read_text())["resources"]:
    if ":index:" in resource["type"]:
        pulumi.ComponentResource(resource["type"], resource["name"])
    else:
        pulumi.CustomResource(resource["type"], resource["name"], dict(resource["inputs"]))
