"""The catalogue of resource kinds (infra/ownership.py): every type a stack declares has
one entry, and the tools that decide replace or update, ids, labels and adoption read it.

Expectations come from the stacks' own plans, never from a list kept here.
"""

from __future__ import annotations

import copy
import json
import sys
from pathlib import Path
from typing import Any

import pytest

from infra import naming, ownership
from tests.stack_plans import stack_plan
from tools import import_file, plan_diff, runner, stack_config
from tools.cli import main
from tools.errors import ToolError
from tools.standin import gcp_provider

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "policy"))
import policies

STACKS = stack_config.stack_names()
ROOT = Path(__file__).resolve().parent.parent


def document(stack: str) -> dict[str, Any]:
    return json.loads(stack_plan(stack).to_json())


def declared_types() -> set[str]:
    return {r.type for stack in STACKS for r in stack_plan(stack).registrations}


@pytest.mark.parametrize("stack", STACKS)
def test_every_type_in_the_stacks_plan_has_a_catalogue_entry(stack: str) -> None:
    missing = {r.type for r in stack_plan(stack).registrations} - set(ownership.KIND_OF)
    assert not missing, f"stack {stack} declares {sorted(missing)}, missing from infra/ownership.py KINDS"


def test_every_catalogue_entry_is_declared_by_some_stack() -> None:
    # A stale entry would let a type nobody declares pass for a known one.
    assert set(ownership.KIND_OF) - declared_types() == set()


def test_components_and_cloud_resources_are_told_apart_by_the_catalogue() -> None:
    for stack in STACKS:
        for registration in stack_plan(stack).registrations:
            assert ownership.KIND_OF[registration.type].component == (not registration.custom), registration.urn


def test_every_cloud_kind_names_where_its_immutable_inputs_were_read() -> None:
    cloud = [kind for kind in ownership.KINDS if not kind.component]
    assert [kind.token for kind in cloud if not (kind.immutable and kind.source)] == []


@pytest.mark.parametrize("stack", STACKS)
def test_changing_an_immutable_input_of_any_declared_kind_is_a_replace(stack: str) -> None:
    old = document(stack)
    seen: set[str] = set()
    new = copy.deepcopy(old)
    changed: dict[str, str] = {}
    for resource in new["resources"]:
        kind = ownership.KIND_OF[resource["type"]]
        present = sorted(kind.immutable & set(resource["inputs"]))
        if kind.token in seen or not present:
            continue
        seen.add(kind.token)
        resource["inputs"][present[0]] = f"{resource['inputs'][present[0]]}-changed"
        changed[resource["urn"]] = present[0]
    assert seen, "the plan has no resource with an immutable input"
    ops = {change.urn: change.op for change in plan_diff.diff(old, new)}
    assert {urn: ops.get(urn) for urn in changed} == dict.fromkeys(changed, "replace")


@pytest.mark.parametrize("stack", STACKS)
def test_changing_a_mutable_input_is_an_update(stack: str) -> None:
    old = document(stack)
    new = copy.deepcopy(old)
    resource = next(r for r in new["resources"] if r["type"] == ownership.TOPIC_TYPE)
    resource["inputs"]["messageRetentionDuration"] = "600s"
    assert "messageRetentionDuration" not in ownership.TOPIC_KIND.immutable
    [change] = plan_diff.diff(old, new)
    assert (change.op, change.urn) == ("update", resource["urn"])


def test_a_type_missing_from_the_catalogue_is_refused_not_called_an_update() -> None:
    old = document("example")
    new = copy.deepcopy(old)
    resource = next(r for r in new["resources"] if r["type"] == ownership.TOPIC_TYPE)
    resource["type"] = "gcp:example/undeclared:Undeclared"
    resource["inputs"]["name"] = "renamed"
    with pytest.raises(ToolError, match=r"declares gcp:example/undeclared:Undeclared, not in the catalogue"):
        plan_diff.diff(old, new)


def test_the_stand_in_provider_forces_new_on_the_catalogues_inputs() -> None:
    cloud = {kind.token: kind.immutable for kind in ownership.KINDS if not kind.component}
    assert {token: kind.force_new for token, kind in gcp_provider.FORCE_NEW.items()} == cloud


def test_the_types_import_file_adopts_are_the_catalogues_adopted_kinds() -> None:
    assert set(import_file.KIND_OF) == {kind.token for kind in ownership.KINDS if kind.adopted}


def test_a_child_the_app_made_is_of_an_adopted_kind() -> None:
    assert [child.suffix for child in ownership.CHILDREN if child.adopted and not child.kind.adopted] == []


@pytest.mark.parametrize("stack", STACKS)
def test_the_policy_packs_labelled_types_are_where_the_stack_puts_labels(stack: str) -> None:
    labelled = {
        (r.type, key) for r in stack_plan(stack).registrations for key in ("labels", "userLabels") if key in r.inputs
    }
    assert labelled <= set(policies.LABELLED.items())
    assert labelled, "the stack labels nothing"


@pytest.mark.parametrize("stack", STACKS)
def test_the_plan_table_labels_every_resource_from_the_catalogue(stack: str) -> None:
    table = runner.render_table(stack_plan(stack))
    for registration in stack_plan(stack).registrations:
        if registration.custom:
            assert f"  {ownership.KIND_OF[registration.type].label:<20} {registration.name:<38}" in table


# --- create lines in the offline diff (issue 19 §5) --------------------------------------------


@pytest.mark.parametrize("stack", STACKS)
def test_a_create_carries_the_id_the_stack_exports(stack: str) -> None:
    plan = document(stack)
    changes = plan_diff.diff({"resources": []}, plan)
    exported = plan["outputs"]["tasks"]
    compared = 0
    for change in changes:
        owned = ownership.child_of(change.type, change.name)
        if change.task is None or owned is None or owned[1].output is None:
            continue
        assert change.google_id == exported[change.task][owned[1].output], change.urn
        compared += 1
    assert compared


@pytest.mark.parametrize("stack", STACKS)
def test_a_create_line_shows_the_topic_id_the_app_publishes_to(stack: str) -> None:
    plan = document(stack)
    changes = plan_diff.diff({"resources": []}, plan)
    text = plan_diff.render(changes, plan_diff.summarise(changes, {"resources": []}), "empty.json", colour=False)
    for task, outputs in plan["outputs"]["tasks"].items():
        line = f"{ownership.TOPIC_TYPE}  {ownership.TOPIC.logical_name(task)}  (task {task})"
        assert f"{line}\n        id: {outputs['topic']}\n" in text


def test_a_created_job_shows_its_id_schedule_and_time_zone() -> None:
    shown = 0
    for stack in STACKS:
        plan = document(stack)
        changes = plan_diff.diff({"resources": []}, plan)
        text = plan_diff.render(changes, plan_diff.summarise(changes, {"resources": []}), "empty.json", colour=False)
        for job in (r for r in plan["resources"] if r["type"] == ownership.JOB_TYPE):
            inputs = job["inputs"]
            job_id = naming.job_path(inputs["project"], inputs["region"], inputs["name"])
            assert f"{job['name']}  (task {job['name'].removesuffix('-job')})\n        id: {job_id}\n" in text
            assert f"        id: {job_id}\n        schedule: {inputs['schedule']} {inputs['timeZone']}\n" in text
            shown += 1
    assert shown, "no stack schedules a task"


def test_a_create_whose_id_google_assigns_says_so() -> None:
    plan = document("example")
    [alert] = [c for c in plan_diff.diff({"resources": []}, plan) if c.type == ownership.ALERT_POLICY_TYPE]
    text = plan_diff.render([alert], plan_diff.summarise([alert], {"resources": []}), "empty.json", colour=False)
    assert "        id: (assigned by Google)\n" in text


# --- another stack's plan (issue 19 §5) --------------------------------------------------------


def test_a_plan_of_another_stack_is_refused_naming_both_stacks() -> None:
    old, new = STACKS[0], STACKS[1]
    with pytest.raises(ToolError, match=rf"stack {old}'s, not stack {new}'s .*plans/{new}\.json"):
        plan_diff.diff(document(old), document(new))


def test_diffing_against_another_stacks_plan_file_says_so_in_one_line(capsys) -> None:
    other = next(stack for stack in STACKS if stack != "example")
    assert main(["plan", "--stack", "example", "--diff", str(ROOT / "plans" / f"{other}.json")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"stack {other}'s, not stack example's" in err[0], err
