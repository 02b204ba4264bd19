"""Moving in: the `pulumi import --file` document for what already exists."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

import pytest

from tests.stack_plans import stack_plan
from tools import import_file, plan_diff, runner, stack_config
from tools.cli import main

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
ALERT = "gcp:monitoring/alertPolicy:AlertPolicy"


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
