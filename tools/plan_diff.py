"""What a preview would show between two offline plans: create, update, replace, delete.

Resources are matched by URN, as the engine matches them, so a resource whose parent
changes (and with it its URN) shows as a delete and a create. A changed input that
Google cannot update in place (see ``IMMUTABLE``) means replace; any other changed input
means update. A resource belongs to a task when its parent is that task's component
(``infra.ownership``): no list of types or name patterns decides it.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from infra.ownership import CHILDREN, PACKAGE, TASK_COMPONENT
from tools.errors import ToolError

# Inputs whose change replaces the resource: the fields marked `immutable: true` in
# GoogleCloudPlatform/magic-modules mmv1/products (pubsub/Topic.yaml, pubsub/Subscription.yaml,
# cloudscheduler/Job.yaml, ...), and every field of an IAM member (its id is made of them). Types not listed update in place.
_IAM_MEMBER_FIELDS = frozenset(
    {"project", "topic", "subscription", "serviceAccountId", "location", "name", "role", "member", "condition"}
)
IMMUTABLE: Mapping[str, frozenset[str]] = {
    "gcp:pubsub/topic:Topic": frozenset({"name", "project"}),
    "gcp:pubsub/subscription:Subscription": frozenset({"name", "project", "topic", "filter", "enableMessageOrdering"}),
    "gcp:cloudscheduler/job:Job": frozenset({"name", "project", "region"}),
    "gcp:serviceaccount/account:Account": frozenset({"accountId", "project"}),
    "gcp:projects/serviceIdentity:ServiceIdentity": frozenset({"project", "service"}),
    "gcp:projects/service:Service": frozenset({"project", "service"}),
    "gcp:monitoring/alertPolicy:AlertPolicy": frozenset({"project"}),
    "gcp:pubsub/topicIAMMember:TopicIAMMember": _IAM_MEMBER_FIELDS,
    "gcp:pubsub/subscriptionIAMMember:SubscriptionIAMMember": _IAM_MEMBER_FIELDS,
    "gcp:serviceaccount/iAMMember:IAMMember": _IAM_MEMBER_FIELDS,
    "gcp:cloudrunv2/serviceIamMember:ServiceIamMember": _IAM_MEMBER_FIELDS,
}
# Types whose deletion or replacement loses the messages queued in them.
HOLDS_MESSAGES = frozenset(child.type for child in CHILDREN if child.holds_messages)
OPS = ("create", "update", "replace", "delete")
_SYMBOL = {"create": "+ ", "update": "~ ", "replace": "+-", "delete": "- "}
_COLOUR = {"create": "\033[32m", "update": "\033[33m", "replace": "\033[35m", "delete": "\033[31m"}
_RESET = "\033[0m"


@dataclass(frozen=True)
class Change:
    """One resource's change: ``op`` is one of ``OPS``; ``fields`` maps each changed
    input to its ``(old, new)`` value (absent values are None)."""

    op: str
    type: str
    name: str
    urn: str
    task: str | None = None
    fields: Mapping[str, tuple[Any, Any]] = field(default_factory=dict)

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


def diff(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[Change]:
    """The changes that turn plan ``old`` into plan ``new``, sorted by op, type, name."""
    before, after = _resources(old, "the earlier plan"), _resources(new, "the new plan")
    changes = []
    for urn in set(before) | set(after):
        if urn not in before:
            resource = after[urn]
            changes.append(Change("create", resource["type"], resource["name"], urn, task_of(resource, after)))
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
                op = "replace" if set(changed) & IMMUTABLE.get(resource["type"], frozenset()) else "update"
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
