"""A preview shows exactly what a registry change does: deterministic, local, reviewable."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from infra import ownership
from infra.ownership import JOB_TYPE
from tests.fake_registry import route
from tests.stack_plans import stack_plan
from tools import plan_diff, stack_config
from tools.cli import main

ROOT = Path(__file__).resolve().parent.parent


def plan_doc(run, **config) -> dict:
    return json.loads(run(**config).to_json())


@pytest.fixture
def three_tasks(routes):
    routes.extend([route("alpha"), route("beta", schedule="0 3 * * *"), route("gamma", schedule="*/5 * * * *")])
    return routes


def test_two_runs_declare_byte_identical_plans(run, three_tasks):
    assert run().to_json() == run().to_json()


def test_plans_do_not_depend_on_hash_seeds():
    outputs = set()
    for seed in ("1", "2"):
        result = subprocess.run(
            [sys.executable, "-m", "tools", "plan", "--stack", "prod", "--json"],
            cwd=ROOT,
            env={**os.environ, "PYTHONHASHSEED": seed},
            capture_output=True,
            text=True,
            check=True,
        )
        outputs.add(result.stdout)
    assert len(outputs) == 1


def owned(plan: dict, task: str) -> set[str]:
    """The logical names of ``task``'s component and every resource whose parent it is."""
    index = {r["urn"]: r for r in plan["resources"]}
    return {r["name"] for r in plan["resources"] if plan_diff.task_of(r, index) == task}


def expected_children(task: str, scheduled: bool) -> set[str]:
    """What ``infra.ownership`` says a task owns under the test config (no app account)."""
    kinds = [
        c for c in ownership.CHILDREN if c is not ownership.APP_PUBLISHER and (scheduled or c is not ownership.JOB)
    ]
    return {child.logical_name(task) for child in kinds}


def test_adding_a_task_only_creates_its_resources(run, three_tasks):
    before = plan_doc(run)
    three_tasks.append(route("delta", schedule="0 1 * * *"))
    after = plan_doc(run)
    changes = plan_diff.diff(before, after)
    assert {c.op for c in changes} == {"create"}
    assert {c.name for c in changes} == owned(after, "delta") == {"delta"} | expected_children("delta", True)


def test_removing_a_task_deletes_exactly_its_resources(run, three_tasks):
    before = plan_doc(run)
    del three_tasks[1]  # beta, scheduled
    changes = plan_diff.diff(before, plan_doc(run))
    assert {c.op for c in changes} == {"delete"}
    assert {c.name for c in changes} == owned(before, "beta") == {"beta"} | expected_children("beta", True)


def test_moving_a_task_to_another_module_replaces_only_its_resources(run, three_tasks):
    before = plan_doc(run)
    three_tasks[2] = route("gamma", "app.other_tasks", schedule="*/5 * * * *")
    changes = plan_diff.diff(before, plan_doc(run))
    assert {c.task for c in changes} == {"gamma"}
    assert {c.op for c in changes} == {"replace"}
    # Every cloud resource of the task is replaced (its ids all contain the path); the
    # component, which owns nothing in the cloud, stays.
    assert {c.name for c in changes} == owned(before, "gamma") - {"gamma"} == expected_children("gamma", True)


def test_changing_a_routes_backoff_updates_only_its_subscription(run, three_tasks):
    before = plan_doc(run)
    three_tasks[0] = route("alpha", max_retry_delay=300)
    changes = plan_diff.diff(before, plan_doc(run))
    assert [(c.op, c.name) for c in changes] == [("update", "alpha-sub")]
    # The default delivery attempts follow the backoff (an hour of retries), so the
    # dead-letter policy may move with it; nothing else does.
    assert "retryPolicy" in changes[0].keys and set(changes[0].keys) <= {"retryPolicy", "deadLetterPolicy"}


def test_a_kill_switch_flip_updates_only_the_job(run, routes):
    routes.append(route("batch", schedule="0 2 * * *", kill_switch="ENABLE_BATCH"))
    before = plan_doc(run)
    changes = plan_diff.diff(before, plan_doc(run, flags='{"ENABLE_BATCH": false}'))
    assert [(c.op, c.name, c.keys) for c in changes] == [("update", "batch-job", ("paused",))]


def job(region: str, schedule: str, parent: str = "urn:pulumi:s::p::pulumi:pulumi:Stack::p-s") -> dict:
    urn = "urn:pulumi:s::p::gcp:cloudscheduler/job:Job::t-job"
    return {
        "urn": urn,
        "type": JOB_TYPE,
        "name": "t-job",
        "parent": parent,
        "inputs": {"region": region, "schedule": schedule},
    }


def test_a_changed_immutable_input_replaces():
    [change] = plan_diff.diff({"resources": [job("a", "x")]}, {"resources": [job("b", "y")]})
    assert (change.op, change.keys) == ("replace", ("region", "schedule"))


def test_an_update_shows_old_and_new_values():
    [change] = plan_diff.diff({"resources": [job("a", "x")]}, {"resources": [job("a", "y")]})
    summary = plan_diff.summarise([change], {"resources": [job("a", "x")]})
    assert '        schedule: "x" → "y"' in plan_diff.render([change], summary, "old.json", colour=False)


def test_a_replace_shows_the_old_and_new_id(run, routes):
    routes.append(route("t", "app.a"))
    before = plan_doc(run)
    routes[0] = route("t", "app.b")
    changes = plan_diff.diff(before, plan_doc(run))
    text = plan_diff.render(changes, plan_diff.summarise(changes, before), "old.json", colour=False)
    assert '        name: "test--gyrinx.tasks--app.a.t" → "test--gyrinx.tasks--app.b.t"' in text


def test_deleting_a_topic_says_its_messages_go_with_it(run, routes):
    routes.extend([route("keep"), route("gone")])
    before = plan_doc(run)
    del routes[1]
    changes = plan_diff.diff(before, plan_doc(run))
    text = plan_diff.render(changes, plan_diff.summarise(changes, before), "old.json", colour=False)
    block = text.split("gone-topic  (task gone)\n")[1].split("\n")[0]
    assert block == "        ! the messages queued in it are deleted with it"
    holding = {child.logical_name("gone") for child in ownership.CHILDREN if child.holds_messages}
    assert {c.name for c in changes if c.loses_messages} == holding


def test_a_resource_whose_parent_changes_is_deleted_and_created():
    moved = job("a", "x", parent="urn:pulumi:s::p::gyrinx-tasks:index:TaskQueue::t")
    moved["urn"] = "urn:pulumi:s::p::gyrinx-tasks:index:TaskQueue$gcp:cloudscheduler/job:Job::t-job"
    changes = plan_diff.diff({"resources": [job("a", "x")]}, {"resources": [moved]})
    assert sorted(c.op for c in changes) == ["create", "delete"]


def test_colour_only_when_asked_or_on_a_terminal():
    [change] = plan_diff.diff({"resources": [job("a", "x")]}, {"resources": [job("b", "x")]})
    summary = plan_diff.summarise([change], {"resources": [job("a", "x")]})
    assert "\033[" in plan_diff.render([change], summary, "old.json", colour=True)
    assert "\033[" not in plan_diff.render([change], summary, "old.json", colour=False)


def test_a_file_that_is_not_a_plan_is_refused(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text('{"steps": []}')
    assert main(["plan", "--stack", "example", "--diff", str(bad)]) == 2
    assert "not an offline plan" in capsys.readouterr().err


def test_the_diff_prints_changes_and_a_summary_line_per_kind(capsys, tmp_path):
    old = tmp_path / "old.json"
    old.write_text((ROOT / "plans" / "example.json").read_text())
    before = json.loads(old.read_text())["resources"]
    assert main(["plan", "--stack", "example", "--diff", str(old), "--config", 'flags={"ENABLE_BATCH_JOB": true}']) == 0
    out = capsys.readouterr().out
    assert "~  update   gcp:cloudscheduler/job:Job  expensive_batch_job-job  (task expensive_batch_job)" in out
    assert "        paused: true → false" in out
    assert out.endswith(
        "Resources:\n  +  0 to create\n  ~  1 to update\n  +- 0 to replace\n  -  0 to delete\n"
        f"     {len(before) - 1} unchanged\n"
    )


@pytest.mark.parametrize("stack", stack_config.stack_names())
def test_committed_plan_is_fresh(stack):
    committed = (ROOT / "plans" / f"{stack}.json").read_text()
    assert stack_plan(stack).to_json() == committed, (
        f"plans/{stack}.json is stale: run ./dev plans and commit the result"
    )


def test_every_stack_has_a_committed_plan():
    assert sorted(p.stem for p in (ROOT / "plans").glob("*.json")) == stack_config.stack_names()


def test_a_module_move_says_the_messages_of_the_old_topic_and_subscriptions_are_lost(run, three_tasks):
    before = plan_doc(run)
    three_tasks[2] = route("gamma", "app.other_tasks", schedule="*/5 * * * *")
    changes = plan_diff.diff(before, plan_doc(run))
    text = plan_diff.render(changes, plan_diff.summarise(changes, before), "old.json", colour=False)
    holding = {child.logical_name("gamma") for child in ownership.CHILDREN if child.holds_messages}
    assert {c.name for c in changes if c.loses_messages} == holding
    for name in holding:
        after = text.split(f"{name}  (task gamma)\n")[1].splitlines()
        block = [line.strip() for line in itertools.takewhile(lambda line: line.startswith("        "), after)]
        assert "! the messages queued in it are deleted with it" in block, name
