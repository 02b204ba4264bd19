"""The offline runner: the real program under Pulumi's mock runtime, no cloud, no CLI.

``run_plan`` executes ``__main__.py`` itself (not a copy) with the stack's config merged
as the CLI would merge it, and returns every registration and the stack outputs.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import gc
import json
import logging
import sys
import warnings
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi

from infra import program, sdk_internals, validation
from infra.ownership import JOB_TYPE, KIND_OF, SUBSCRIPTION_TYPE, TASK_COMPONENT
from infra.registry import Task
from infra.settings import Settings
from tools import stack_config
from tools.mocks import GoogleMocks, RecordingMonitor, Registration, configure_mocks

LOGGER = "gyrinx-tasks.plan"


def _canonical(value: Any, indent: str = "") -> str:
    """Sorted JSON with a line per entry for a map whose values are maps (the per-task
    outputs) and everything else on one line."""
    if isinstance(value, dict) and value and all(isinstance(item, dict) for item in value.values()):
        inner = indent + "  "
        entries = ",\n".join(f"{inner}{json.dumps(key)}: {_canonical(value[key], inner)}" for key in sorted(value))
        return f"{{\n{entries}\n{indent}}}"
    return json.dumps(value, sort_keys=True, separators=(", ", ": "))


def _document(outputs: dict[str, Any], resources: list[dict[str, Any]]) -> str:
    lines = ",\n".join(f"    {json.dumps(key)}: {_canonical(outputs[key], '    ')}" for key in sorted(outputs))
    entries = ",\n".join(f"    {_canonical(resource)}" for resource in resources)
    return f'{{\n  "outputs": {{\n{lines}\n  }},\n  "resources": [\n{entries}\n  ]\n}}\n'


@dataclass
class Plan:
    """What one run of the program declared, with the settings and tasks it declared
    them from (``__main__.py``'s ``settings`` and ``tasks``), so a tool that needs them
    uses this run instead of loading and checking the registry again."""

    stack: str
    registrations: list[Registration]
    outputs: dict[str, Any]
    warnings: list[str]
    notes: tuple[str, ...] = ()
    settings: Settings | None = None  # None for a program that reads none (the benchmark's floor)
    tasks: tuple[Task, ...] = ()

    def resources(self) -> list[dict[str, Any]]:
        """``{"urn", "type", "name", "parent", "inputs"}`` for every resource, sorted by
        type, name and URN. ``parent`` is the parent's URN (the stack's, for a resource
        outside any component): the diff and the guard tell a task's resources by it."""
        return sorted(
            (
                {"urn": r.urn, "type": r.type, "name": r.name, "parent": r.parent, "inputs": r.inputs}
                for r in self.registrations
            ),
            key=lambda r: (r["type"], r["name"], r["urn"]),
        )

    def document(self) -> dict[str, Any]:
        """``{"resources", "outputs"}``: what ``to_json`` writes, as data."""
        return {"resources": self.resources(), "outputs": self.outputs}

    def to_json(self) -> str:
        """The plan as canonical JSON: the same bytes on every run over the same input.

        One resource per line, so a diff of two plans (a pull request's ``plans/``)
        shows exactly the resources that change, a line each.
        """
        return _document(self.outputs, self.resources())

    def by_name(self, type_: str, name: str) -> Registration:
        """The registration of ``type_`` called ``name``; ``KeyError`` when absent."""
        for registration in self.registrations:
            if registration.type == type_ and registration.name == name:
                return registration
        raise KeyError(f"{type_} {name} not in the plan")


@contextlib.contextmanager
def cyclic_gc_paused() -> Iterator[None]:
    """Run the body with Python's cyclic garbage collector off, restoring it after.

    What the body allocated is frozen (exempt from later collections) rather than
    scanned: at 1,000 tasks the first collection after a run took seconds and freed
    almost nothing. Reference counting still frees it all as usual. The thresholds are
    restored too: ``__main__.py`` sets its own for the process it runs in, and here that
    process is the caller's.
    """
    was_enabled = gc.isenabled()
    thresholds = gc.get_threshold()
    gc.disable()
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)
        gc.freeze()
        if was_enabled:
            gc.enable()


class _Collect(logging.Handler):
    """Keeps the program's warnings (``pulumi.log.warn``) for the plan."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def _execute(main: Path, stack: str, config: stack_config.StackConfig, preview: bool) -> Plan:
    # Python 3.14's asyncio.get_event_loop() no longer creates a loop, and the SDK's
    # mocks ask for one: give this thread its own, as the language host does
    # (pulumi-language-python-exec: asyncio.new_event_loop, set_event_loop).
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # 3.12-3.13 warn, then make one
        try:
            asyncio.get_event_loop()
        except RuntimeError:
            asyncio.set_event_loop(asyncio.new_event_loop())
    config.hand_over()
    mocks = GoogleMocks(config.values.get("gcp:project", "project"), config.values.get("gcp:region", "region"))
    monitor = RecordingMonitor(mocks)
    collected = _Collect()
    logger = logging.getLogger(f"{LOGGER}.{stack}")
    logger.propagate = False
    logger.handlers = [collected]
    configure_mocks(monitor, stack, preview, logger)
    code = compile(main.read_text(), str(main), "exec")
    roots: list[pulumi.Resource | None] = []

    namespace: dict[str, Any] = {"__name__": "__main__", "__file__": str(main)}

    def run_main() -> None:
        roots.append(sdk_internals.root_resource())  # set in the event loop's context, not this one
        exec(code, namespace)  # noqa: S102 - the project's own entrypoint

    sdk_internals.sync_await(sdk_internals.run_in_stack(run_main))
    declared = getattr(roots[0], "outputs", None)  # the Stack resource's exports
    resolved: Any = sdk_internals.sync_await(pulumi.Output.from_input(declared).future()) if declared else None
    outputs: dict[str, Any] = dict(resolved or {})
    return Plan(
        stack=stack,
        registrations=monitor.registrations,
        outputs=outputs,
        warnings=list(collected.messages),
        notes=config.notes,
        settings=namespace.get("settings") if isinstance(namespace.get("settings"), Settings) else None,
        tasks=tuple(namespace.get("tasks") or ()),
    )


def run_plan(
    stack: str,
    overrides: Iterable[str] = (),
    *,
    config: Mapping[str, str] | stack_config.StackConfig | None = None,
    project_dir: Path = stack_config.PROJECT_DIR,
    preview: bool = False,
) -> Plan:
    """Run the program for ``stack`` under mocks and return what it declared.

    ``config`` replaces the merged stack config entirely when given (tests use it);
    otherwise Pulumi.yaml and the stack file are checked and merged as the CLI does,
    then ``overrides``. Raises ``InvalidInput`` when the program refuses its input and
    ``StackConfigError`` where the CLI would refuse the stack.
    """
    if config is None:
        config = stack_config.merged_config(stack, overrides, project_dir)
    elif not isinstance(config, stack_config.StackConfig):
        config = stack_config.StackConfig(dict(config), (), ())
    if str(project_dir) not in sys.path:
        sys.path.insert(0, str(project_dir))
    return run_program(project_dir / "__main__.py", stack, config, preview)


def run_program(main: Path, stack: str, config: stack_config.StackConfig, preview: bool = False) -> Plan:
    """Run the program ``main`` for ``stack`` with ``config`` under mocks (``run_plan``
    without reading the stack files; the benchmark's floor runs through it too)."""
    # The SDK allocates many long-lived objects per resource; with the cyclic collector
    # on, its full collections rescan them all, which made a 1,000-task plan cost 12x a
    # 100-task one (benchmarks/README.md). Nothing here creates garbage cycles worth
    # collecting mid-run, so collect once, after.
    with cyclic_gc_paused():
        # A fresh context per run: the SDK keeps its settings, config and root stack in
        # context variables, so runs in one process never see each other's state.
        return contextvars.Context().run(_execute, main, stack, config, preview)


def load_stack(stack: str, overrides: Iterable[str] = ()) -> tuple[Settings, list[Task]]:
    """The stack's checked settings and tasks, without declaring anything (for reports
    that need the registry as a stack sees it). Raises ``InvalidInput`` like a plan."""

    def load() -> tuple[Settings, list[Task]]:
        config = stack_config.merged_config(stack, overrides)
        config.hand_over()
        return program.load(stack)

    return contextvars.Context().run(load)


def _detail(registration: Registration) -> str:
    inputs = registration.inputs
    if "role" in inputs:
        return f"{inputs['role']} -> {inputs['member']}"
    if registration.type == JOB_TYPE:
        state = "PAUSED" if inputs.get("paused") else "enabled"
        return f"{inputs['name']}  [{inputs['schedule']} {inputs['timeZone']}, {state}]"
    if registration.type == SUBSCRIPTION_TYPE and "pushConfig" in inputs:
        attempts = inputs["deadLetterPolicy"]["maxDeliveryAttempts"]
        # Declared as "10s" (infra.task_queue); the window is validation's own arithmetic.
        low, high = (int(inputs["retryPolicy"][key].removesuffix("s")) for key in ("minimumBackoff", "maximumBackoff"))
        window = validation.describe_seconds(validation.retry_window(low, high, attempts))
        return (
            f"{inputs['name']}  [push, ack {inputs['ackDeadlineSeconds']}s, dead-letter after {attempts} "
            f"attempts: gives up after {window} of failures]"
        )
    return str(
        inputs.get("name") or inputs.get("displayName") or inputs.get("accountId") or inputs.get("service") or ""
    )


def render_table(plan: Plan) -> str:
    """A readable plan: shared resources first, then one block per task."""
    components = {r.urn: r for r in plan.registrations if not r.custom}
    groups: dict[str, list[Registration]] = {}
    for registration in plan.registrations:
        if registration.custom:
            # Resources outside any component belong to the stack itself.
            groups.setdefault(registration.parent if registration.parent in components else "", []).append(registration)
    custom_count = sum(len(children) for children in groups.values())
    task_count = sum(1 for c in components.values() if c.type == TASK_COMPONENT)
    # Counted as a preview counts them (components are resources too), so the plan, the
    # diff's summary and the deletion guard agree.
    lines = [
        f"Offline plan of stack {plan.stack}: {len(plan.registrations)} resources "
        f"({custom_count} in the cloud, {len(components)} components), {task_count} tasks",
        "",
    ]
    headings = [("", "stack")] + [
        (urn, f"task {c.name}" if c.type == TASK_COMPONENT else c.name)
        for urn, c in sorted(components.items(), key=lambda item: (item[1].type == TASK_COMPONENT, item[1].name))
    ]
    for key, heading in headings:
        if key not in groups:
            continue
        lines.append(f"{heading}  ({components[key].type})" if key else heading)
        for child in sorted(groups[key], key=lambda c: (c.type, c.name)):
            kind = KIND_OF[child.type].label if child.type in KIND_OF else child.type
            lines.append(f"  {kind:<20} {child.name:<38} {_detail(child)}")
        lines.append("")
    lines.append("Outputs:")
    for key in sorted(k for k in plan.outputs if k != "tasks"):
        lines.append(f"  {key}: {json.dumps(plan.outputs[key], sort_keys=True)}")
    return "\n".join(lines) + "\n"
