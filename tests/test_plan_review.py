"""A preview shows exactly what a registry change does: deterministic, local, reviewable."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from infra import plan_diff, stack_config
from infra.__main__ import main
from tests.fake_registry import route
from tests.stack_plans import stack_plan

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
            [sys.executable, "-m", "infra", "plan", "--stack", "prod", "--json"],
            cwd=ROOT,
            env={**os.environ, "PYTHONHASHSEED": seed},
            capture_output=True,
            text=True,
            check=True,
        )
        outputs.add(result.stdout)
    assert len(outputs) == 1


def test_adding_a_task_only_creates_its_resources(run, three_tasks):
    before = plan_doc(run)
    three_tasks.append(route("delta", schedule="0 1 * * *"))
    changes = plan_diff.diff(before, plan_doc(run))
    assert {c.op for c in changes} == {"create"}
    assert {c.name for c in changes} == {
        "delta",
        "delta-topic",
        "delta-sub",
        "delta-dlq",
        "delta-dlq-sub",
        "delta-dlq-publisher",
        "delta-sub-subscriber",
        "delta-job",
    }


def test_removing_a_task_deletes_exactly_its_resources(run, three_tasks):
    before = plan_doc(run)
    del three_tasks[1]  # beta
    changes = plan_diff.diff(before, plan_doc(run))
    assert {c.op for c in changes} == {"delete"}
    assert {c.name for c in changes} == {
        "beta",
        "beta-topic",
        "beta-sub",
        "beta-dlq",
        "beta-dlq-sub",
        "beta-dlq-publisher",
        "beta-sub-subscriber",
        "beta-job",
    }


def test_moving_a_task_to_another_module_replaces_only_its_resources(run, three_tasks):
    before = plan_doc(run)
    three_tasks[2] = route("gamma", "app.other_tasks", schedule="*/5 * * * *")
    changes = plan_diff.diff(before, plan_doc(run))
    assert {c.task for c in changes} == {"gamma"}
    assert {c.op for c in changes} == {"replace"}
    assert {c.name for c in changes} == {
        "gamma-topic",
        "gamma-sub",
        "gamma-dlq",
        "gamma-dlq-sub",
        "gamma-dlq-publisher",
        "gamma-sub-subscriber",
        "gamma-job",
    }


def test_changing_a_routes_backoff_updates_only_its_subscription(run, three_tasks):
    before = plan_doc(run)
    three_tasks[0] = route("alpha", max_retry_delay=300)
    changes = plan_diff.diff(before, plan_doc(run))
    assert [(c.op, c.name, c.keys) for c in changes] == [("update", "alpha-sub", ("retryPolicy",))]


def test_a_kill_switch_flip_updates_only_the_job(run, routes):
    routes.append(route("batch", schedule="0 2 * * *", kill_switch="ENABLE_BATCH"))
    before = plan_doc(run)
    changes = plan_diff.diff(before, plan_doc(run, flags='{"ENABLE_BATCH": false}'))
    assert [(c.op, c.name, c.keys) for c in changes] == [("update", "batch-job", ("paused",))]


def test_a_changed_immutable_input_replaces():
    old = {
        "resources": [
            {"type": "gcp:cloudscheduler/job:Job", "name": "t-job", "inputs": {"region": "a", "schedule": "x"}}
        ]
    }
    new = {
        "resources": [
            {"type": "gcp:cloudscheduler/job:Job", "name": "t-job", "inputs": {"region": "b", "schedule": "y"}}
        ]
    }
    [change] = plan_diff.diff(old, new)
    assert (change.op, change.keys) == ("replace", ("region", "schedule"))


def test_the_diff_prints_changes_and_a_summary_line_per_kind(capsys, tmp_path):
    old = tmp_path / "old.json"
    old.write_text((ROOT / "plans" / "dev.json").read_text())
    assert main(["plan", "--stack", "dev", "--diff", str(old), "--config", 'flags={"ENABLE_BATCH_JOB": true}']) == 0
    out = capsys.readouterr().out
    assert "~  update   gcp:cloudscheduler/job:Job  expensive_batch_job-job  [paused]" in out
    assert out.endswith(
        "Resources:\n  +  0 to create\n  ~  1 to update\n  +- 0 to replace\n  -  0 to delete\n     89 unchanged\n"
    )


@pytest.mark.parametrize("stack", stack_config.stack_names())
def test_committed_plan_is_fresh(stack):
    committed = (ROOT / "plans" / f"{stack}.json").read_text()
    assert stack_plan(stack).to_json() == committed, (
        f"plans/{stack}.json is stale: run ./dev plans and commit the result"
    )


def test_every_stack_has_a_committed_plan():
    assert sorted(p.stem for p in (ROOT / "plans").glob("*.json")) == stack_config.stack_names()
