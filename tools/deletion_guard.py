"""The deletion guard: fail a pull request whose preview deletes more than it should.

It reads either the digest ``pulumi preview --json`` prints or the offline
``./dev plan --diff OLD.json --json`` document, and fails (exit 1) when the change
deletes or replaces

- more than ``--max-share`` of the stack's resources (the share is defined below), or
- any resource of a task the pull request does not name (with ``--mentioned-in`` or
  ``--task``), or
- any shared resource (the push service account, the service identity, an API, ...),

It also fails on any change that can lose or misroute work, whether or not the pull
request names the task (``tools.misroutes``): a topic or subscription replaced (what is
queued in the old one is gone), a push endpoint, OIDC audience or push service account
changed, message retention lowered, a dead-letter policy removed or its delivery
attempts lowered. Each is listed by task.

Unless approved: ``--allow``, or ``GYRINX_TASKS_ALLOW_DELETIONS=true``, which the
workflows set only when ``./dev approval`` (``tools.approval``), run from the base
branch's code, finds a maintainer's approving review of the pull request's last commit
that says ``allow-task-deletions``. A replacement counts as a deletion: the old topic or
subscription, and what is queued in it, is gone.

**What counts as removed.** A resource whose step (or change) deletes or replaces it:
``delete``, ``replace`` and the physical steps of a replacement (see ``OPS``). Each
resource counts once however many steps name it (one URN, one resource). Components
(``gyrinx-tasks:*``), the root stack (``pulumi:pulumi:Stack``) and providers
(``pulumi:providers:*``) hold nothing in the cloud, so they are never counted as removed.

**Whose resource it is.** A removed resource belongs to the task its parent is: the
parent URN recorded in the step's ``oldState``/``newState`` (the offline diff's
``task``, which the diff reads from the plan's ``parent``) when that parent's type is
``infra.ownership.TASK_COMPONENT``; the parent's name is the task. When no parent is
recorded but the URN's type chain runs through the task component,
``infra.ownership.child_of`` names the task from the child's type and name. Anything
else is shared.

**The share** is ``removed / before``: ``removed`` is the number of resources counted
as removed above (tasks' and shared ones); ``before`` is the number of resources the
stack holds before the change as the engine counts them, components included, the root
stack and default providers not: in a preview, ``changeSummary``'s ``same + update +
replace + delete`` less one for the root stack's own step; in the offline diff,
``resourcesBefore`` (the old plan's resources; it records neither the root stack nor
default providers). The engine hides default providers from the digest and from the
summary (``isInternalStep`` in pkg/engine/update.go), so both counts agree on the same
change, and the share does not depend on whether the preview shows unchanged steps.

**Fail closed.** A document the guard cannot read exits 2 with one line and never
passes: not JSON, neither format, a wrong shape, a step without a usable URN, an op not
in ``OPS``, a preview whose diagnostics carry an error (the preview failed), a preview
that may be corrupt, or counts that contradict each other (more removals than resources
before, summaries that disagree with the steps or changes listed).

**Mentions.** ``--mentioned-in FILE`` (the pull request's ``git diff``) names a task
when the task's name appears in it as a whole identifier (``send`` is not named by
``send_email``). The generated review files under ``plans/`` never count: a change to
shared code rewrites every task's entry there.
"""

from __future__ import annotations

import argparse
import math
import os
import re
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from infra.inputs import parse_json, read_text
from infra.ownership import TASK_COMPONENT, child_of
from tools import misroutes, plan_diff, stack_config
from tools.approval import APPROVAL
from tools.arguments import caller_path
from tools.errors import PreviewFailed, UnreadableInput
from tools.misroutes import Misroute

ALLOW_ENV = "GYRINX_TASKS_ALLOW_DELETIONS"
DEFAULT_MAX_SHARE = 0.25
EXIT_GUARD_FAILED = 1

# Every step op the engine has, and whether it deletes or replaces a cloud resource the
# stack manages: pkg/resource/deploy/step.go in pulumi/pulumi (the `const` block of
# StepOp values and `StepOps`, lines 2235-2274 at commit 1b5949891b3cefcb9974752b24a5ecef0acc86c8).
OPS: Mapping[str, bool] = {
    "same": False,
    "create": False,
    "update": False,
    "delete": True,
    "replace": True,  # the logical step the digest shows for every kind of replacement
    "create-replacement": True,  # the new half of a replacement (--show-replacement-steps)
    "delete-replaced": True,  # the old half of a replacement, deleted (--show-replacement-steps)
    "read": False,
    # Reads a resource in place of a managed one, which it marks for deletion
    # (GenerateReadSteps in pkg/resource/deploy/step_generator.go).
    "read-replacement": True,
    "refresh": False,
    "discard": False,  # DeleteStep of an External (read) resource: state only
    "discard-replaced": False,  # the same, in a replacement: state only
    "remove-pending-replace": False,  # already deleted earlier; its Apply does nothing
    "import": False,
    # Adopts another resource in place of a managed one, which is then deleted
    # (GenerateSteps in pkg/resource/deploy/step_generator.go pairs it with a replace).
    "import-replacement": True,
    "diff": False,
    "extend-parameterize": False,
}
# The removing ops that delete without creating anything in the resource's place.
_DELETING_OPS = ("delete", "delete-replaced")
# The logical ops whose resource existed before the change: what ``changeSummary`` counts
# as the stack before it (logical steps only: OnResourceStepPost in pkg/engine/update.go).
_BEFORE_OPS = ("same", "update", "replace", "delete")
# The logical removing ops: the digest always shows their steps (shouldShow in
# pkg/backend/display/display.go hides only `same` steps and non-logical replacement steps).
_SUMMARISED_REMOVALS = ("delete", "replace")

# Types that hold nothing in the cloud besides the program's components: the root stack
# (sdk/go/common/tokens/stack_type.go) and providers (MakeProviderType in
# sdk/go/common/providers/reference.go).
ROOT_STACK_TYPE = "pulumi:pulumi:Stack"
PROVIDER_TYPE_PREFIX = "pulumi:providers:"
# urn:pulumi:<stack>::<project>::<parent$...$type>::<name> (sdk/go/common/resource/urn/urn.go).
_URN_PREFIX = "urn:pulumi:"
_URN_DELIMITER = "::"
_TYPE_DELIMITER = "$"
# The preview's diagnostic severity of a failure (sdk/go/common/diag/sink.go).
_ERROR_SEVERITY = "error"

# Generated review files: a pull request's changes there never name a task.
GENERATED_DIR = stack_config.PLANS_DIR.relative_to(stack_config.PROJECT_DIR).as_posix() + "/"
_DIFF_HEADER = re.compile(r"^diff --git [^\n]*$", re.MULTILINE)
_IDENTIFIER = re.compile(r"\w+")


@dataclass(frozen=True)
class Urn:
    """A parsed URN: the qualified type's chain (parents' types, then the resource's) and the name."""

    chain: tuple[str, ...]
    name: str

    @property
    def type(self) -> str:
        """The resource's own type token."""
        return self.chain[-1]


@dataclass(frozen=True)
class Removal:
    """A resource the change deletes or replaces; ``task`` is None for a shared one."""

    op: str
    type: str
    name: str
    urn: str
    task: str | None


@dataclass(frozen=True)
class Change:
    """What the guard needs from a change: what it removes and how many resources exist before it."""

    removals: tuple[Removal, ...]
    resources_before: int
    misroutes: tuple[Misroute, ...] = ()

    @property
    def share(self) -> float:
        """The share of the resources before the change that it deletes or replaces."""
        return len(self.removals) / self.resources_before if self.resources_before else 0.0


def parse_urn(value: object) -> Urn | None:
    """``value`` as a URN, or None when it is not one (as ``urn.Parse``/``IsValid`` decide)."""
    if not isinstance(value, str) or not value.startswith(_URN_PREFIX):
        return None
    parts = value[len(_URN_PREFIX) :].split(_URN_DELIMITER, 3)
    if len(parts) != 4:
        return None
    _stack, _project, qualified_type, name = parts
    chain = tuple(qualified_type.split(_TYPE_DELIMITER))
    if not name or not all(chain):
        return None
    return Urn(chain, name)


def owns_cloud_resource(type_: str) -> bool:
    """False for components, the root stack and providers, which hold nothing in the cloud."""
    return not (plan_diff.is_component(type_) or type_ == ROOT_STACK_TYPE or type_.startswith(PROVIDER_TYPE_PREFIX))


def _count(value: object) -> int | None:
    """``value`` when it is a count (a non-negative integer, not a bool), else None."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def _refuse(label: str, problems: Sequence[str]) -> None:
    """Raise one line for ``problems`` (the first, and how many more), if any."""
    if problems:
        more = f" (and {len(problems) - 1} more problems)" if len(problems) > 1 else ""
        raise UnreadableInput(f"{label}: {problems[0]}{more}")


def _task_of_step(step: Mapping[str, Any], urn: Urn, label: str) -> str | None:
    """The task of a step's resource: by the parent its state records, else by its URN's type chain."""
    for key in ("oldState", "newState"):  # the old state is the resource that goes away
        state = step.get(key)
        parent = state.get("parent") if isinstance(state, Mapping) else None
        if parent:
            owner = parse_urn(parent)
            if owner is None:
                raise UnreadableInput(f"{label}: {key}.parent of {step['urn']} is not a URN: {parent!r}")
            return owner.name if owner.type == TASK_COMPONENT else None
    if TASK_COMPONENT in urn.chain[:-1]:
        owned = child_of(urn.type, urn.name)
        return owned[0] if owned else None
    return None


def _step_misroutes(step: Mapping[str, Any], urn: Urn, label: str) -> list[Misroute]:
    """What an update step changes that can lose or misroute work (``tools.misroutes``)."""
    states = [step.get(key) for key in ("oldState", "newState")]
    # A state omits empty inputs (``omitempty`` in sdk/go/common/apitype/core.go).
    inputs = [state.get("inputs", {}) if isinstance(state, Mapping) else None for state in states]
    if not all(isinstance(value, Mapping) for value in inputs):
        # An update without both states hides what it changes: fail closed.
        raise UnreadableInput(f"{label}: update step {step['urn']} lacks its oldState or newState inputs")
    reasons = step.get("diffReasons")
    changed = {str(key) for key in reasons} if isinstance(reasons, list) else None
    task = _task_of_step(step, urn, label)
    return [
        Misroute(urn.type, urn.name, step["urn"], task, what)
        for what in misroutes.findings(urn.type, inputs[0], inputs[1], changed)
    ]


def _check_diagnostics(document: Mapping[str, Any], label: str) -> None:
    diagnostics = document.get("diagnostics", [])
    if not isinstance(diagnostics, list) or not all(isinstance(d, Mapping) for d in diagnostics):
        raise UnreadableInput(f'{label}: "diagnostics" is not a list of objects')
    errors = [d for d in diagnostics if d.get("severity") == _ERROR_SEVERITY]
    if errors:
        # The last line of a message is the one that says what went wrong (a traceback's
        # exception); the engine puts the "error: " prefix in the message itself.
        lines = [line for line in str(errors[0].get("message", "")).splitlines() if line.strip()]
        message = lines[-1].strip().removeprefix("error: ") if lines else "(no message)"
        more = f" (and {len(errors) - 1} more errors)" if len(errors) > 1 else ""
        raise PreviewFailed(f"{label}: the preview failed, so its steps are not the whole change: {message}{more}")
    if document.get("maybeCorrupt") is True:
        raise PreviewFailed(
            f"{label}: the preview says resources may be corrupt (maybeCorrupt); its counts cannot be trusted"
        )


def _change_summary(document: Mapping[str, Any], label: str) -> dict[str, int]:
    summary = document.get("changeSummary")
    if not isinstance(summary, Mapping) or not summary:
        raise UnreadableInput(
            f'{label}: no "changeSummary": the preview did not finish, or this is not `pulumi preview --json` output'
        )
    problems = [f'changeSummary has an op the guard does not know: "{op}"' for op in summary if op not in OPS]
    problems += [f'changeSummary["{op}"] is not a count: {n!r}' for op, n in summary.items() if _count(n) is None]
    _refuse(label, problems)
    return {str(op): int(n) for op, n in summary.items()}


def from_preview(document: Mapping[str, Any], label: str = "the preview") -> Change:
    """Read the digest ``pulumi preview --json`` prints (``PreviewDigest`` in pkg/display/json.go)."""
    _check_diagnostics(document, label)
    steps = document.get("steps")
    if not isinstance(steps, list) or not steps:
        raise UnreadableInput(f'{label}: no "steps" list: not the digest `pulumi preview --json` prints')
    problems: list[str] = []
    removals: dict[str, Removal] = {}
    found: list[Misroute] = []
    seen: dict[str, set[str]] = {op: set() for op in OPS}
    root_ops: set[str] = set()
    for position, step in enumerate(steps, start=1):
        if not isinstance(step, Mapping):
            problems.append(f"step #{position} is not an object")
            continue
        op, urn = step.get("op"), parse_urn(step.get("urn"))
        if not isinstance(op, str) or op not in OPS:
            problems.append(f"step #{position} has an op the guard does not know: {op!r}")
            continue
        if urn is None:
            given = f": {step['urn']!r}" if "urn" in step else ""
            problems.append(f"step #{position} ({op}) has no usable URN{given}")
            continue
        bad_states = [key for key in ("oldState", "newState") if not isinstance(step.get(key, {}), Mapping)]
        if bad_states:
            problems.append(f"step #{position} ({op} {step['urn']}): {bad_states[0]} is not an object")
            continue
        seen[op].add(step["urn"])
        if urn.type == ROOT_STACK_TYPE and len(urn.chain) == 1:
            root_ops.add(op)
        if OPS[op] and owns_cloud_resource(urn.type):
            # One resource, however many steps name it: a replacement if any of them says
            # so, else a deletion (a lone delete-replaced finishes an earlier replacement).
            earlier = removals.get(step["urn"])
            shown = "delete" if op in _DELETING_OPS and (earlier is None or earlier.op == "delete") else "replace"
            task = earlier.task if earlier else _task_of_step(step, urn, label)
            removals[step["urn"]] = Removal(shown, urn.type, urn.name, step["urn"], task)
        elif op == "update" and urn.type in misroutes.WATCHED_TYPES:
            found.extend(_step_misroutes(step, urn, label))
    _refuse(label, problems)
    summary = _change_summary(document, label)
    if not root_ops:
        raise UnreadableInput(f"{label}: no step for the root stack ({ROOT_STACK_TYPE}), which every preview shows")
    for op in _SUMMARISED_REMOVALS:
        if len(seen[op]) < summary.get(op, 0):
            raise UnreadableInput(
                f'{label}: changeSummary counts {summary[op]} "{op}" but the steps show {len(seen[op])}: '
                "steps are missing, so the guard cannot see everything removed"
            )
    before = sum(summary.get(op, 0) for op in _BEFORE_OPS) - len(root_ops & set(_BEFORE_OPS))
    if len(removals) > before:
        raise UnreadableInput(
            f"{label}: the steps delete or replace {_resources(len(removals))} but changeSummary counts only "
            f"{_resources(max(before, 0))} before the change"
        )
    return Change(tuple(removals.values()), before, tuple(found))


def from_offline_diff(document: Mapping[str, Any], label: str = "the diff") -> Change:
    """Read ``./dev plan --diff OLD.json --json`` output (``plan_diff.to_document``)."""
    changes, summary = document.get("changes"), document.get("summary")
    if not isinstance(changes, list) or not isinstance(summary, Mapping):
        raise UnreadableInput(
            f'{label}: not an offline diff (a "changes" list and a "summary" needed); write one with '
            "./dev plan --diff OLD.json --json"
        )
    counts = {key: _count(document.get(key)) for key in ("resourcesBefore", "taskResourcesBefore")}
    problems = [f"{key} is not a count: {document.get(key)!r}" for key, n in counts.items() if n is None]
    problems += [
        f'summary["{op}"] is not a count: {summary.get(op)!r}'
        for op in (*plan_diff.OPS, "same")
        if _count(summary.get(op)) is None
    ]
    _refuse(label, problems)
    before, task_before = int(counts["resourcesBefore"] or 0), int(counts["taskResourcesBefore"] or 0)
    removals: dict[str, Removal] = {}
    found: list[Misroute] = []
    listed = dict.fromkeys(plan_diff.OPS, 0)
    for position, entry in enumerate(changes, start=1):
        if not isinstance(entry, Mapping) or entry.get("op") not in plan_diff.OPS:
            op = entry.get("op") if isinstance(entry, Mapping) else entry
            problems.append(f"change #{position} has an op the guard does not know: {op!r}")
            continue
        urn = parse_urn(entry.get("urn"))
        task = entry.get("task")
        if urn is None or not all(isinstance(entry.get(key), str) for key in ("type", "name")):
            problems.append(f"change #{position} ({entry['op']}) has no usable URN, type and name")
            continue
        if task is not None and not isinstance(task, str):
            problems.append(f"change #{position} ({entry['op']} {entry['urn']}): task is not a name: {task!r}")
            continue
        listed[entry["op"]] += 1
        if entry["op"] in ("delete", "replace") and owns_cloud_resource(entry["type"]):
            removals.setdefault(entry["urn"], Removal(entry["op"], entry["type"], entry["name"], entry["urn"], task))
        elif entry["op"] == "update" and entry["type"] in misroutes.WATCHED_TYPES:
            fields = entry.get("fields")
            if not isinstance(fields, Mapping) or not all(isinstance(f, Mapping) for f in fields.values()):
                problems.append(
                    f"change #{position} (update {entry['urn']}): fields is not an object of old/new values"
                )
                continue
            # The diff writes an absent value as None (plan_diff.Change.to_dict).
            old = {key: f["old"] for key, f in fields.items() if f.get("old") is not None}
            new = {key: f["new"] for key, f in fields.items() if f.get("new") is not None}
            found += [
                Misroute(entry["type"], entry["name"], entry["urn"], task, what)
                for what in misroutes.findings(entry["type"], old, new, set(fields))
            ]
    problems += [
        f'summary counts {summary[op]} "{op}" but {n} such changes are listed'
        for op, n in listed.items()
        if summary[op] != n
    ]
    counted = sum(summary[op] for op in _BEFORE_OPS)
    if counted != before:
        problems.append(
            f"resourcesBefore is {before} but the summary counts {counted} (same + update + replace + delete)"
        )
    task_removals = sum(1 for removal in removals.values() if removal.task)
    if len(removals) > before or task_removals > task_before or task_before > before:
        problems.append(
            f"counts contradict each other: {_resources(len(removals))} removed ({task_removals} of tasks) with "
            f"{_resources(before)} before ({task_before} of tasks)"
        )
    _refuse(label, problems)
    return Change(tuple(removals.values()), before, tuple(found))


def read(document: object, label: str = "the document") -> Change:
    """Either input format, told apart by its keys; anything else is refused."""
    if not isinstance(document, Mapping):
        raise UnreadableInput(
            f"{label}: not a JSON object, so neither `pulumi preview --json` output nor an offline diff"
        )
    is_preview = "steps" in document or "changeSummary" in document
    is_diff = "changes" in document
    if is_preview and is_diff:
        raise UnreadableInput(
            f'{label}: both "steps" (a preview) and "changes" (an offline diff): not a document either writes'
        )
    if is_preview:
        return from_preview(document, label)
    if is_diff:
        return from_offline_diff(document, label)
    if "resources" in document and not is_preview:
        raise UnreadableInput(
            f"{label}: an offline plan, not a diff; write the diff with ./dev plan --diff OLD.json --json"
        )
    raise UnreadableInput(
        f"{label}: neither `pulumi preview --json` output (steps, changeSummary) nor an offline "
        "`./dev plan --diff OLD.json --json` document (changes)"
    )


def load(path: Path) -> Change:
    """Read and check the file ``path`` (either format)."""
    # One bounded reader of input files (infra.inputs): regular files only, UTF-8, a size
    # and a nesting limit, no repeated keys; each refusal is one line naming the file.
    text = read_text(path, str(path))
    if not text.strip():
        raise UnreadableInput(
            f"{path} is empty: `pulumi preview --json` prints nothing when the preview fails before it starts"
        )
    document = parse_json(text, str(path))
    return read(document, str(path))


def identifiers(text: str) -> set[str]:
    """Every identifier in ``text`` (a pull request's ``git diff``), once, except in the
    sections of generated files under ``plans/``."""
    names: set[str] = set()
    start, keep = 0, True
    for header in _DIFF_HEADER.finditer(text):
        if keep:
            names.update(_IDENTIFIER.findall(text, start, header.start()))
        start, keep = header.start(), not _is_generated(header.group())
    if keep:
        names.update(_IDENTIFIER.findall(text, start))
    return names


def _is_generated(header: str) -> bool:
    """True when a ``diff --git a/OLD b/NEW`` header names a file under ``plans/`` on either side
    (git quotes a path with unusual characters: both forms are read)."""
    paths = header[len("diff --git ") :]
    return paths.startswith((f"a/{GENERATED_DIR}", f'"a/{GENERATED_DIR}')) or any(
        marker in paths for marker in (f" b/{GENERATED_DIR}", f' "b/{GENERATED_DIR}')
    )


def mentioned_tasks(text: str, tasks: Iterable[str]) -> set[str]:
    """The tasks whose name appears in ``text`` as a whole identifier, outside ``plans/``."""
    names = identifiers(text)
    return {task for task in tasks if task in names}


def _resources(count: int) -> str:
    return f"{count} resource{'' if count == 1 else 's'}"


def _percent(share: float) -> str:
    return f"{share * 100:.4g}%"


def violations(change: Change, max_share: float = DEFAULT_MAX_SHARE, mentioned: set[str] | None = None) -> list[str]:
    """Every reason the change needs approval; empty when it may go ahead."""
    problems = []
    if change.share > max_share:
        problems.append(
            f"deletes or replaces {len(change.removals)} of the {change.resources_before} resources in the stack "
            f"({_percent(change.share)}), more than the allowed {_percent(max_share)}"
        )
    if mentioned is not None:
        for task in sorted({r.task for r in change.removals if r.task} - mentioned):
            problems.append(f"deletes or replaces resources of task {task}, which the pull request does not mention")
    for removal in sorted(change.removals, key=lambda r: (r.type, r.name)):
        if not removal.task:
            problems.append(f"{removal.op}s shared resource {removal.type} {removal.name}")
        elif removal.op == "replace" and removal.type in plan_diff.HOLDS_MESSAGES:
            problems.append(
                f"replaces {removal.type} {removal.name} of task {removal.task}: what is queued in the old one is lost"
            )
    for misroute in sorted(change.misroutes, key=lambda m: (m.task or "", m.type, m.name, m.what)):
        owner = f"task {misroute.task}" if misroute.task else "shared"
        problems.append(f"can lose or misroute work of {owner}: {misroute.type} {misroute.name}: {misroute.what}")
    return problems


def report(change: Change, problems: list[str], allowed: bool) -> str:
    """What the guard prints: the removals by task, then the verdict."""
    lines = [
        f"Deletion guard: {len(change.removals)} of the {change.resources_before} resources in the stack "
        "deleted or replaced."
    ]
    for removal in sorted(change.removals, key=lambda r: (r.task or "", r.type, r.name)):
        lines.append(f"  {removal.op:<8} {removal.type}  {removal.name}  (task {removal.task or '-, shared'})")
    for misroute in sorted(change.misroutes, key=lambda m: (m.task or "", m.type, m.name, m.what)):
        lines.append(
            f"  update   {misroute.type}  {misroute.name}  (task {misroute.task or '-, shared'}): {misroute.what}"
        )
    if not problems:
        lines.append("OK: nothing here needs approval.")
    elif allowed:
        lines += [f"  ! {p}" for p in problems] + ["APPROVED through the escape hatch: going ahead."]
    else:
        lines += [f"  ! {p}" for p in problems]
        lines.append(
            f"FAILED: if this is intended, a maintainer approves the pull request's last commit with a review that "
            f"says '{APPROVAL}' (the workflows then set {ALLOW_ENV}=true), or run the guard with --allow."
        )
    return "\n".join(lines) + "\n"


def parse_share(value: str) -> float:
    """``--max-share``: a fraction in (0, 1] (``0.25``) or a percentage (``25%``)."""
    text = value.strip()
    number = text[:-1] if text.endswith("%") else text
    try:
        share = float(number) / (100 if text.endswith("%") else 1)
    except ValueError:
        share = math.nan
    if not (math.isfinite(share) and 0 < share <= 1):
        raise argparse.ArgumentTypeError(
            f"{value!r} is not a share: give a fraction in (0, 1] such as 0.25, or a percentage such as 25%"
        )
    return share


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``guard``."""
    parser.add_argument(
        "preview",
        type=caller_path,
        help="`pulumi preview --json` output, or `./dev plan --diff OLD.json --json` output",
    )
    parser.add_argument(
        "--mentioned-in",
        type=caller_path,
        action="append",
        default=[],
        metavar="FILE",
        help="text of the pull request (e.g. its git diff; files under plans/ do not count); tasks named in it may "
        "be removed",
    )
    parser.add_argument("--task", action="append", default=[], help="a task the change is meant to remove or move")
    parser.add_argument(
        "--max-share",
        type=parse_share,
        default=DEFAULT_MAX_SHARE,
        metavar="SHARE",
        help="largest share of the stack's resources one change may delete or replace: a fraction in (0, 1] or a "
        # argparse %-formats help strings: a literal percent sign is written %%.
        f"percentage (default {_percent(DEFAULT_MAX_SHARE).replace('%', '%%')})",
    )
    parser.add_argument("--allow", action="store_true", help=f"approve the deletions (or set {ALLOW_ENV}=true)")


def _read_texts(paths: Iterable[Path]) -> str:
    texts = []
    for path in paths:
        try:
            # A diff may hold bytes that are not UTF-8 (a binary file, another encoding);
            # they never form part of an identifier, so they are replaced, not refused.
            texts.append(path.read_text(encoding="utf-8", errors="replace"))
        except OSError as exc:
            raise UnreadableInput(f"cannot read {path}: {exc}") from exc
    return "\n".join(texts)


def run(args: argparse.Namespace) -> int:
    """Exit 0 when the change may go ahead, 1 when it needs approval; what the guard
    cannot read raises :class:`tools.errors.ToolError` (the CLI exits 2)."""
    change = load(args.preview)
    # With no pull-request text and no --task, no task is named: every task's removal
    # needs approval (fail closed), never none of them.
    tasks = {removal.task for removal in change.removals if removal.task}
    mentioned = mentioned_tasks(_read_texts(args.mentioned_in), tasks) | set(args.task)
    problems = violations(change, args.max_share, mentioned)
    allowed = args.allow or os.environ.get(ALLOW_ENV, "").lower() in ("1", "true", "yes")
    sys.stdout.write(report(change, problems, allowed))
    return EXIT_GUARD_FAILED if problems and not allowed else 0
