"""Warnings: kill switches no stack sets, stacks that share an identity, backoffs and
delivery attempts that give up too soon; --strict. (A flag no route uses is refused:
tests/test_refusals.py.)"""

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
# The example stack, with the fake registry's routes and no flags (its flag names a kill
# switch of the example app's registry).
FAKE_REGISTRY = ["--config", "registry=tests.fake_registry:ROUTES", "--config", "flags={}"]
ALERT = "gcp:monitoring/alertPolicy:AlertPolicy"


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


def test_warnings_reach_stderr_of_the_plan_command(routes, capsys):
    routes.append(route("t", min_retry_delay=10, max_retry_delay=600, max_delivery_attempts=5))
    assert main(["plan", "--stack", "example", *FAKE_REGISTRY]) == 0
    assert "warning: task t: max_delivery_attempts 5 " in capsys.readouterr().err


def test_strict_turns_warnings_into_a_failure(routes, capsys):
    routes.append(route("t", min_retry_delay=10, max_retry_delay=600, max_delivery_attempts=5))
    assert main(["plan", "--stack", "example", "--strict", *FAKE_REGISTRY]) == 1
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


def test_explicit_delivery_attempts_that_give_up_within_the_hour_are_a_warning(routes):
    """The retry window applies to a route's own max_delivery_attempts too (issue 18)."""
    from infra.validation import RETRY_WINDOW, describe_seconds, retry_warnings, retry_window
    from infra.validation import default_delivery_attempts as enough

    task = Task("t", "app.tasks.t", 60, 10, 600, 5, None, None)
    [warning] = retry_warnings([task])
    window = retry_window(10, 600, 5)
    assert window < RETRY_WINDOW
    assert warning == (
        f"task t: max_delivery_attempts 5 with min_retry_delay 10 and max_retry_delay 600 gives up after "
        f"{describe_seconds(window)} of failures, less than the {RETRY_WINDOW // 60} minutes an outage may last; "
        f"raise it to {enough(10, 600)} (or leave it unset, which picks that)"
    )


def test_enough_explicit_delivery_attempts_are_no_warning():
    from infra.validation import default_delivery_attempts, retry_warnings

    attempts = default_delivery_attempts(10, 600)
    assert retry_warnings([Task("t", "app.tasks.t", 60, 10, 600, attempts, None, None)]) == []


def test_a_snapshot_with_five_attempts_on_every_route_fails_under_strict(tmp_path, capsys):
    """The reproduction of issue 18: the repository's snapshot, max_delivery_attempts 5 on
    every route, planned for dev with --strict."""
    import json

    snapshot = json.loads((stack_config.PROJECT_DIR / "registry" / "gyrinx.json").read_text())
    for entry in snapshot["routes"]:
        entry["max_delivery_attempts"] = 5
    path = tmp_path / "five.json"
    path.write_text(json.dumps(snapshot))
    assert main(["plan", "--stack", "dev", "--strict", "--config", f"registry=file:{path}"]) == 1
    warned = {
        line.split()[2].rstrip(":")
        for line in capsys.readouterr().err.splitlines()
        if line.startswith("warning: task ") and "max_delivery_attempts 5 " in line
    }
    assert warned == {entry["name"] for entry in snapshot["routes"]}
