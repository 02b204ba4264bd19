"""The deletion guard, on the digest ``pulumi preview --json`` prints and on the offline diff.

The previews here follow the shape read in pulumi/pulumi at commit
1b5949891b3cefcb9974752b24a5ecef0acc86c8:

- pkg/display/json.go (lines 31-84): ``PreviewDigest`` {config, steps, diagnostics, duration,
  changeSummary, maybeCorrupt}; ``PreviewStep`` {op, urn, provider, oldState, newState,
  diffReasons, replaceReasons, detailedDiff (never omitted: null when absent)}.
- pkg/backend/display/json.go ``ShowPreviewDigest`` (161-265) and display.go ``shouldShow`` (308-328): ``same``
  steps only with ``--show-sames``, the root stack's step always, ``create-replacement`` and
  ``delete-replaced`` only with ``--show-replacement-steps``; ``changeSummary`` is the
  summary event's count of logical steps per op; internal steps (default providers) are
  filtered out (display.go ``ShowEvents``, pkg/engine/update.go ``isInternalStep``).
- sdk/go/common/apitype/core.go ``ResourceV3``: a state's urn, custom, id, type, inputs,
  outputs, parent, provider, ...
- pkg/resource/deploy/deployment.go ``generateURN``: a URN's type chain is its parent's
  qualified type (nothing for a child of the root stack), ``$``, its own type.
- pkg/resource/deploy/step.go (2235-2274): the step ops.

``preview_digest`` turns two offline plans into the digest the CLI would print for that
change; the files in ``tests/data/previews`` are literal digests of the same shape.
"""

from __future__ import annotations

import argparse
import copy
import json
from collections import Counter
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

from infra import ownership
from infra.errors import GyrinxTasksError
from tests.stack_plans import stack_plan
from tools import approval, deletion_guard, plan_diff
from tools.cli import main, parser

PREVIEWS = Path(__file__).parent / "data" / "previews"
STACK = "dev"
PROVIDER_ID = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"  # providers.UnknownID: a preview's new provider


# ---- the digest the CLI prints for a change between two offline plans ----------------------


def _root_urn(plan: Mapping[str, Any]) -> str:
    urns = {r["urn"] for r in plan["resources"]}
    roots = {r["parent"] for r in plan["resources"] if r["parent"] not in urns}
    assert len(roots) == 1, roots
    return roots.pop()


def preview_digest(
    old: Mapping[str, Any],
    new: Mapping[str, Any],
    *,
    show_sames: bool = False,
    show_replacement_steps: bool = False,
) -> dict[str, Any]:
    """What ``pulumi preview --json`` prints for the change from plan ``old`` to plan ``new``."""
    before = {r["urn"]: r for r in old["resources"]}
    after = {r["urn"]: r for r in new["resources"]}
    root = _root_urn(old)
    stack, project = root[len("urn:pulumi:") :].split("::")[:2]
    provider = f"urn:pulumi:{stack}::{project}::pulumi:providers:gcp::default_9_6_0::{PROVIDER_ID}"
    changes = {change.urn: change for change in plan_diff.diff(old, new)}

    def state(resource: Mapping[str, Any], existing: bool) -> dict[str, Any]:
        custom = not plan_diff.is_component(resource["type"])
        parent = before.get(resource["parent"]) or after.get(resource["parent"])
        result: dict[str, Any] = {"urn": resource["urn"], "custom": custom}
        if custom and existing:
            result["id"] = f"{resource['name']}-id"
        result["type"] = resource["type"]
        if resource["inputs"]:
            result["inputs"] = resource["inputs"]
            result["outputs"] = resource["inputs"]
        result["parent"] = parent["urn"] if parent else root
        if custom:
            result["provider"] = provider
        return result

    def step(op: str, urn: str, *, old_state: bool, new_state: bool, keys: tuple[str, ...] = ()) -> dict[str, Any]:
        resource = after.get(urn) or before[urn]
        entry: dict[str, Any] = {"op": op, "urn": urn}
        if not plan_diff.is_component(resource["type"]):
            entry["provider"] = provider
        if old_state:
            entry["oldState"] = state(before[urn], existing=True)
        if new_state:
            entry["newState"] = state(after[urn], existing=op == "same")
        if keys:
            entry["diffReasons"] = list(keys)
            if op != "update":
                entry["replaceReasons"] = [k for k in keys if k in plan_diff.IMMUTABLE.get(resource["type"], ())]
        kind = "update-replace" if op != "update" else "update"
        entry["detailedDiff"] = {key: {"kind": kind, "inputDiff": True} for key in keys} if keys else None
        return entry

    root_state = {"urn": root, "custom": False, "type": deletion_guard.ROOT_STACK_TYPE}
    steps = [{"op": "same", "urn": root, "oldState": root_state, "newState": root_state, "detailedDiff": None}]
    summary = Counter({"same": 1})  # the root stack's step is logical: counted
    deletes = []
    for urn in after:
        change = changes.get(urn)
        if change is None:
            summary["same"] += 1
            if show_sames:
                steps.append(step("same", urn, old_state=True, new_state=True))
            continue
        summary[change.op] += 1
        if change.op == "create":
            steps.append(step("create", urn, old_state=False, new_state=True))
        elif change.op == "update":
            steps.append(step("update", urn, old_state=True, new_state=True, keys=change.keys))
        else:
            if show_replacement_steps:
                steps.append(step("create-replacement", urn, old_state=True, new_state=True, keys=change.keys))
                deletes.append(step("delete-replaced", urn, old_state=True, new_state=False))
            steps.append(step("replace", urn, old_state=True, new_state=True, keys=change.keys))
    for urn in before:
        if urn not in after:
            summary["delete"] += 1
            deletes.append(step("delete", urn, old_state=True, new_state=False))
    return {
        "config": {"gcp:project": f"gyrinx-{stack}"},
        "steps": steps + deletes[::-1],  # the engine deletes children before their parents
        "duration": 4187296633,
        "changeSummary": dict(sorted(summary.items())),
    }


# ---- changes derived from the committed stacks' plans ---------------------------------------


def plan(stack: str = STACK) -> dict[str, Any]:
    """A private copy of the stack's offline plan document."""
    return copy.deepcopy(stack_plan(stack).document())


def tasks_of(document: Mapping[str, Any]) -> list[str]:
    return sorted(r["name"] for r in document["resources"] if r["type"] == ownership.TASK_COMPONENT)


def owned(document: Mapping[str, Any], task: str) -> list[dict[str, Any]]:
    """The resources whose parent is ``task``'s component (what removing the task deletes)."""
    component = next(
        r["urn"] for r in document["resources"] if r["type"] == ownership.TASK_COMPONENT and r["name"] == task
    )
    return [r for r in document["resources"] if r["parent"] == component]


def without_tasks(document: Mapping[str, Any], tasks: set[str]) -> dict[str, Any]:
    gone = {r["urn"] for task in tasks for r in owned(document, task)}
    gone |= {r["urn"] for r in document["resources"] if r["type"] == ownership.TASK_COMPONENT and r["name"] in tasks}
    return {**document, "resources": [r for r in document["resources"] if r["urn"] not in gone]}


def shared_resource(document: Mapping[str, Any]) -> dict[str, Any]:
    """A resource that owns something in the cloud and is no task's."""
    index = {r["urn"]: r for r in document["resources"]}
    return next(
        r
        for r in document["resources"]
        if deletion_guard.owns_cloud_resource(r["type"]) and plan_diff.task_of(r, index) is None
    )


def with_ordered_dead_letters(document: Mapping[str, Any]) -> dict[str, Any]:
    """A shared-code change: every dead-letter subscription gains message ordering, an
    input Pub/Sub cannot change in place, so each is replaced."""

    def changed(resource: dict[str, Any]) -> dict[str, Any]:
        kind = ownership.child_of(resource["type"], resource["name"])
        if kind and kind[1] is ownership.DEAD_LETTER_SUBSCRIPTION:
            return {**resource, "inputs": {**resource["inputs"], "enableMessageOrdering": True}}
        return resource

    return {**document, "resources": [changed(r) for r in document["resources"]]}


def remove_first_task(document: dict[str, Any]) -> dict[str, Any]:
    return without_tasks(document, {tasks_of(document)[0]})


def remove_a_shared_resource(document: dict[str, Any]) -> dict[str, Any]:
    gone = shared_resource(document)["urn"]
    return {**document, "resources": [r for r in document["resources"] if r["urn"] != gone]}


SCENARIOS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "remove one task": remove_first_task,
    "remove half the tasks": lambda d: without_tasks(d, set(tasks_of(d)[::2])),
    "replace every dead-letter subscription": with_ordered_dead_letters,
    "delete a shared resource": remove_a_shared_resource,
    "no change": lambda d: d,
}


def write(tmp_path: Path, name: str, document: object) -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(document, indent=4) + "\n")
    return path


def from_digest(old: Mapping[str, Any], new: Mapping[str, Any], **flags: bool) -> deletion_guard.Change:
    return deletion_guard.read(json.loads(json.dumps(preview_digest(old, new, **flags))))


def removals(change: deletion_guard.Change) -> set[tuple[str, str, str, str | None]]:
    return {(r.op, r.type, r.name, r.task) for r in change.removals}


# ---- the share and what is removed --------------------------------------------------------------


def test_removing_one_mentioned_task_out_of_many_passes(tmp_path, capsys):
    old = plan()
    task = tasks_of(old)[0]
    preview = write(tmp_path, "preview.json", preview_digest(old, without_tasks(old, {task})))
    pr = tmp_path / "pr.diff"
    pr.write_text(f"diff --git a/example_app/tasks.py b/example_app/tasks.py\n-    TaskRoute(tasks.{task}),\n")
    assert main(["guard", str(preview), "--mentioned-in", str(pr)]) == 0
    assert "OK: nothing here needs approval." in capsys.readouterr().out


def test_the_removals_are_the_task_resources_its_component_parents():
    old = plan()
    task = tasks_of(old)[0]
    change = from_digest(old, without_tasks(old, {task}))
    assert sorted((r.type, r.name, r.task) for r in change.removals) == sorted(
        (r["type"], r["name"], task) for r in owned(old, task)
    )


def test_the_share_is_out_of_every_resource_the_stack_holds_before():
    old = plan()
    assert from_digest(old, remove_first_task(old)).resources_before == len(old["resources"])


def test_an_unmentioned_removal_fails(tmp_path, capsys):
    old = plan()
    task = tasks_of(old)[0]
    preview = write(tmp_path, "preview.json", preview_digest(old, without_tasks(old, {task})))
    pr = tmp_path / "pr.diff"
    pr.write_text("diff --git a/README.md b/README.md\n+ a change to something else\n")
    assert main(["guard", str(preview), "--mentioned-in", str(pr)]) == 1
    assert f"task {task}, which the pull request does not mention" in capsys.readouterr().out


def test_removing_more_than_the_share_fails():
    old = plan()
    tasks, removed = [], 0
    while removed <= deletion_guard.DEFAULT_MAX_SHARE * len(old["resources"]):
        tasks.append(tasks_of(old)[len(tasks)])
        removed += len(owned(old, tasks[-1]))
    change = from_digest(old, without_tasks(old, set(tasks)))
    problems = deletion_guard.violations(change, deletion_guard.DEFAULT_MAX_SHARE, set(tasks))
    share = f"{removed / len(old['resources']) * 100:.4g}%"
    assert problems == [
        f"deletes or replaces {removed} of the {len(old['resources'])} resources in the stack ({share}), "
        "more than the allowed 25%"
    ]


def test_deleting_a_shared_resource_fails():
    old = plan()
    gone = shared_resource(old)
    change = from_digest(old, remove_a_shared_resource(old))
    assert deletion_guard.violations(change, 1.0, set(tasks_of(old))) == [
        f"deletes shared resource {gone['type']} {gone['name']}"
    ]


def test_a_shared_code_change_replacing_every_dead_letter_subscription_fails(tmp_path, capsys):
    old, new = plan(), with_ordered_dead_letters(plan())
    preview = write(tmp_path, "preview.json", preview_digest(old, new))
    # The pull request changes shared code, and the refreshed review file names every task.
    review_lines = "\n".join(f"+    {json.dumps(r)}" for r in new["resources"])
    pr = tmp_path / "pr.diff"
    pr.write_text(
        "diff --git a/infra/task_queue.py b/infra/task_queue.py\n"
        "--- a/infra/task_queue.py\n+++ b/infra/task_queue.py\n"
        "+            enable_message_ordering=True,\n"
        f"diff --git a/plans/{STACK}.json b/plans/{STACK}.json\n"
        f"--- a/plans/{STACK}.json\n+++ b/plans/{STACK}.json\n{review_lines}\n"
    )
    assert all(task in review_lines for task in tasks_of(old))
    assert main(["guard", str(preview), "--mentioned-in", str(pr)]) == 1
    out = capsys.readouterr().out
    assert all(f"task {task}, which the pull request does not mention" in out for task in tasks_of(old))
    assert {r.task for r in from_digest(old, new).removals} == set(tasks_of(old))


@pytest.mark.parametrize("scenario", SCENARIOS)
@pytest.mark.parametrize(
    "flags",
    [{"show_sames": True}, {"show_replacement_steps": True}, {"show_sames": True, "show_replacement_steps": True}],
    ids=["sames", "replacement-steps", "both"],
)
def test_shown_sames_and_replacement_steps_change_nothing(scenario, flags):
    old = plan()
    new = SCENARIOS[scenario](plan())
    plain, shown = from_digest(old, new), from_digest(old, new, **flags)
    assert removals(plain) == removals(shown)
    assert plain.resources_before == shown.resources_before
    for mentioned in (None, set(), set(tasks_of(old))):
        assert deletion_guard.violations(plain, 0.25, mentioned) == deletion_guard.violations(shown, 0.25, mentioned)


@pytest.mark.parametrize("stack", ["dev", "example"])
@pytest.mark.parametrize("scenario", SCENARIOS)
def test_the_offline_diff_agrees_with_the_preview(stack, scenario):
    old = plan(stack)
    new = SCENARIOS[scenario](plan(stack))
    offline = deletion_guard.read(json.loads(json.dumps(plan_diff.to_document(old, new))))
    preview = from_digest(old, new)
    assert removals(offline) == removals(preview)
    assert offline.resources_before == preview.resources_before
    for mentioned in (None, set(), set(tasks_of(old))):
        assert deletion_guard.violations(offline, 0.25, mentioned) == deletion_guard.violations(
            preview, 0.25, mentioned
        )


def test_the_cli_reads_the_offline_diff(capsys, tmp_path):
    old = tmp_path / "old.json"
    assert main(["plan", "--stack", STACK, "--json"]) == 0
    old.write_text(capsys.readouterr().out)
    empty = ["--config", "allowEmptyRegistry=true", "--config", "registry=tests.fake_registry:ROUTES"]
    assert main(["plan", "--stack", STACK, "--json", "--diff", str(old), *empty]) == 0
    diff = write(tmp_path, "diff.json", json.loads(capsys.readouterr().out))
    assert main(["guard", str(diff)]) == 1
    document = json.loads(old.read_text())
    index = {r["urn"]: r for r in document["resources"]}
    tasks_resources = sum(
        1 for r in document["resources"] if not plan_diff.is_component(r["type"]) and plan_diff.task_of(r, index)
    )
    assert f"deletes or replaces {tasks_resources} of the {len(index)} resources" in capsys.readouterr().out


# ---- whose resource it is -------------------------------------------------------------------


def test_without_a_recorded_parent_the_type_chain_and_ownership_name_the_task():
    old = plan()
    digest = preview_digest(old, remove_first_task(old))
    for step in digest["steps"]:
        for key in ("oldState", "newState"):
            step.get(key, {}).pop("parent", None)
    assert removals(deletion_guard.read(digest)) == removals(from_digest(old, remove_first_task(old)))


def _one_step_digest(step: dict[str, Any]) -> dict[str, Any]:
    root = "urn:pulumi:prod::gyrinx-tasks::pulumi:pulumi:Stack::gyrinx-tasks-prod"
    return {
        "steps": [{"op": "same", "urn": root, "detailedDiff": None}, step],
        "changeSummary": {"same": 9, "delete": 1},
    }


def test_the_parent_decides_not_the_name():
    """A resource named like a task's topic under a shared component is shared; one with
    any name under a task's component is that task's."""
    prefix = "urn:pulumi:prod::gyrinx-tasks::"
    shared = f"{prefix}{ownership.SHARED_COMPONENT}"
    odd = {
        "op": "delete",
        "urn": f"{prefix}{ownership.SHARED_COMPONENT}${ownership.TOPIC_TYPE}::hello_world-topic",
        "oldState": {"type": ownership.TOPIC_TYPE, "custom": True, "parent": f"{shared}::shared"},
        "detailedDiff": None,
    }
    assert [r.task for r in deletion_guard.read(_one_step_digest(odd)).removals] == [None]
    task_child = {
        "op": "delete",
        "urn": f"{prefix}{ownership.TASK_COMPONENT}${ownership.TOPIC_TYPE}::spare",
        "oldState": {
            "type": ownership.TOPIC_TYPE,
            "custom": True,
            "parent": f"{prefix}{ownership.TASK_COMPONENT}::send",
        },
        "detailedDiff": None,
    }
    assert [r.task for r in deletion_guard.read(_one_step_digest(task_child)).removals] == ["send"]


REMOVING = ["delete", "replace", "create-replacement", "delete-replaced", "import-replacement", "read-replacement"]
KEEPING = [
    "same",
    "create",
    "update",
    "read",
    "refresh",
    "discard",
    "discard-replaced",
    "remove-pending-replace",
    "import",
]


@pytest.mark.parametrize("op", REMOVING + KEEPING)
def test_each_op_that_removes_or_replaces_a_cloud_resource_counts(op):
    """pkg/resource/deploy/step.go: ``delete``/``delete-replaced`` call the provider's Delete;
    ``replace``, ``create-replacement``, ``import-replacement`` and ``read-replacement`` are
    parts of a replacement, whose old resource is deleted (step_generator.go); ``discard``
    and ``discard-replaced`` drop a read (External) resource from the state only;
    ``remove-pending-replace`` does nothing (its Apply returns at once). A lone
    ``delete-replaced`` is real: the leftover of an earlier failed replacement."""
    prefix = "urn:pulumi:prod::gyrinx-tasks::"
    step = {
        "op": op,
        "urn": f"{prefix}{ownership.TASK_COMPONENT}${ownership.TOPIC_TYPE}::send-topic",
        "oldState": {
            "type": ownership.TOPIC_TYPE,
            "custom": True,
            "parent": f"{prefix}{ownership.TASK_COMPONENT}::send",
        },
        "detailedDiff": None,
    }
    if op == "update":  # the engine shows both states of an update
        step["newState"] = step["oldState"]
    root = f"{prefix}pulumi:pulumi:Stack::gyrinx-tasks-prod"
    document = {"steps": [{"op": "same", "urn": root, "detailedDiff": None}, step], "changeSummary": {"same": 10}}
    shown = "delete" if op in ("delete", "delete-replaced") else "replace"
    expected = [(shown, "send")] if op in REMOVING else []
    assert [(r.op, r.task) for r in deletion_guard.read(document).removals] == expected


def test_a_replacement_shows_as_one_replace_whatever_order_its_steps_come_in():
    """With deleteBeforeReplace the engine emits delete-replaced before replace (step_generator.go)."""
    document = literal("replacement_steps.json")
    steps = document["steps"]
    document["steps"] = [steps[0], *sorted(steps[1:], key=lambda s: s["op"] != "delete-replaced")]
    assert [r.op for r in deletion_guard.read(document).removals] == ["replace"]


# ---- the literal previews -------------------------------------------------------------------


def literal(name: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((PREVIEWS / name).read_text())
    return document


def test_a_literal_preview_removing_one_mentioned_task_passes(tmp_path, capsys):
    document = literal("remove_one_task.json")
    deleted = [s for s in document["steps"] if s["op"] == "delete" and s["oldState"]["custom"]]
    change = deletion_guard.read(document)
    assert {(r.op, r.urn) for r in change.removals} == {("delete", s["urn"]) for s in deleted}
    summary = document["changeSummary"]
    assert change.resources_before == summary["same"] + summary["delete"] - 1
    pr = tmp_path / "pr.diff"
    pr.write_text("-        TaskRoute(tasks.backfill_pins),\n")
    assert main(["guard", str(PREVIEWS / "remove_one_task.json"), "--mentioned-in", str(pr)]) == 0
    assert "OK" in capsys.readouterr().out


def test_replacement_steps_count_a_resource_once():
    document = literal("replacement_steps.json")
    change = deletion_guard.read(document)
    urns = {s["urn"] for s in document["steps"] if s["op"] != "same"}
    assert [(r.op, r.urn, r.task) for r in change.removals] == [("replace", urns.pop(), "hello_world")]


def test_creates_and_updates_are_not_removals():
    old = plan()
    new = {
        **old,
        "resources": [
            {**r, "inputs": {**r["inputs"], "labels": {"team": "other"}}} if r["type"] == ownership.TOPIC_TYPE else r
            for r in old["resources"]
        ],
    }
    grown = from_digest(remove_first_task(old), new)
    assert grown.removals == ()


# ---- fail closed ----------------------------------------------------------------------------

ROOT = "urn:pulumi:prod::gyrinx-tasks::pulumi:pulumi:Stack::gyrinx-tasks-prod"
TOPIC = f"urn:pulumi:prod::gyrinx-tasks::{ownership.TASK_COMPONENT}${ownership.TOPIC_TYPE}::send-topic"


def _preview(*steps: dict[str, Any], summary: dict[str, int] | None = None, **top: Any) -> dict[str, Any]:
    return {
        "steps": [{"op": "same", "urn": ROOT, "detailedDiff": None}, *steps],
        "changeSummary": summary or {"same": 9, "delete": 1},
        **top,
    }


DELETE_TOPIC = {"op": "delete", "urn": TOPIC, "detailedDiff": None}

UNREADABLE: dict[str, str | object] = {
    "empty (config errors print no JSON)": "",
    "not JSON": "{",
    "a stream of events, not the digest": '{"sequence": 0}\n{"sequence": 1}\n',
    "a list": [],
    "another JSON document": {"something": []},
    "an offline plan, not a diff": {"resources": [], "outputs": {}},
    "a step without a URN": {"steps": [{"op": "delete"}]},
    "steps not a list": {"steps": {"op": "delete"}, "changeSummary": {"same": 1}},
    "a step that is not an object": _preview("delete"),  # type: ignore[arg-type]
    "an op the guard does not know": _preview({**DELETE_TOPIC, "op": "obliterate"}),
    "a URN that is not one": _preview({**DELETE_TOPIC, "urn": "send-topic"}),
    "a URN with too few parts": _preview({**DELETE_TOPIC, "urn": "urn:pulumi:prod::gyrinx-tasks::send-topic"}),
    "a state that is not an object": _preview({**DELETE_TOPIC, "oldState": "gone"}),
    "a parent that is not a URN": _preview({**DELETE_TOPIC, "oldState": {"parent": "send"}}),
    "no changeSummary": {"steps": [{"op": "same", "urn": ROOT}, DELETE_TOPIC]},
    "a changeSummary op the guard does not know": _preview(DELETE_TOPIC, summary={"same": 9, "vanish": 1}),
    "a negative count": _preview(DELETE_TOPIC, summary={"same": 9, "delete": -1}),
    "a count that is not a number": _preview(DELETE_TOPIC, summary={"same": 9, "delete": "1"}),
    "a count that is a bool": _preview(DELETE_TOPIC, summary={"same": True, "delete": 1}),
    "no root stack step": {"steps": [DELETE_TOPIC], "changeSummary": {"same": 9, "delete": 1}},
    "fewer delete steps than counted": _preview(DELETE_TOPIC, summary={"same": 9, "delete": 3}),
    "more removals than resources before": _preview(DELETE_TOPIC, summary={"same": 1}),
    "an error diagnostic (the preview failed)": _preview(
        DELETE_TOPIC, diagnostics=[{"message": "error: boom\nmore", "severity": "error"}]
    ),
    "diagnostics not a list": _preview(DELETE_TOPIC, diagnostics={"severity": "error"}),
    "maybe corrupt": _preview(DELETE_TOPIC, maybeCorrupt=True),
    "both formats at once": {**_preview(DELETE_TOPIC), "changes": []},
}


def _offline(**changes: Any) -> dict[str, Any]:
    document = {
        "changes": [{"op": "delete", "type": ownership.TOPIC_TYPE, "name": "send-topic", "urn": TOPIC, "task": "send"}],
        "summary": {"create": 0, "update": 0, "replace": 0, "delete": 1, "same": 9},
        "resourcesBefore": 10,
        "taskResourcesBefore": 8,
    }
    return document | changes


UNREADABLE |= {
    "an offline diff without counts": {"changes": []},
    "an offline diff with a negative count": _offline(resourcesBefore=-1),
    "an offline diff with more removals than resources": _offline(resourcesBefore=0, taskResourcesBefore=0),
    "an offline diff with more task removals than task resources": _offline(taskResourcesBefore=0),
    "an offline diff whose summary disagrees with its changes": _offline(
        summary={"create": 0, "update": 0, "replace": 0, "delete": 3, "same": 7}
    ),
    "an offline diff whose resourcesBefore disagrees with its summary": _offline(resourcesBefore=100),
    "an offline diff with more task resources than resources": _offline(taskResourcesBefore=11),
    "an offline diff with an op the guard does not know": _offline(
        changes=[{"op": "destroy", "type": ownership.TOPIC_TYPE, "name": "send-topic", "urn": TOPIC}]
    ),
    "an offline diff change without a URN": _offline(
        changes=[{"op": "delete", "type": ownership.TOPIC_TYPE, "name": "send-topic", "task": "send"}]
    ),
}


def test_the_fail_closed_cases_are_otherwise_readable():
    """Each refusal below differs from a document the guard reads in one thing."""
    assert deletion_guard.read(_preview(DELETE_TOPIC)).removals
    assert deletion_guard.read(_offline()).removals


@pytest.mark.parametrize("case", UNREADABLE)
def test_what_the_guard_cannot_read_exits_2_with_one_line(case, tmp_path, capsys):
    content = UNREADABLE[case]
    path = tmp_path / "preview.json"
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    assert main(["guard", str(path), "--allow"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("error: ") and captured.err.count("\n") == 1, captured.err


def test_a_failed_preview_is_refused(capsys):
    assert main(["guard", str(PREVIEWS / "program_failed.json"), "--allow"]) == 2
    assert "the preview failed" in capsys.readouterr().err


def test_a_missing_mentions_file_exits_2(tmp_path, capsys):
    path = write(tmp_path, "preview.json", _preview(DELETE_TOPIC))
    assert main(["guard", str(path), "--mentioned-in", str(tmp_path / "absent.diff")]) == 2
    assert "absent.diff" in capsys.readouterr().err


def test_run_leaves_errors_to_the_command_line(tmp_path):
    path = tmp_path / "preview.json"
    path.write_text("{")
    args = argparse.Namespace(preview=path, mentioned_in=[], task=[], max_share=0.25, allow=True)
    with pytest.raises(GyrinxTasksError):  # the one base class, caught once by the command line
        deletion_guard.run(args)


# ---- --max-share ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "share"), [("0.25", 0.25), ("25%", 0.25), ("12.5%", 0.125), ("1", 1.0), ("100%", 1.0)]
)
def test_max_share_takes_a_fraction_or_a_percentage(value, share):
    assert parser().parse_args(["guard", "p.json", "--max-share", value]).max_share == share


@pytest.mark.parametrize("value", ["25", "0", "-1", "150%", "0%", "abc", "nan", "inf", "%"])
def test_max_share_refuses_anything_else(value, capsys):
    with pytest.raises(SystemExit) as exit_:
        parser().parse_args(["guard", "p.json", "--max-share", value])
    assert exit_.value.code == 2
    assert "give a fraction in (0, 1] such as 0.25, or a percentage such as 25%" in capsys.readouterr().err


# ---- mentions -------------------------------------------------------------------------------


def test_mentions_are_whole_identifiers():
    text = "-    TaskRoute(tasks.send_email),\n+    TaskRoute(tasks.send_email_v2),\n"
    assert deletion_guard.mentioned_tasks(text, {"send_email", "send", "email", "hello_world"}) == {"send_email"}
    assert deletion_guard.mentioned_tasks("send_email_v2 resend", {"send_email", "send"}) == set()


def test_generated_review_files_never_name_a_task():
    text = (
        "a pull request body naming hello_world\n"
        "diff --git a/plans/dev.json b/plans/dev.json\n+ send_email\n"
        'diff --git "a/plans/d\\303\\251v.json" "b/plans/d\\303\\251v.json"\n+ sweep_archived\n'
        "diff --git a/old.py b/plans/moved.json\n+ backfill_pins\n"
        "diff --git a/app/tasks.py b/app/tasks.py\n+ refresh_list_facts\n"
    )
    tasks = {"hello_world", "send_email", "sweep_archived", "backfill_pins", "refresh_list_facts"}
    assert deletion_guard.mentioned_tasks(text, tasks) == {"hello_world", "refresh_list_facts"}


def test_a_large_diff_against_thousands_of_tasks():
    """Thousands of tasks, a diff of many megabytes: every task named in code is found,
    no near miss and nothing only in plans/ is."""
    tasks = [f"task_{n}" for n in range(5000)]
    code = "".join(f"+    TaskRoute(tasks.{task}_v2),\n-    TaskRoute(tasks.{task}),\n" for task in tasks[::2])
    plans_section = "".join(f'+    "{task}": {{"topic": "projects/p/topics/{task}"}},\n' for task in tasks) * 40
    text = (
        f"diff --git a/plans/dev.json b/plans/dev.json\n{plans_section}"
        f"diff --git a/app/tasks.py b/app/tasks.py\n{code * 5}"
        f"diff --git a/plans/prod.json b/plans/prod.json\n{plans_section}"
    )
    assert len(text) > 10_000_000
    assert deletion_guard.mentioned_tasks(text, tasks) == set(tasks[::2])


def test_task_flags_name_tasks(tmp_path):
    old = plan()
    task = tasks_of(old)[0]
    preview = write(tmp_path, "preview.json", preview_digest(old, without_tasks(old, {task})))
    assert main(["guard", str(preview), "--task", task]) == 0


# ---- approval -------------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["flag", "env"])
def test_the_escape_hatch_approves(capsys, monkeypatch, tmp_path, how):
    old = plan()
    preview = write(tmp_path, "preview.json", preview_digest(old, remove_a_shared_resource(old)))
    args = ["guard", str(preview)]
    if how == "flag":
        args.append("--allow")
    else:
        monkeypatch.setenv(deletion_guard.ALLOW_ENV, "true")
    assert main(args) == 0
    assert "APPROVED" in capsys.readouterr().out


def test_a_failure_says_how_to_approve(capsys, tmp_path):
    old = plan()
    preview = write(tmp_path, "preview.json", preview_digest(old, remove_a_shared_resource(old)))
    assert main(["guard", str(preview)]) == 1
    out = capsys.readouterr().out
    assert "FAILED" in out and approval.APPROVAL in out and deletion_guard.ALLOW_ENV in out


def test_without_any_pull_request_text_every_task_removal_needs_approval(capsys):
    """No --mentioned-in and no --task names no task: the guard fails closed."""
    assert main(["guard", str(PREVIEWS / "remove_one_task.json")]) == 1
    assert "which the pull request does not mention" in capsys.readouterr().out


# ---- changes that lose or misroute work (issue: "changes that lose or redirect messages") ----


def _edit_children(document: Mapping[str, Any], kind: ownership.Child, edit: Callable[[dict[str, Any]], None]):
    """A copy of ``document`` with ``edit`` applied to the inputs of every task's ``kind`` child."""
    new = copy.deepcopy(dict(document))
    for resource in new["resources"]:
        owner = ownership.child_of(resource["type"], resource["name"])
        if owner and owner[1] is kind:
            edit(resource["inputs"])
    return new


def _set(path: tuple[str, ...], value: object) -> Callable[[dict[str, Any]], None]:
    def edit(inputs: dict[str, Any]) -> None:
        for key in path[:-1]:
            inputs = inputs[key]
        if value is None:
            inputs.pop(path[-1])
        else:
            inputs[path[-1]] = value

    return edit


def _endpoint_and_retention(inputs: dict[str, Any]) -> None:
    inputs["pushConfig"]["pushEndpoint"] = "https://collector.example/tasks/pubsub/"


MISROUTES: dict[str, tuple[ownership.Child, Callable[[dict[str, Any]], None], str]] = {
    "push endpoint": (
        ownership.SUBSCRIPTION,
        _set(("pushConfig", "pushEndpoint"), "https://collector.example/tasks/pubsub/"),
        "push endpoint: ",
    ),
    "audience": (
        ownership.SUBSCRIPTION,
        _set(("pushConfig", "oidcToken", "audience"), "https://collector.example"),
        "OIDC audience: ",
    ),
    "push service account": (
        ownership.SUBSCRIPTION,
        _set(("pushConfig", "oidcToken", "serviceAccountEmail"), "x@evil-project.iam.gserviceaccount.com"),
        "push service account: ",
    ),
    "dead-letter retention": (
        ownership.DEAD_LETTER_SUBSCRIPTION,
        _set(("messageRetentionDuration",), "600s"),
        "message retention lowered: 2678400s -> 600s",
    ),
    "dead-letter topic retention": (
        ownership.DEAD_LETTER_TOPIC,
        _set(("messageRetentionDuration",), "600s"),
        "message retention lowered: 2678400s -> 600s",
    ),
    "dead-letter policy removed": (
        ownership.SUBSCRIPTION,
        _set(("deadLetterPolicy",), None),
        "dead-letter policy removed",
    ),
    "dead-letter topic": (
        ownership.SUBSCRIPTION,
        _set(("deadLetterPolicy", "deadLetterTopic"), "projects/elsewhere/topics/sink"),
        "dead-letter topic: ",
    ),
    "unwrapped pushes": (
        ownership.SUBSCRIPTION,
        _set(("pushConfig", "noWrapper"), {"writeMetadata": False}),
        "push envelope (the app reads the wrapper): (unset) -> ",
    ),
    "fewer delivery attempts": (
        ownership.SUBSCRIPTION,
        _set(("deadLetterPolicy", "maxDeliveryAttempts"), 5),
        "dead-letter delivery attempts lowered: ",
    ),
}


@pytest.mark.parametrize("case", MISROUTES)
def test_a_change_that_can_lose_or_misroute_work_needs_approval_for_every_task(case, tmp_path, capsys):
    """An in-place update deletes nothing, yet each of these loses or redirects work: the guard
    lists it by task and fails, even when the pull request names every task."""
    old = plan()
    kind, edit, what = MISROUTES[case]
    new = _edit_children(old, kind, edit)
    preview = write(tmp_path, "preview.json", preview_digest(old, new))
    named = write(tmp_path, "pr.diff", {"tasks": tasks_of(old)})
    assert main(["guard", str(preview), "--mentioned-in", str(named)]) == 1
    out = capsys.readouterr().out
    assert "0 of the" in out  # nothing is deleted: only the misroute check catches it
    for task in tasks_of(old):
        assert any(f"work of task {task}: " in line and what in line for line in out.splitlines()), task


def test_the_issues_preview_redirecting_every_push_and_cutting_dead_letter_retention_fails(tmp_path, capsys):
    """The case the issue reproduced: every push endpoint on a foreign host and dead-letter
    retention cut to 600 s passed as "0 of the 150 resources deleted"."""
    old = plan()
    new = _edit_children(old, ownership.SUBSCRIPTION, _endpoint_and_retention)
    new = _edit_children(new, ownership.DEAD_LETTER_SUBSCRIPTION, _set(("messageRetentionDuration",), "600s"))
    preview = write(tmp_path, "preview.json", preview_digest(old, new))
    assert main(["guard", str(preview)]) == 1
    problems = [line for line in capsys.readouterr().out.splitlines() if line.startswith("  ! ")]
    assert len(problems) == 2 * len(tasks_of(old))


@pytest.mark.parametrize(
    ("kind", "path", "value"),
    [
        (ownership.DEAD_LETTER_SUBSCRIPTION, ("messageRetentionDuration",), "2678401s"),
        (ownership.SUBSCRIPTION, ("ackDeadlineSeconds",), 599),
        (ownership.SUBSCRIPTION, ("deadLetterPolicy", "maxDeliveryAttempts"), 100),
        (ownership.SUBSCRIPTION, ("retryPolicy", "minimumBackoff"), "20s"),
    ],
    ids=["retention raised", "ack deadline", "more attempts", "backoff"],
)
def test_a_harmless_update_passes(kind, path, value, tmp_path):
    old = plan()
    new = _edit_children(old, kind, _set(path, value))
    preview = write(tmp_path, "preview.json", preview_digest(old, new))
    change = deletion_guard.load(preview)
    assert change.misroutes == ()
    assert deletion_guard.violations(change, mentioned=set()) == []


def test_a_masked_value_whose_key_changed_counts_as_a_misroute():
    """A secret serviceUrl makes the preview print the audience as ``[secret]`` on both sides
    (pkg/backend/display/json.go, massagePropertyValue): diffReasons still name pushConfig."""
    old = plan()
    new = _edit_children(old, ownership.SUBSCRIPTION, _set(("pushConfig", "oidcToken", "audience"), "https://x"))
    digest = preview_digest(old, new)
    for step in digest["steps"]:
        for key in ("oldState", "newState"):
            inputs = step.get(key, {}).get("inputs", {})
            if "pushConfig" in inputs:
                inputs["pushConfig"]["oidcToken"]["audience"] = "[secret]"
    change = deletion_guard.read(digest)
    assert {m.task for m in change.misroutes} == set(tasks_of(old))
    assert all("secret" in m.what for m in change.misroutes)


def test_a_replaced_topic_needs_approval_even_when_its_task_is_named():
    old = plan()
    task = tasks_of(old)[0]
    new = copy.deepcopy(old)
    topic = next(r for r in owned(new, task) if ownership.child_of(r["type"], r["name"])[1] is ownership.TOPIC)
    topic["inputs"]["project"] = "another-project"  # immutable: replaces the topic
    change = from_digest(old, new)
    assert deletion_guard.violations(change, 1.0, {task}) == [
        f"replaces {topic['type']} {topic['name']} of task {task}: what is queued in the old one is lost"
    ]


@pytest.mark.parametrize("case", MISROUTES)
def test_the_offline_diff_finds_the_same_misroutes(case):
    old = plan()
    kind, edit, _ = MISROUTES[case]
    new = _edit_children(old, kind, edit)
    offline = deletion_guard.read(json.loads(json.dumps(plan_diff.to_document(old, new))))
    assert sorted(offline.misroutes, key=repr) == sorted(from_digest(old, new).misroutes, key=repr)


def test_guard_help_prints_and_exits_0(capsys):
    """argparse %-formats help: the default share's percent sign must be escaped."""
    with pytest.raises(SystemExit) as exit_:
        main(["guard", "--help"])
    assert exit_.value.code == 0
    assert "25%" in capsys.readouterr().out


def test_a_preview_nested_too_deeply_exits_2_with_one_line(tmp_path, capsys):
    path = tmp_path / "deep.json"
    path.write_text("[" * 100_000 + "]" * 100_000)
    assert main(["guard", str(path), "--allow"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "levels deep" in err


def test_a_pull_subscription_that_starts_pushing_is_a_misroute():
    """A dead-letter subscription is pulled; giving it a push endpoint sends what lands there away."""
    old = plan()
    push = {"pushEndpoint": "https://collector.example/", "oidcToken": {"audience": "https://collector.example"}}
    new = _edit_children(old, ownership.DEAD_LETTER_SUBSCRIPTION, _set(("pushConfig",), push))
    change = from_digest(old, new)
    assert {m.task for m in change.misroutes} == set(tasks_of(old))
    assert all(
        m.what.startswith(("push endpoint: (unset) -> ", "OIDC audience: (unset) -> ")) for m in change.misroutes
    )


def test_a_value_known_only_after_the_update_is_shown_as_such():
    """A replaced push account makes the subscriptions' serviceAccountEmail unknown in the
    preview (the engine's UnknownStringValue, pulumi.runtime.rpc.UNKNOWN): still a misroute,
    shown in words rather than as the marker."""
    from pulumi.runtime import rpc

    old = plan()
    new = _edit_children(
        old, ownership.SUBSCRIPTION, _set(("pushConfig", "oidcToken", "serviceAccountEmail"), rpc.UNKNOWN)
    )
    change = from_digest(old, new)
    assert {m.task for m in change.misroutes} == set(tasks_of(old))
    assert all(m.what.endswith("-> (known only after the update)") for m in change.misroutes)


def test_a_scheduler_job_sent_to_another_topic_is_a_misroute():
    old = plan("example")
    new = _edit_children(old, ownership.JOB, _set(("pubsubTarget", "topicName"), "projects/elsewhere/topics/t"))
    scheduled = {r["name"].removesuffix("-job") for r in old["resources"] if r["type"] == ownership.JOB_TYPE}
    change = from_digest(old, new)
    assert scheduled and {m.task for m in change.misroutes} == scheduled
    assert all(m.what.startswith("scheduler job's topic: ") for m in change.misroutes)
