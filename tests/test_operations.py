"""Moving in (the import document) and running with eyes open (alert, schedule report,
kill-switch warnings)."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

import pytest

from infra import import_file, offline, plan_diff, schedule_report
from infra.__main__ import main
from infra.monitoring import dead_letter_filter
from infra.registry import load_tasks
from tests.fake_registry import route
from tests.stack_plans import stack_plan

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
ALERT = "gcp:monitoring/alertPolicy:AlertPolicy"


# --- import ------------------------------------------------------------------------


def adoptable(plan: offline.Plan) -> set[tuple[str, str]]:
    """What provision_tasks created: task topics, push subscriptions, jobs, and the push account."""
    return {
        (r.type, r.name)
        for r in plan.registrations
        if (r.type == import_file.TOPIC and r.name.endswith("-topic"))
        or (r.type == import_file.SUBSCRIPTION and "pushConfig" in r.inputs)
        or r.type in (import_file.JOB, import_file.ACCOUNT)
    }


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_the_document_covers_exactly_the_adoptable_resources(stack):
    plan = stack_plan(stack)
    document, _ = import_file.build(plan)
    assert {(e["type"], e["name"]) for e in import_file.adopted_entries(document)} == adoptable(plan)


def test_everything_else_is_listed_as_will_be_created():
    plan = stack_plan("dev")
    document, created = import_file.build(plan)
    custom = {(r.type, r.name) for r in plan.registrations if r.custom}
    listed = {tuple(line.removeprefix("will be created: ").split(" ")) for line in created}
    assert listed == custom - adoptable(plan)
    assert ("gcp:pubsub/topic:Topic", "send_email-dlq") in listed


def test_import_ids_match_the_declared_names():
    plan = stack_plan("dev")
    document, _ = import_file.build(plan)
    ids = {e["name"]: e["id"] for e in import_file.adopted_entries(document)}
    assert ids["send_email-topic"] == "projects/gyrinx-dev/topics/dev--gyrinx.tasks--gyrinx.core.tasks.send_email"
    assert (
        ids["send_email-sub"] == "projects/gyrinx-dev/subscriptions/dev--gyrinx.tasks--gyrinx.core.tasks.send_email-sub"
    )
    assert ids["sync_external_data-job"] == (
        "projects/gyrinx-dev/locations/europe-west2/jobs/dev--gyrinx-scheduler--gyrinx-core-tasks-sync_external_data"
    )
    assert ids["push-service-account"] == (
        "projects/gyrinx-dev/serviceAccounts/pubsub-invoker@gyrinx-dev.iam.gserviceaccount.com"
    )
    for registration in plan.registrations:
        if registration.name in ids and registration.type != import_file.ACCOUNT:
            assert ids[registration.name].endswith("/" + registration.inputs["name"]), registration.name


def test_imported_resources_keep_the_programs_parents():
    document, _ = import_file.build(stack_plan("dev"))
    entries = {e["name"]: e for e in document["resources"]}
    assert entries["send_email-sub"]["parent"] == "send_email"
    assert entries["send_email"] == {"type": "gyrinx-tasks:index:TaskQueue", "name": "send_email", "component": True}
    assert entries["push-service-account"]["parent"] == "shared"


def test_a_new_push_account_is_created_not_adopted():
    document, created = import_file.build(stack_plan("dev"), adopt_push_account=False)
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
    plan = json.loads(stack_plan("dev").to_json())
    document, _ = import_file.build(stack_plan("dev"))
    entries = list(import_file.adopted_entries(document))
    before = {
        "resources": [{"type": e["type"], "name": e["name"], "inputs": app_provisioned(e, plan)} for e in entries]
    }
    after = {
        "resources": [
            r for r in plan["resources"] if (r["type"], r["name"]) in {(e["type"], e["name"]) for e in entries}
        ]
    }
    changes = plan_diff.diff(before, after)
    assert [c for c in changes if c.op != "update"] == []
    sub = next(c for c in changes if c.name == "send_email-sub")
    assert set(sub.keys) == {"deadLetterPolicy", "expirationPolicy", "labels"}


def test_import_file_prints_json_and_lists_creations_on_stderr(capsys):
    assert main(["import-file", "--stack", "prod"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["resources"]
    assert "will be created: gcp:pubsub/topic:Topic send_email-dlq" in captured.err


# --- the dead-letter alert -----------------------------------------------------------


def test_the_alert_watches_every_dead_letter_subscription_of_the_stack():
    alert = stack_plan("dev").by_name(ALERT, "dead-letter-alert")
    threshold = alert.inputs["conditions"][0]["conditionThreshold"]
    assert threshold["filter"] == dead_letter_filter("dev")
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
    text = schedule_report.report(load_tasks("tests.fake_registry:ROUTES"), {"ENABLE_BATCH": False}, "dev", NOW)
    assert "nightly: 30 1 * * * (Europe/London), enabled" in text
    assert "At 01:30 AM" in text
    assert "next: 2026-11-30 01:30 GMT = 2026-11-30 01:30 UTC" in text
    assert "WARNING: 2027-03-28 01:30 Europe/London does not exist" in text
    assert "WARNING: 2027-10-31 01:30 Europe/London happens twice" in text
    assert "batch: 0 2 * * * (UTC), PAUSED by kill switch ENABLE_BATCH=false" in text
    assert "adhoc" not in text
    assert "Cost: 2 jobs (1 paused, billed all the same) x $0.10 = $0.20/month" in text


def test_the_schedule_command_runs_for_a_stack(capsys):
    assert main(["schedule", "--stack", "dev", "--now", "2026-11-29T12:00:00"]) == 0
    out = capsys.readouterr().out
    assert "expensive_batch_job: 0 2 * * * (UTC), PAUSED by kill switch ENABLE_BATCH_JOB=false" in out
    assert "Cost: 4 jobs" in out


# --- kill-switch warnings --------------------------------------------------------------


def test_a_flag_no_route_uses_is_a_warning(run, routes):
    routes.append(route("t"))
    [warning] = run(flags='{"ENABLE_TYPO": false}').warnings
    assert warning.startswith("config gyrinx-tasks:flags: flag ENABLE_TYPO in stack test is not the kill_switch")


def test_a_kill_switch_missing_from_every_stack_file_is_a_warning(run, routes):
    routes.append(route("batch", schedule="0 2 * * *", kill_switch="ENABLE_NEW_BATCH"))
    warnings = run(flags='{"ENABLE_NEW_BATCH": true}').warnings
    assert warnings == [
        "task batch: kill_switch ENABLE_NEW_BATCH is not set in any stack file's gyrinx-tasks:flags "
        "(dev, prod); set it to true or false per stack"
    ]


def test_the_repositorys_stacks_plan_without_warnings():
    assert stack_plan("dev").warnings == [] and stack_plan("prod").warnings == []


def test_warnings_reach_stderr_of_the_plan_command(capsys):
    assert main(["plan", "--stack", "dev", "--config", 'flags={"ENABLE_TYPO": true, "ENABLE_BATCH_JOB": true}']) == 0
    assert "warning: config gyrinx-tasks:flags: flag ENABLE_TYPO" in capsys.readouterr().err
