"""Warnings: flags no route uses, kill switches no stack sets, stacks that share an
identity, backoffs that give up too soon; --strict."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime

import pytest

from infra import naming
from infra.registry import Schedule, Task
from tests.fake_registry import route
from tests.stack_plans import stack_plan
from tools import stack_checks, stack_config
from tools.cli import main
from tools.stack_checks import StackIdentity

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
ALERT = "gcp:monitoring/alertPolicy:AlertPolicy"


def test_a_flag_no_route_uses_is_a_warning(run, routes):
    routes.append(route("t"))
    [warning] = run(flags='{"ENABLE_TYPO": false}').warnings
    assert warning == (
        "config gyrinx-tasks:flags: flag ENABLE_TYPO in stack test is not the kill_switch of any task, so it "
        "switches nothing (known kill switches: none)"
    )


def test_a_flag_that_resembles_a_kill_switch_is_told_as_a_typo(run, routes):
    routes.append(route("batch", kill_switch="ENABLE_BATCH_JOB"))
    [warning] = run(flags='{"ENABLE_BATCH_JOBS": false}').warnings
    assert "flag ENABLE_BATCH_JOBS in stack test is not the kill_switch of any task" in warning
    assert "(did you mean ENABLE_BATCH_JOB? known kill switches: ENABLE_BATCH_JOB)" in warning


def test_a_flag_like_no_kill_switch_gets_no_suggestion(run, routes):
    routes.append(route("batch", kill_switch="ENABLE_BATCH_JOB"))
    [warning] = run(flags='{"SEND_EMAILS": false}').warnings
    assert "did you mean" not in warning


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


def identity(stack: str, project: str = "proj-a", environment: str | None = None, account: str = "") -> StackIdentity:
    email = account or naming.service_account_email("pubsub-invoker", project)
    return StackIdentity(stack, project, environment or stack, email)


def test_two_stacks_pushing_as_one_account_in_one_project_are_a_warning():
    [warning] = stack_checks.shared_identity_warnings("dev", [identity("dev"), identity("qa")])
    assert warning.startswith(
        "stack dev and stack qa both push as pubsub-invoker@proj-a.iam.gserviceaccount.com in project proj-a"
    )


def test_one_stacks_created_account_is_anothers_named_account_too():
    named = identity("prod", account=naming.service_account_email("pubsub-invoker", "proj-a"))
    assert stack_checks.shared_identity_warnings("prod", [named, identity("dev")])


def test_stacks_with_their_own_account_or_project_share_nothing():
    own_account = identity("qa", account="qa-invoker@proj-a.iam.gserviceaccount.com")
    own_project = identity("prod", project="proj-b")
    assert stack_checks.shared_identity_warnings("dev", [identity("dev"), own_account, own_project]) == []


def test_two_stacks_deploying_one_environment_to_one_project_are_a_warning():
    mine = identity("dev", environment="shared")
    other = identity("qa", environment="shared", account="qa-invoker@proj-a.iam.gserviceaccount.com")
    [warning] = stack_checks.shared_identity_warnings("dev", [mine, other])
    assert warning.startswith("stack dev and stack qa both deploy environment shared to project proj-a")


@pytest.fixture
def two_stacks(tmp_path):
    """A project directory with the repository's Pulumi.yaml and two stack files."""
    shutil.copy(stack_config.PROJECT_DIR / "Pulumi.yaml", tmp_path / "Pulumi.yaml")
    for stack in ("a", "b"):
        (tmp_path / f"Pulumi.{stack}.yaml").write_text(
            f"config:\n  gcp:project: proj-a\n  gyrinx-tasks:environment: env-{stack}\n"
            "  gyrinx-tasks:serviceUrl: https://app.example.run.app\n  gyrinx-tasks:registry: x:y\n"
        )
    return tmp_path


def test_stack_identities_come_from_every_stack_file_with_pulumi_yaml_defaults(two_stacks):
    identities = stack_checks.stack_identities("a", project_dir=two_stacks)
    assert [(i.stack, i.push_account) for i in identities] == [
        ("a", "pubsub-invoker@proj-a.iam.gserviceaccount.com"),
        ("b", "pubsub-invoker@proj-a.iam.gserviceaccount.com"),
    ]


def test_the_plans_overrides_apply_to_its_own_stack_only(two_stacks):
    identities = stack_checks.stack_identities("a", ["pushServiceAccountId=a-invoker"], project_dir=two_stacks)
    assert [i.push_account.split("@")[0] for i in identities] == ["a-invoker", "pubsub-invoker"]
    assert stack_checks.shared_identity_warnings("a", identities) == []


def test_a_stack_whose_identity_is_encrypted_is_not_compared(two_stacks):
    with (two_stacks / "Pulumi.b.yaml").open("a") as stack_file:
        stack_file.write("  gyrinx-tasks:pushServiceAccountEmail:\n    secure: v1:abc\n")
    assert [i.stack for i in stack_checks.stack_identities("a", project_dir=two_stacks)] == ["a"]


def test_a_backoff_that_gives_up_within_the_hour_is_a_warning_of_the_plan(routes, capsys):
    routes.append(route("t", min_retry_delay=10, max_retry_delay=30, max_delivery_attempts=None))
    overrides = ["--config", "registry=tests.fake_registry:ROUTES", "--config", "flags={}"]
    assert main(["plan", "--stack", "example", "--strict", *overrides]) == 1
    [warning] = [line for line in capsys.readouterr().err.splitlines() if line.startswith("warning:")]
    assert warning.startswith("warning: task t: with min_retry_delay 10 and max_retry_delay 30, even 100 delivery")
