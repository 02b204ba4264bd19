"""The Pulumi SDK's floor for a plan, as a program: the same resources, nothing else.

Registers every resource of a plan written by ``python -m tools plan --json`` (the
path is the program's first argument) as a raw ``pulumi.CustomResource`` (components
as ``ComponentResource``) with the plan's literal inputs. No typed args, no structure,
no output references: what is left is what the SDK itself costs per resource. Run it as
the language host runs a program:

    python -m benchmarks.host benchmarks/floor_program.py PLAN.json [tuned]

Plain, it declares at module level under Python's default collector, as the issue's
floor does. ``tuned`` (a second argument) gives it what the program gives itself (``__main__.py``): the
same collector setting (``infra.collector``) and the same async entrypoint that yields
once before the SDK waits. So "program against tuned floor" measures only what the
program's own structure and typed resources cost.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import pulumi

from infra.collector import collect_old_objects_rarely

RESOURCES = json.loads(Path(sys.argv[1]).read_text())["resources"]


def declare_all() -> None:
    """Register every resource of the plan, flat."""
    for resource in RESOURCES:
        if ":index:" in resource["type"]:
            pulumi.ComponentResource(resource["type"], resource["name"])
        else:
            pulumi.CustomResource(resource["type"], resource["name"], dict(resource["inputs"]))


async def declare_tuned() -> None:
    """``declare_all`` from the SDK's async entrypoint, yielding once at the end."""
    declare_all()
    await asyncio.sleep(0)


if "tuned" in sys.argv[2:]:
    collect_old_objects_rarely()
    pulumi.run(declare_tuned)
else:
    declare_all()
