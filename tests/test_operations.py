"""Moving in (the import document) and running with eyes open (alert, schedule report,
kill-switch warnings)."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

import pytest

from infra.monitoring import dead_letter_filter
from infra.registry import Schedule, Task, load_tasks
from infra.validation import check_routes
from tests.fake_registry import route
from tests.stack_plans import stack_plan
from tools import import_file, plan_diff, runner, schedule_report, stack_checks, stack_config
from tools.cli import main

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
ALERT = "gcp:monitoring/alertPolicy:AlertPolicy"


# --- import ------------------------------------------------------------------------


def adoptable(plan: runner.Plan) -> set[tuple[str, str]]:
    """What provision_tasks created: task topics, push subscriptions, jobs, and the push account."""
    return {
        (r.type, r.name)
        for r in plan.registrations
        if (r.type == import_file.TOPIC and r.name.endswith("-topic"))
        or (r.type == import_file.SUBSCRIPTION and "pushConfig" in r.inputs)
        or r.type in (import_file.JOB, import_file.ACCOUNT)
    }


@pytest.mark.parametrize("stack", stack_config.stack_names())
def test_the_document_covers_exactly_the_adoptable_resources(stack):
    plan = stack_plan(stack)
    document, _ = import_file.build(plan)
    assert {(e["type"], e["name"]) for e in import_file.adopted_entries(document)} == adoptable(plan)


def test_everything_else_is_listed_as_will_be_created():
    plan = stack_plan("example")
    _, created = import_file.build(plan)
    custom = {(r.type, r.name) for r in plan.registrations if r.custom}
    listed = {tuple(line.removeprefix("will be created: ").split(" ")) for line in created}
    assert listed == custom - adoptable(plan)
    assert ("gcp:pubsub/topic:Topic", "send_email-dlq") in listed


def test_import_ids_match_the_declared_names():
    plan = stack_plan("example")
    document, _ = import_file.build(plan)
    ids = {e["name"]: e["id"] for e in import_file.adopted_entries(document)}
    assert (
        ids["send_email-topic"]
        == "projects/gyrinx-example/topics/example--gyrinx.tasks--example_app.core.tasks.send_email"
    )
    assert (
        ids["send_email-sub"]
        == "projects/gyrinx-example/subscriptions/example--gyrinx.tasks--example_app.core.tasks.send_email-sub"
    )
    assert ids["sync_external_data-job"] == (
        "projects/gyrinx-example/locations/europe-west2/jobs/example--gyrinx-scheduler--example_app-core-tasks-sync_external_data"
    )
    assert ids["push-service-account"] == (
        "projects/gyrinx-example/serviceAccounts/pubsub-invoker@gyrinx-example.iam.gserviceaccount.com"
    )
    for registration in plan.registrations:
        if registration.name in ids and registration.type != import_file.ACCOUNT:
            assert ids[registration.name].endswith("/" + registration.inputs["name"]), registration.name


def test_imported_resources_keep_the_programs_parents():
    document, _ = import_file.build(stack_plan("example"))
    entries = {e["name"]: e for e in document["resources"]}
    assert entries["send_email-sub"]["parent"] == "send_email"
    assert entries["send_email"] == {"type": "gyrinx-tasks:index:TaskQueue", "name": "send_email", "component": True}
    assert entries["push-service-account"]["parent"] == "shared"


def test_a_new_push_account_is_created_not_adopted():
    document, created = import_file.build(stack_plan("example"), adopt_push_account=False)
    assert "push-service-account" not in {e["name"] for e in document["resources"]}
    assert "will be created: gcp:serviceaccount/account:Account push-service-account" in created


def app_provisioned(entry: dict, plan: dict) -> dict:
    """What the app's provision_tasks set on a resource (task-infrastructure.md §1),
    rebuilt from the import id and the stack's settings, the way an import reads it."""
    project = entry["id"].split("/")[1]
    name = entry["id"].rsplit("/", 1)[1]
    service_url = plan["outputs"]["pushEndpoint"].removesuffix("/tasks/pubsub/")
    if entry["type"] == import_file.TOPIC:
        return {"name": name, "project": project}
    if entry["type"] == import_file.SUBSCRIPTION:
        declared = next(r for r in plan["resources"] if r["name"] == entry["name"])["inputs"]
        return {
            "name": name,
            "project": project,
            "topic": f"projects/{project}/topics/{name.removesuffix('-sub')}",
            "pushConfig": {
                "pushEndpoint": f"{service_url}/tasks/pubsub/",
                "oidcToken": {"serviceAccountEmail": plan["outputs"]["pushServiceAccount"], "audience": service_url},
            },
            "ackDeadlineSeconds": declared["ackDeadlineSeconds"],
            "retryPolicy": declared["retryPolicy"],
        }
    if entry["type"] == import_file.JOB:
        task = entry["name"].removesuffix("-job")
        declared = next(r for r in plan["resources"] if r["name"] == entry["name"])["inputs"]
        message = {"task_id": f"scheduled-{task}", "task_name": task, "args": [], "kwargs": {}}
        return {
            "name": name,
            "project": project,
            "region": entry["id"].split("/")[3],
            "schedule": declared["schedule"],
            "timeZone": "UTC",
            "description": declared["description"],
            "pubsubTarget": {
                "topicName": declared["pubsubTarget"]["topicName"],
                "data": base64.b64encode(json.dumps(message).encode()).decode(),
            },
            "retryConfig": {"retryCount": 3, "minBackoffDuration": "5s", "maxBackoffDuration": "300s"},
        }
    return {"accountId": name.split("@")[0], "project": project}


def test_a_gyrinx_style_registry_imports_without_a_replace():
    plan = json.loads(stack_plan("example").to_json())
    document, _ = import_file.build(stack_plan("example"))
    entries = list(import_file.adopted_entries(document))
    declared = {(r["type"], r["name"]): r for r in plan["resources"]}
    before = {"resources": [{**declared[e["type"], e["name"]], "inputs": app_provisioned(e, plan)} for e in entries]}
    after = {"resources": [declared[e["type"], e["name"]] for e in entries]}
    changes = plan_diff.diff(before, after)
    assert [c for c in changes if c.op != "update"] == []
    sub = next(c for c in changes if c.name == "send_email-sub")
    assert set(sub.keys) == {"deadLetterPolicy", "expirationPolicy", "labels"}


def test_import_file_prints_json_and_lists_creations_on_stderr(capsys):
    assert main(["import-file", "--stack", "example"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["resources"]
    assert "will be created: gcp:pubsub/topic:Topic send_email-dlq" in captured.err


# --- the dead-letter alert -----------------------------------------------------------


def test_the_alert_watches_every_dead_letter_subscription_of_the_stack():
    alert = stack_plan("example").by_name(ALERT, "dead-letter-alert")
    threshold = alert.inputs["conditions"][0]["conditionThreshold"]
    assert threshold["filter"] == dead_letter_filter("example")
    assert "pubsub.googleapis.com/subscription/num_undelivered_messages" in threshold["filter"]
    assert (threshold["comparison"], threshold["thresholdValue"]) == ("COMPARISON_GT", 0)


def test_the_alert_filter_matches_dead_letter_subscriptions_only():
    import re

    pattern = re.search(r'full_match\("(.*)"\)', dead_letter_filter("dev")).group(1).replace("\\\\", "\\")
    assert re.fullmatch(pattern, "dev--gyrinx.tasks--app.tasks.send_email-dlq-sub")
    assert not re.fullmatch(pattern, "dev--gyrinx.tasks--app.tasks.send_email-sub")
    assert not re.fullmatch(pattern, "prod--gyrinx.tasks--app.tasks.send_email-dlq-sub")


def test_the_alert_has_no_channels_unless_configured(run, routes):
    routes.append(route("t"))
    assert run().by_name(ALERT, "dead-letter-alert").inputs.get("notificationChannels", []) == []
    channels = '["projects/proj/notificationChannels/123"]'
    alert = run(alertNotificationChannels=channels).by_name(ALERT, "dead-letter-alert")
    assert alert.inputs["notificationChannels"] == ["projects/proj/notificationChannels/123"]


def test_the_alert_documentation_names_the_gcloud_commands():
    content = stack_plan("prod").by_name(ALERT, "dead-letter-alert").inputs["documentation"]["content"]
    assert "gcloud pubsub subscriptions pull ${resource.label.subscription_id} --project=gyrinx-prod" in content
    assert "gcloud pubsub topics publish" in content


# --- the schedule report -------------------------------------------------------------


def test_dst_gap_and_overlap_are_found_for_london_at_0130():
    traps = schedule_report.dst_traps("30 1 * * *", "Europe/London", NOW)
    assert [(t.local, t.kind) for t in traps] == [
        (datetime(2027, 3, 28, 1, 30), "skipped"),
        (datetime(2027, 10, 31, 1, 30), "repeated"),
    ]


def test_a_utc_schedule_has_no_dst_traps():
    assert schedule_report.dst_traps("30 1 * * *", "UTC", NOW) == []


def test_a_london_schedule_outside_the_changeover_hour_has_no_traps():
    assert schedule_report.dst_traps("0 9 * * *", "Europe/London", NOW) == []


def test_next_runs_are_in_the_jobs_zone():
    runs = schedule_report.next_runs("0 9 * * *", "Europe/London", datetime(2027, 3, 26, 12, tzinfo=UTC))
    assert [r.astimezone(UTC).hour for r in runs] == [9, 8, 8]  # BST from 28 March


def test_cost_counts_paused_jobs():
    assert schedule_report.monthly_cost(4) == 0.40


def test_the_report_shows_words_runs_pauses_warnings_and_cost(routes):
    routes.extend(
        [
            route("nightly", schedule="30 1 * * *", schedule_timezone="Europe/London"),
            route("batch", schedule="0 2 * * *", kill_switch="ENABLE_BATCH"),
            route("adhoc"),
        ]
    )
    tasks, problems = check_routes(load_tasks("tests.fake_registry:ROUTES"), "dev")
    assert problems == []
    text = schedule_report.report(tasks, {"ENABLE_BATCH": False}, "dev", NOW)
    assert "nightly: 30 1 * * * (Europe/London), enabled" in text
    assert "At 01:30 AM" in text
    assert "next: 2026-11-30 01:30 GMT = 2026-11-30 01:30 UTC" in text
    assert "WARNING: 2027-03-28 01:30 Europe/London does not exist" in text
    assert "WARNING: 2027-10-31 01:30 Europe/London happens twice" in text
    assert "batch: 0 2 * * * (UTC), PAUSED by kill switch ENABLE_BATCH=false" in text
    assert "adhoc" not in text
    assert "Cost: 2 jobs (1 paused, billed all the same) x $0.10 = $0.20/month" in text


def test_the_schedule_command_runs_for_a_stack(capsys):
    _, tasks = runner.load_stack("example")
    assert main(["schedule", "--stack", "example", "--now", "2026-11-29T12:00:00"]) == 0
    out = capsys.readouterr().out
    assert "expensive_batch_job: 0 2 * * * (UTC), PAUSED by kill switch ENABLE_BATCH_JOB=false" in out
    assert f"Cost: {sum(task.is_scheduled for task in tasks)} jobs" in out


# --- kill-switch warnings --------------------------------------------------------------


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
