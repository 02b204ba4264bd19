"""The deletion guard: fail a pull request whose preview deletes more than it should.

Reads either ``pulumi preview --json`` or the offline ``plan --diff OLD.json --json``
and fails when the change would delete or replace

- more than ``--max-share`` of the task resources that exist now, or
- any resource of a task the pull request does not mention (with ``--mentioned-in``
  or ``--task``), or
- any shared resource (the push service account, the service identity, ...),

unless approved: ``--allow``, or ``GYRINX_TASKS_ALLOW_DELETIONS=true`` (which the
workflow sets when the pull request carries the ``allow-task-deletions`` label).
A replacement counts as a deletion: the old topic or subscription, and what is queued
in it, is gone.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from infra.ownership import TASK_COMPONENT

ALLOW_ENV = "GYRINX_TASKS_ALLOW_DELETIONS"
ALLOW_LABEL = "allow-task-deletions"
DEFAULT_MAX_SHARE = 0.25
_REMOVING_OPS = frozenset({"delete", "replace", "delete-replaced"})


@dataclass(frozen=True)
class Removal:
    """A resource the change deletes or replaces; ``task`` is None for a shared one."""

    op: str
    type: str
    name: str
    task: str | None


@dataclass(frozen=True)
class Change:
    """What the guard needs from a preview: the removals and the task resources before."""

    removals: tuple[Removal, ...]
    task_resources_before: int


def _parse_urn(urn: str) -> tuple[list[str], str]:
    # urn:pulumi:STACK::PROJECT::PARENT$...$TYPE::NAME
    _, _, qualified_type, name = urn.split("::", 3)
    return qualified_type.split("$"), name


def from_preview(document: Mapping[str, Any]) -> Change:
    """Read ``pulumi preview --json`` output."""
    existing: set[str] = set()
    removing: dict[str, Removal] = {}
    for step in document.get("steps", []):
        urn, op = step.get("urn", ""), step.get("op", "")
        if not urn.startswith("urn:pulumi:"):
            continue
        chain, name = _parse_urn(urn)
        type_ = chain[-1]
        if type_ == TASK_COMPONENT or type_.startswith(("pulumi:", "gyrinx-tasks:")):
            continue  # components and providers own no cloud resource
        task = name.split("-", 1)[0] if TASK_COMPONENT in chain[:-1] else None
        if op != "create" and task:
            existing.add(urn)
        if op in _REMOVING_OPS and urn not in removing:
            removing[urn] = Removal("replace" if op != "delete" else "delete", type_, name, task)
    return Change(tuple(removing.values()), len(existing))


def from_offline_diff(document: Mapping[str, Any]) -> Change:
    """Read ``python -m tools plan --diff OLD.json --json`` output."""
    removals = tuple(
        Removal(c["op"], c["type"], c["name"], c.get("task"))
        for c in document["changes"]
        if c["op"] in ("delete", "replace")
        and c["type"] != TASK_COMPONENT
        and not c["type"].startswith("gyrinx-tasks:")
    )
    return Change(removals, int(document["taskResourcesBefore"]))


def read(document: Mapping[str, Any]) -> Change:
    """Either input format, told apart by its keys."""
    if "steps" in document:
        return from_preview(document)
    if "changes" in document and "taskResourcesBefore" in document:
        return from_offline_diff(document)
    raise ValueError("not a `pulumi preview --json` document nor an offline `plan --diff --json` one")


def mentioned_tasks(text: str, tasks: Iterable[str]) -> set[str]:
    """The tasks whose name appears as a word in ``text`` (a pull request's diff)."""
    return {task for task in tasks if re.search(rf"\b{re.escape(task)}\b", text)}


def violations(change: Change, max_share: float = DEFAULT_MAX_SHARE, mentioned: set[str] | None = None) -> list[str]:
    """Every reason the change needs approval; empty when it may go ahead."""
    problems = []
    task_removals = [r for r in change.removals if r.task]
    if task_removals and change.task_resources_before:
        share = len(task_removals) / change.task_resources_before
        if share > max_share:
            problems.append(
                f"deletes or replaces {len(task_removals)} of {change.task_resources_before} task resources "
                f"({share:.0%}), more than the allowed {max_share:.0%}"
            )
    if mentioned is not None:
        for task in sorted({r.task for r in task_removals if r.task} - mentioned):
            problems.append(f"deletes or replaces resources of task {task}, which the pull request does not mention")
    for removal in change.removals:
        if not removal.task:
            problems.append(f"{removal.op}s shared resource {removal.type} {removal.name}")
    return problems


def report(change: Change, problems: list[str], allowed: bool) -> str:
    """What the guard prints: the removals by task, then the verdict."""
    lines = [f"Deletion guard: {len(change.removals)} resources deleted or replaced."]
    for removal in sorted(change.removals, key=lambda r: (r.task or "", r.type, r.name)):
        lines.append(f"  {removal.op:<8} {removal.type}  {removal.name}  (task {removal.task or '-, shared'})")
    if not problems:
        lines.append("OK: nothing here needs approval.")
    elif allowed:
        lines += [f"  ! {p}" for p in problems] + ["APPROVED through the escape hatch: going ahead."]
    else:
        lines += [f"  ! {p}" for p in problems]
        lines.append(
            f"FAILED: if this is intended, approve it by adding the label '{ALLOW_LABEL}' to the pull "
            f"request (the workflow then sets {ALLOW_ENV}=true), or run the guard with --allow."
        )
    return "\n".join(lines) + "\n"


EXIT_GUARD_FAILED = 1


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``guard``."""
    parser.add_argument("preview", type=Path, help="`pulumi preview --json` output, or `plan --diff OLD --json` output")
    parser.add_argument(
        "--mentioned-in",
        type=Path,
        action="append",
        default=[],
        metavar="FILE",
        help="text of the pull request (e.g. its git diff); tasks named in it may be removed",
    )
    parser.add_argument("--task", action="append", default=[], help="a task the change is meant to remove or move")
    parser.add_argument(
        "--max-share",
        type=float,
        default=DEFAULT_MAX_SHARE,
        help="largest share of task resources one change may delete (default %(default)s)",
    )
    parser.add_argument("--allow", action="store_true", help=f"approve the deletions (or set {ALLOW_ENV}=true)")


def run(args: argparse.Namespace) -> int:
    """Exit 0 when the change may go ahead, 1 when it needs approval, 2 when unreadable."""
    try:
        change = read(json.loads(args.preview.read_text()))
        text = "\n".join(path.read_text() for path in args.mentioned_in)
    except (OSError, ValueError, KeyError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    mentioned = None
    if args.mentioned_in or args.task:
        tasks = {removal.task for removal in change.removals if removal.task}
        mentioned = mentioned_tasks(text, tasks) | set(args.task)
    problems = violations(change, args.max_share, mentioned)
    allowed = args.allow or os.environ.get(ALLOW_ENV, "").lower() in ("1", "true", "yes")
    sys.stdout.write(report(change, problems, allowed))
    return EXIT_GUARD_FAILED if problems and not allowed else 0
