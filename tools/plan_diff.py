"""What a preview would show between two offline plans: create, update, replace, delete.

Resources are matched by URN, as the engine matches them, so a resource whose parent
changes (and with it its URN) shows as a delete and a create; two plans of different
stacks (the stack is in every URN) are refused, since every resource would show as both.
A changed input that Google cannot update in place (the catalogue's immutable inputs,
``infra.ownership``) means replace; any other changed input means update. A type the new
plan declares that the catalogue does not know is refused, never guessed to update. A
resource belongs to a task when its parent is that task's component
(``infra.ownership``): no list of types or name patterns decides it. A create shows the
Google id the resource gets and, for a scheduler job, its schedule.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from infra.ownership import JOB_TYPE, KIND_OF, KINDS, PACKAGE, TASK_COMPONENT
from tools.errors import ToolError

# Inputs whose change replaces the resource, and the types that hold messages: the
# catalogue's (infra.ownership.KINDS, read from terraform-provider-google's ForceNew fields).
IMMUTABLE: Mapping[str, frozenset[str]] = {kind.token: kind.immutable for kind in KINDS}
HOLDS_MESSAGES = frozenset(kind.token for kind in KINDS if kind.holds_messages)
OPS = ("create", "update", "replace", "delete")
_SYMBOL = {"create": "+ ", "update": "~ ", "replace": "+-", "delete": "- "}
_COLOUR = {"create": "\033[32m", "update": "\033[33m", "replace": "\033[35m", "delete": "\033[31m"}
_RESET = "\033[0m"


@dataclass(frozen=True)
class Change:
    """One resource's change: ``op`` is one of ``OPS``; ``fields`` maps each changed
    input to its ``(old, new)`` value (absent values are None). A create also carries the
    Google id it will have (None where Google assigns it) and, for a scheduler job, its
    schedule and time zone."""

    op: str
    type: str
    name: str
    urn: str
    task: str | None = None
    fields: Mapping[str, tuple[Any, Any]] = field(default_factory=dict)
    google_id: str | None = None
    schedule: str | None = None

    @property
    def keys(self) -> tuple[str, ...]:
        """The changed inputs, sorted."""
        return tuple(sorted(self.fields))

    @property
    def loses_messages(self) -> bool:
        """Deleting or replacing a topic or subscription deletes what is queued in it."""
        return self.op in ("delete", "replace") and self.type in HOLDS_MESSAGES

    def to_dict(self) -> dict[str, Any]:
        """The change as JSON-ready data."""
        return {
            "op": self.op,
            "type": self.type,
            "name": self.name,
            "urn": self.urn,
            "task": self.task,
            "keys": list(self.keys),
            "fields": {key: {"old": old, "new": new} for key, (old, new) in sorted(self.fields.items())},
            "id": self.google_id,
            "schedule": self.schedule,
        }


def _resources(plan: Mapping[str, Any], label: str) -> dict[str, Mapping[str, Any]]:
    """The plan's resources by URN; a document that is not a plan is refused."""
    resources = plan.get("resources") if isinstance(plan, Mapping) else None
    if not isinstance(resources, list):
        raise ToolError(f'{label}: not an offline plan (no "resources" list); write one with ./dev plan --json')
    index: dict[str, Mapping[str, Any]] = {}
    for position, resource in enumerate(resources):
        if not (
            isinstance(resource, Mapping)
            and all(isinstance(resource.get(key), str) for key in ("urn", "type", "name"))
            and isinstance(resource.get("inputs", {}), Mapping)
        ):
            raise ToolError(
                f"{label}: resource #{position + 1} is not a plan entry with urn, type, name and inputs "
                "(a plan from before URNs were recorded? refresh it with ./dev plans)"
            )
        index[resource["urn"]] = resource
    return index


def is_component(type_: str) -> bool:
    """True for this program's components, which own no cloud resource themselves."""
    return type_.startswith(f"{PACKAGE}:")


def task_of(resource: Mapping[str, Any], index: Mapping[str, Mapping[str, Any]]) -> str | None:
    """The task a resource belongs to (the name of its ``TaskQueue`` parent), or None."""
    if resource["type"] == TASK_COMPONENT:
        return str(resource["name"])
    parent = index.get(resource.get("parent") or "")
    return str(parent["name"]) if parent is not None and parent["type"] == TASK_COMPONENT else None


def stack_of(index: Mapping[str, Mapping[str, Any]]) -> str | None:
    """The stack a plan's URNs name (``urn:pulumi:{stack}::{project}::...``), or None."""
    stacks = {urn.split("::", 1)[0].removeprefix("urn:pulumi:") for urn in index if urn.startswith("urn:pulumi:")}
    return stacks.pop() if len(stacks) == 1 else None


def _check(before: Mapping[str, Mapping[str, Any]], after: Mapping[str, Mapping[str, Any]]) -> None:
    """Refuse two plans of different stacks, and a new plan with a type the catalogue lacks."""
    old_stack, new_stack = stack_of(before), stack_of(after)
    if old_stack and new_stack and old_stack != new_stack:
        raise ToolError(
            f"the earlier plan is stack {old_stack}'s, not stack {new_stack}'s (its URNs name the stack): every "
            f"resource would show as deleted and created; diff stack {new_stack} against its own plan "
            f"(plans/{new_stack}.json), or pass --stack {old_stack}"
        )
    unknown = sorted({resource["type"] for resource in after.values()} - set(KIND_OF))
    if unknown:
        raise ToolError(
            f"the new plan declares {', '.join(unknown)}, not in the catalogue of resource kinds "
            "(infra/ownership.py KINDS): add an entry with its immutable inputs, or a change to it cannot be "
            "told from a replacement"
        )


def _created(resource: Mapping[str, Any], index: Mapping[str, Mapping[str, Any]]) -> Change:
    inputs = resource.get("inputs", {})
    builder = KIND_OF[resource["type"]].google_id
    try:
        google_id = builder(inputs) if builder is not None else None
    except KeyError:  # an input the id needs is not in the plan (unknown until created)
        google_id = None
    schedule = None
    if resource["type"] == JOB_TYPE and "schedule" in inputs:
        schedule = " ".join(str(inputs[key]) for key in ("schedule", "timeZone") if key in inputs)
    return Change(
        "create",
        resource["type"],
        resource["name"],
        resource["urn"],
        task_of(resource, index),
        google_id=google_id,
        schedule=schedule,
    )


def diff(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[Change]:
    """The changes that turn plan ``old`` into plan ``new``, sorted by op, type, name.
    ToolError for plans of two stacks, or a new plan with a type the catalogue lacks."""
    before, after = _resources(old, "the earlier plan"), _resources(new, "the new plan")
    _check(before, after)
    changes = []
    for urn in set(before) | set(after):
        if urn not in before:
            changes.append(_created(after[urn], after))
        elif urn not in after:
            resource = before[urn]
            changes.append(Change("delete", resource["type"], resource["name"], urn, task_of(resource, before)))
        else:
            resource = after[urn]
            old_inputs, new_inputs = before[urn].get("inputs", {}), resource.get("inputs", {})
            changed = {
                key: (old_inputs.get(key), new_inputs.get(key))
                for key in set(old_inputs) | set(new_inputs)
                if old_inputs.get(key) != new_inputs.get(key)
            }
            if changed:
                op = "replace" if set(changed) & KIND_OF[resource["type"]].immutable else "update"
                changes.append(Change(op, resource["type"], resource["name"], urn, task_of(resource, after), changed))
    return sorted(changes, key=lambda c: (OPS.index(c.op), c.type, c.name, c.urn))


@dataclass(frozen=True)
class Summary:
    """How many resources each op touches, how many stay the same, and how many of the
    resources that exist now belong to tasks (the deletion guard's denominator)."""

    counts: Mapping[str, int]
    before: int
    task_resources_before: int

    def to_dict(self) -> dict[str, int]:
        """The counts as JSON-ready data."""
        return dict(self.counts)


def summarise(changes: Iterable[Change], old: Mapping[str, Any]) -> Summary:
    """Count ``changes`` against plan ``old``: ``same`` is what exists and does not change."""
    before = _resources(old, "the earlier plan")
    counts = dict.fromkeys(OPS, 0)
    for change in changes:
        counts[change.op] += 1
    counts["same"] = len(before) - counts["update"] - counts["replace"] - counts["delete"]
    tasks_before = sum(
        1 for resource in before.values() if not is_component(resource["type"]) and task_of(resource, before)
    )
    return Summary(counts, len(before), tasks_before)


def to_document(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, Any]:
    """The machine-readable diff that ``--diff --json`` prints and the deletion guard reads."""
    changes = diff(old, new)
    summary = summarise(changes, old)
    return {
        "changes": [change.to_dict() for change in changes],
        "summary": summary.to_dict(),
        "resourcesBefore": summary.before,
        "taskResourcesBefore": summary.task_resources_before,
    }


def _value(value: Any) -> str:
    return "(unset)" if value is None else json.dumps(value, sort_keys=True)


def render(changes: list[Change], summary: Summary, against: str, colour: bool | None = None) -> str:
    """The diff as a reviewer reads it: each change with old → new per changed field (the
    old → new id for a replace), a warning where queued messages are lost, then a line
    per kind. Colour only when ``colour`` (default: stdout is a terminal)."""
    if colour is None:
        colour = sys.stdout.isatty()

    def paint(op: str, text: str) -> str:
        return f"{_COLOUR[op]}{text}{_RESET}" if colour else text

    lines = [f"Changes against {against}:"]
    for change in changes:
        owner = f"  (task {change.task})" if change.task else ""
        lines.append(paint(change.op, f"  {_SYMBOL[change.op]} {change.op:<8} {change.type}  {change.name}{owner}"))
        if change.op == "create" and not is_component(change.type):
            lines.append(f"        id: {change.google_id or '(assigned by Google)'}")
            if change.schedule:
                lines.append(f"        schedule: {change.schedule}")
        for key, (old, new) in sorted(change.fields.items()):
            lines.append(f"        {key}: {_value(old)} → {_value(new)}")
        if change.loses_messages:
            lines.append("        ! the messages queued in it are deleted with it")
    if not changes:
        lines.append("  (none)")
    lines += ["", "Resources:"]
    verbs = {"create": "to create", "update": "to update", "replace": "to replace", "delete": "to delete"}
    for op in OPS:
        lines.append(paint(op, f"  {_SYMBOL[op]} {summary.counts[op]} {verbs[op]}"))
    lines.append(f"     {summary.counts['same']} unchanged")
    return "\n".join(lines) + "\n"
