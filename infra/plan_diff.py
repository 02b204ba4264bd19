"""What a preview would show between two offline plans: create, update, replace, delete.

Resources are matched by type and logical name (their URN, as the engine matches them).
A changed input that Google cannot update in place (see ``IMMUTABLE``) means replace;
any other changed input means update.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

# Inputs whose change replaces the resource (task-infrastructure.md §4; every field of
# an IAM member is immutable). Types not listed update in place.
_IAM_MEMBER_FIELDS = frozenset(
    {"project", "topic", "subscription", "serviceAccountId", "location", "name", "role", "member", "condition"}
)
IMMUTABLE: Mapping[str, frozenset[str]] = {
    "gcp:pubsub/topic:Topic": frozenset({"name", "project"}),
    "gcp:pubsub/subscription:Subscription": frozenset({"name", "project", "topic", "filter", "enableMessageOrdering"}),
    "gcp:cloudscheduler/job:Job": frozenset({"name", "project", "region"}),
    "gcp:serviceaccount/account:Account": frozenset({"accountId", "project"}),
    "gcp:projects/serviceIdentity:ServiceIdentity": frozenset({"project", "service"}),
    "gcp:monitoring/alertPolicy:AlertPolicy": frozenset({"project"}),
    "gcp:pubsub/topicIAMMember:TopicIAMMember": _IAM_MEMBER_FIELDS,
    "gcp:pubsub/subscriptionIAMMember:SubscriptionIAMMember": _IAM_MEMBER_FIELDS,
    "gcp:serviceaccount/iAMMember:IAMMember": _IAM_MEMBER_FIELDS,
    "gcp:cloudrunv2/serviceIamMember:ServiceIamMember": _IAM_MEMBER_FIELDS,
}
OPS = ("create", "update", "replace", "delete")
_SYMBOL = {"create": "+ ", "update": "~ ", "replace": "+-", "delete": "- "}
TASK_COMPONENT = "gyrinx-tasks:index:TaskQueue"
# The resource types a TaskQueue declares; shared resources are of other types, so a
# name prefix never mistakes one for a task's.
TASK_CHILD_TYPES = frozenset(
    {
        "gcp:pubsub/topic:Topic",
        "gcp:pubsub/subscription:Subscription",
        "gcp:pubsub/topicIAMMember:TopicIAMMember",
        "gcp:pubsub/subscriptionIAMMember:SubscriptionIAMMember",
        "gcp:cloudscheduler/job:Job",
    }
)


@dataclass(frozen=True)
class Change:
    """One resource's change: ``op`` is one of ``OPS``; ``keys`` the changed inputs."""

    op: str
    type: str
    name: str
    keys: tuple[str, ...] = ()
    task: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The change as JSON-ready data."""
        return {"op": self.op, "type": self.type, "name": self.name, "keys": list(self.keys), "task": self.task}


def task_of(type_: str, name: str, task_names: Iterable[str]) -> str | None:
    """The task a resource belongs to, or None for a shared resource.

    Task names are Python identifiers (no ``-``), and each child is ``{task}-{role}``.
    """
    if type_ == TASK_COMPONENT:
        return name
    if type_ in TASK_CHILD_TYPES:
        prefix = name.split("-", 1)[0]
        if prefix in task_names:
            return prefix
    return None


def _index(plan: Mapping[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(r["type"], r["name"]): r.get("inputs", {}) for r in plan["resources"]}


def diff(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[Change]:
    """The changes that turn plan ``old`` into plan ``new``, sorted by op, type, name."""
    before, after = _index(old), _index(new)
    tasks = {name for (type_, name) in {**before, **after} if type_ == TASK_COMPONENT}
    changes = []
    for key in sorted(set(before) | set(after)):
        type_, name = key
        task = task_of(type_, name, tasks)
        if key not in before:
            changes.append(Change("create", type_, name, task=task))
        elif key not in after:
            changes.append(Change("delete", type_, name, task=task))
        else:
            old_inputs, new_inputs = before[key], after[key]
            changed = tuple(
                sorted(k for k in set(old_inputs) | set(new_inputs) if old_inputs.get(k) != new_inputs.get(k))
            )
            if changed:
                op = "replace" if set(changed) & IMMUTABLE.get(type_, frozenset()) else "update"
                changes.append(Change(op, type_, name, changed, task))
    return sorted(changes, key=lambda c: (OPS.index(c.op), c.type, c.name))


def summary(changes: Iterable[Change], old: Mapping[str, Any]) -> dict[str, int]:
    """How many resources each op touches, and how many stay the same."""
    counts = {op: 0 for op in OPS}
    for change in changes:
        counts[change.op] += 1
    counts["same"] = len(old["resources"]) - counts["update"] - counts["replace"] - counts["delete"]
    return counts


def task_resource_count(plan: Mapping[str, Any]) -> int:
    """How many task resources (not components) a plan declares: the guard's denominator."""
    tasks = {r["name"] for r in plan["resources"] if r["type"] == TASK_COMPONENT}
    return sum(1 for r in plan["resources"] if r["type"] != TASK_COMPONENT and task_of(r["type"], r["name"], tasks))


def to_document(old: Mapping[str, Any], new: Mapping[str, Any]) -> dict[str, Any]:
    """The machine-readable diff that ``--diff --json`` prints and the deletion guard reads."""
    changes = diff(old, new)
    return {
        "changes": [change.to_dict() for change in changes],
        "summary": summary(changes, old),
        "taskResourcesBefore": task_resource_count(old),
    }


def render(changes: list[Change], counts: Mapping[str, int], against: str) -> str:
    """The diff as a preview prints it: one line per change, then a line per kind."""
    lines = [f"Changes against {against}:"]
    for change in changes:
        keys = f"  [{', '.join(change.keys)}]" if change.keys else ""
        lines.append(f"  {_SYMBOL[change.op]} {change.op:<8} {change.type}  {change.name}{keys}")
    if not changes:
        lines.append("  (none)")
    lines += ["", "Resources:"]
    verbs = {"create": "to create", "update": "to update", "replace": "to replace", "delete": "to delete"}
    for op in OPS:
        lines.append(f"  {_SYMBOL[op]} {counts[op]} {verbs[op]}")
    lines.append(f"     {counts['same']} unchanged")
    return "\n".join(lines) + "\n"
