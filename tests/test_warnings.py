"""Warnings: flags no route uses, kill switches no stack sets; --strict."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from infra.registry import Schedule, Task
from tests.fake_registry import route
from tests.stack_plans import stack_plan
from tools import stack_checks, stack_config
from tools.cli import main

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
ALERT = "gcp:monitoring/alertPolicy:AlertPolicy"


def test_a_flag_no_route_uses_is_a_warning(run, routes):
    routes.append(route("t"))
    [warning] = run(flags='{"ENABLE_TYPO": false}').warnings
    assert warning.startswith("config gyrinx-tasks:flags: flag ENABLE_TYPO in stack test is not the kill_switch")


def test_a_kill_switch_missing_from_every_stack_file_is_a_warning():
    task = Task(
        name="batch",
        path="app.tasks.batch",
        ack_deadline=60,
        min_retry_delay=10,
        max_retry_delay=600,
        max_delivery_attempts=5,
        schedule=Schedule("0 2 * * *", "UTC"),
        kill_switch="ENABLE_NEW_BATCH",
    )
    flags_by_stack = stack_config.flags_by_stack()
    assert stack_checks.unset_kill_switch_warnings([task], flags_by_stack) == [
        "task batch: kill_switch ENABLE_NEW_BATCH is not set in any stack file's gyrinx-tasks:flags "
        f"({', '.join(sorted(flags_by_stack))}); set it to true or false per stack"
    ]


@pytest.mark.parametrize("stack", stack_config.stack_names())
def test_the_repositorys_stacks_plan_without_warnings(stack):
    assert stack_plan(stack).warnings == []
    assert stack_checks.warnings(stack) == []


def test_warnings_reach_stderr_of_the_plan_command(capsys):
    assert (
        main(["plan", "--stack", "example", "--config", 'flags={"ENABLE_TYPO": true, "ENABLE_BATCH_JOB": true}']) == 0
    )
    assert "warning: config gyrinx-tasks:flags: flag ENABLE_TYPO" in capsys.readouterr().err


def test_strict_turns_warnings_into_a_failure(capsys):
    assert main(["plan", "--stack", "example", "--strict", "--config", 'flags={"ENABLE_TYPO": true}']) == 1
    assert "under --strict" in capsys.readouterr().err
