"""The Pulumi SDK's floor for a plan: a bare script registering the same resources.

Reads a plan written by ``python -m tools plan --json`` and registers every resource in
it, flat, as a raw ``pulumi.CustomResource`` (components as ``ComponentResource``) with
the plan's literal inputs, under the same mocks, recording monitor and runner settings
as the offline plan. No typed args, no components' structure, no output references:
what is left is what the SDK itself costs per resource.

    python benchmarks/floor.py PLAN.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pulumi
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tools.mocks import GoogleMocks, RecordingMonitor
from tools.runner import cyclic_gc_paused


def main(path: str) -> None:
    """Register every resource of the plan at ``path`` and wait for the registrations."""
    with open(path) as handle:
        resources = json.load(handle)["resources"]
    monitor = RecordingMonitor(GoogleMocks("gyrinx-dev", "europe-west2"))
    pulumi.runtime.set_mocks(monitor.mocks, project="gyrinx-tasks", stack="dev", preview=False, monitor=monitor)
    with cyclic_gc_paused():
        for resource in resources:
            if ":index:" in resource["type"]:
                pulumi.ComponentResource(resource["type"], resource["name"])
            else:
                pulumi.CustomResource(resource["type"], resource["name"], dict(resource["inputs"]))
        _sync_await(run_pulumi_func(lambda: None))
    assert len(monitor.registrations) == len(resources), (len(monitor.registrations), len(resources))


if __name__ == "__main__":
    main(sys.argv[1])
