"""What the real-engine tests (tests/test_engine*.py) share: the committed stacks, a local
Pulumi folder per scenario, and the comparison of the engine's view with the offline plan.

Every CLI run goes through ``python -m tools.pulumi_cli`` (what ``./dev pulumi`` runs),
with ``GYRINX_PULUMI_LOCAL`` pointing at the scenario's own folder and
``GYRINX_STANDIN_STATE`` at the stand-in's cloud (shared where a scenario adopts what
another created). Nothing reaches the repository's ``.pulumi-local/`` or ``~/.pulumi``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pulumi.runtime import rpc

from tools.pulumi_cli import LOCAL_VARIABLE, PROGRAM_VARIABLE, REPO, Local
from tools.standin.gcp_provider import EMULATOR_VARIABLE, FORCE_NEW, STATE_VARIABLE

# The committed stacks: every Pulumi.<stack>.yaml beside Pulumi.yaml.
STACKS = sorted(path.name[len("Pulumi.") : -len(".yaml")] for path in REPO.glob("Pulumi.*.yaml"))
# The ops of a preview step that remove or replace a resource (pkg/resource/deploy/step.go).
REMOVING = frozenset({"delete", "replace", "create-replacement", "delete-replaced", "discard", "discard-replaced"})
UNKNOWN = rpc.UNKNOWN  # how `pulumi preview --json` spells a value known only after the update


@dataclass(frozen=True)
class Engine:
    """The real CLI run on one local folder and one stand-in cloud."""

    local: Path
    cloud: Path

    def run(
        self, *args: str, check: bool = True, env: Mapping[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        """``./dev pulumi ARGS`` in this folder; with ``check``, a failure raises showing its output."""
        environ = {key: value for key, value in os.environ.items() if key not in (EMULATOR_VARIABLE, PROGRAM_VARIABLE)}
        environ.update({LOCAL_VARIABLE: str(self.local), STATE_VARIABLE: str(self.cloud), **(env or {})})
        result = subprocess.run(
            [sys.executable, "-m", "tools.pulumi_cli", *args],
            cwd=REPO,
            env=environ,
            capture_output=True,
            text=True,
            check=False,
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"pulumi {' '.join(args)} exited {result.returncode}:\n{result.stderr[-4000:]}\n{result.stdout[-4000:]}"
            )
        return result

    def preview(self, stack: str, *extra: str, env: Mapping[str, str] | None = None) -> dict[str, Any]:
        """``pulumi preview --json --show-replacement-steps`` (the flags the guard is fed with)."""
        result = self.run("preview", "--stack", stack, "--json", "--show-replacement-steps", *extra, env=env)
        document: dict[str, Any] = json.loads(result.stdout)
        return document

    def up(self, stack: str, *extra: str) -> None:
        self.run("up", "--stack", stack, "--yes", "--skip-preview", *extra)

    def checkpoint_text(self, stack: str) -> str:
        """The file backend's state file of ``stack``, as stored."""
        return Local(self.local).stack_state(stack).read_text()

    def checkpoint(self, stack: str) -> dict[str, Any]:
        document: dict[str, Any] = json.loads(self.checkpoint_text(stack))
        return document

    def config_copy(self, stack: str, destination: Path) -> Path:
        """A copy of the stack file the CLI uses for ``stack`` here (with its salt), for a
        test to change through ``--config-file`` without touching anything shared."""
        source = Local(self.local).stack_config(stack)
        if not source.exists():
            self.run("config", "--stack", stack)
        shutil.copy(source, destination)
        return destination


@dataclass(frozen=True)
class Planned:
    """One registration of the offline plan as the engine names it."""

    urn: str
    type: str
    name: str
    parent: str
    inputs: dict[str, Any]
    dependencies: tuple[str, ...]
    property_dependencies: dict[str, tuple[str, ...]]


def planned(plan: Any) -> dict[str, Planned]:
    """The plan's registrations by engine URN, every URN in them spelled as the engine does."""
    return {
        r.urn: Planned(
            r.urn,
            r.type,
            r.name,
            r.parent,
            r.inputs,
            tuple(sorted(u for u in r.dependencies)),
            {key: tuple(sorted(u for u in urns)) for key, urns in r.property_dependencies.items() if urns},
        )
        for r in plan.registrations
    }


def steps_by_op(preview: Mapping[str, Any], ops: Iterable[str]) -> dict[str, dict[str, Any]]:
    """The preview's steps whose op is one of ``ops``, by URN."""
    wanted = set(ops)
    return {step["urn"]: step for step in preview["steps"] if step["op"] in wanted}


def mismatches(engine: Any, plan: Any, dependencies: Mapping[str, list[str]], path: str = "") -> list[str]:
    """Where the engine's inputs differ from the plan's. An unknown in the engine (a value
    Google computes only when the resource it comes from is created) matches when that
    input depends on another resource (its property dependencies are not empty), as the
    plan's mocks answer those values at once."""
    top = path.split(".", maxsplit=1)[0].split("[", maxsplit=1)[0]
    if engine == UNKNOWN:
        return [] if dependencies.get(top) else [f"{path}: unknown in the engine, {plan!r} in the plan"]
    if isinstance(engine, dict) and isinstance(plan, dict):
        problems = [
            f"{path}.{key}: only in the plan" if path else f"{key}: only in the plan"
            for key in plan.keys() - engine.keys()
        ]
        problems += [
            f"{path}.{key}: only in the engine" if path else f"{key}: only in the engine"
            for key in engine.keys() - plan.keys()
        ]
        for key in engine.keys() & plan.keys():
            problems += mismatches(engine[key], plan[key], dependencies, f"{path}.{key}" if path else key)
        return problems
    if isinstance(engine, list) and isinstance(plan, list) and len(engine) == len(plan):
        return [
            problem
            for index, (left, right) in enumerate(zip(engine, plan, strict=True))
            for problem in mismatches(left, right, dependencies, f"{path}[{index}]")
        ]
    return [] if engine == plan else [f"{path}: {engine!r} in the engine, {plan!r} in the plan"]


def force_new_changes(before: Any, after: Any) -> set[str]:
    """URNs of the plan ``after`` whose inputs differ from ``before`` in a field that forces
    a new resource (the stand-in's ``FORCE_NEW``, read from the Terraform provider)."""
    old = planned(before)
    changed = set()
    for registration in planned(after).values():
        kind = FORCE_NEW.get(registration.type)
        previous = old.get(registration.urn)
        if kind is None or previous is None:
            continue
        if any(previous.inputs.get(key) != registration.inputs.get(key) for key in kind.force_new):
            changed.add(registration.urn)
    return changed


def registry_without(original: str, task: str, folder: Path) -> str:
    """A ``module:attribute`` registry in ``folder`` (put it on PYTHONPATH) holding the routes
    of the registry ``original`` (``file:PATH`` or ``module:attribute``) less ``task``."""
    module = folder / "registry_less_one.py"
    module.write_text(
        f'''"""The registry {original} without the task {task} (tests/engine_support.py)."""

import importlib

from infra.registry import load_snapshot

ORIGINAL = {original!r}


def routes():
    if ORIGINAL.startswith("file:"):
        found = load_snapshot(ORIGINAL[len("file:"):])
    else:
        name, attribute = ORIGINAL.split(":")
        found = getattr(importlib.import_module(name), attribute)
        found = found() if callable(found) else found
    return [route for route in found if route.name != {task!r}]
'''
    )
    return "registry_less_one:routes"
