"""Moving in: the `pulumi import --file` document for what already exists, and only that.

The inventory fixtures in ``tests/data/gcloud/`` are what ``gcloud ... list --format=json``
(google-cloud-sdk 578.0.0) prints for the example stack's project after the app's
``provision_tasks`` ran there; ``tests/data/gcloud/README.md`` says what each holds and
where its shape comes from.
"""

from __future__ import annotations

import base64
import functools
import json
import shlex
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from infra import ownership
from tests.conftest import BASE_CONFIG
from tests.fake_registry import route
from tests.stack_plans import stack_plan
from tools import import_file, plan_diff, runner, stack_config
from tools.cli import main
from tools.errors import ToolError

GCLOUD = Path(__file__).parent / "data" / "gcloud"
FILES = {
    import_file.TOPIC: "topics.json",
    import_file.SUBSCRIPTION: "subscriptions.json",
    import_file.JOB: "jobs.json",
    import_file.ACCOUNT: "service-accounts.json",
}
# Facts of the fixtures (tests/data/gcloud/README.md).
NEWEST_TASK = "send_daily_digest"  # added to the registry since the app last booted: nothing made
DELETED_TOPIC_TASK = "send_notification"  # its topic was deleted and made again; its subscription was not


@functools.cache
def place(stack: str) -> import_file.StackPlace:
    """Where ``stack`` lives, read from its stack file as the command reads it."""
    return import_file.StackPlace.of(runner.load_stack(stack)[0])


def listed(type_: str) -> list[dict[str, Any]]:
    """The fixture's resources of ``type_``, read as plain JSON (not through the tool)."""
    return json.loads((GCLOUD / FILES[type_]).read_text())


def inventory(**replaced: Path) -> import_file.Inventory:
    """The example project's inventory; ``replaced`` swaps a kind's file (by option dest)."""
    files = {kind.type: replaced.get(kind.dest, GCLOUD / FILES[kind.type]) for kind in import_file.KINDS}
    return import_file.read_inventory(files, place("example"))


def write(tmp_path: Path, name: str, records: Any) -> Path:
    """``records`` as an inventory file (a variant of a fixture)."""
    path = tmp_path / name
    path.write_text(json.dumps(records, indent=2, sort_keys=True))
    return path


def adoptable(plan: runner.Plan) -> set[tuple[str, str]]:
    """What provision_tasks created: task topics, push subscriptions, jobs, and the push account."""
    return {
        (r.type, r.name)
        for r in plan.registrations
        if (r.type == import_file.TOPIC and r.name.endswith("-topic"))
        or (r.type == import_file.SUBSCRIPTION and "pushConfig" in r.inputs)
        or r.type in (import_file.JOB, import_file.ACCOUNT)
    }


def ids(adoption: import_file.Adoption) -> set[str]:
    return {entry["id"] for entry in adoption.entries()}


def with_inventory() -> import_file.Adoption:
    return import_file.build(stack_plan("example"), place("example"), inventory())


# --- the fixtures are what gcloud prints ------------------------------------------------


def gcloud_json(records: list[Any]) -> str:
    """gcloud's ``--format=json`` of a list (lib/googlecloudsdk/core/resource/json_printer.py
    in google-cloud-sdk 578.0.0): "[", each record ``json.dumps(indent=2, sort_keys=True,
    separators=(',', ': '), ensure_ascii=False)`` with every line indented two more, records
    joined by ",", then "]"; an empty list prints "[]"."""
    if not records:
        return "[]\n"
    dumped = [
        json.dumps(r, ensure_ascii=False, indent=2, separators=(",", ": "), sort_keys=True).replace("\n", "\n  ")
        for r in records
    ]
    return "[\n  " + ",\n  ".join(dumped) + "\n]\n"


@pytest.mark.parametrize("name", sorted(FILES.values()))
def test_each_fixture_is_byte_for_byte_what_gcloud_prints(name):
    text = (GCLOUD / name).read_text()
    assert text == gcloud_json(json.loads(text))


def test_job_fixtures_carry_their_data_as_url_safe_base64_of_the_apps_message():
    """Job.pubsubTarget.data is a bytes field (cloudscheduler_v1_messages.py, BytesField),
    which apitools prints as URL-safe base64 (lib/third_party/apitools/base/py/encoding_helper.py,
    _SafeEncodeBytes); the app's message is the one gyrinx-app/gyrinx's scheduler provisioning publishes."""
    for job in listed(import_file.JOB):
        if "pubsubTarget" in job:
            message = json.loads(base64.urlsafe_b64decode(job["pubsubTarget"]["data"]))
            assert message["task_id"] == f"scheduled-{message['task_name']}", job["name"]


# --- without an inventory: every adoptable resource, as before --------------------------


@pytest.mark.parametrize("stack", stack_config.stack_names())
def test_without_an_inventory_the_document_covers_exactly_the_adoptable_resources(stack):
    plan = stack_plan(stack)
    adoption = import_file.build(plan, place(stack))
    assert {(e["type"], e["name"]) for e in adoption.entries()} == adoptable(plan)


def test_everything_else_is_listed_as_will_be_created():
    plan = stack_plan("example")
    adoption = import_file.build(plan, place("example"))
    custom = {(r.type, r.name) for r in plan.registrations if r.custom}
    listed_ = {tuple(line.removeprefix("will be created: ").split(" ")[:2]) for line in adoption.created}
    assert listed_ == custom - adoptable(plan)
    dead_letters = next(r for r in plan.registrations if r.name == "send_email-dlq")
    assert f"will be created: {dead_letters.type} send_email-dlq ({import_file.import_id(dead_letters)})" in (
        adoption.created
    )


def test_import_ids_match_the_declared_names():
    plan = stack_plan("example")
    adoption = import_file.build(plan, place("example"))
    by_name = {e["name"]: e["id"] for e in adoption.entries()}
    assert (
        by_name["send_email-topic"]
        == "projects/gyrinx-example/topics/example--gyrinx.tasks--example_app.core.tasks.send_email"
    )
    assert (
        by_name["send_email-sub"]
        == "projects/gyrinx-example/subscriptions/example--gyrinx.tasks--example_app.core.tasks.send_email-sub"
    )
    assert by_name["sync_external_data-job"] == (
        "projects/gyrinx-example/locations/europe-west2/jobs/example--gyrinx-scheduler--example_app-core-tasks-sync_external_data"
    )
    assert by_name["push-service-account"] == (
        "projects/gyrinx-example/serviceAccounts/pubsub-invoker@gyrinx-example.iam.gserviceaccount.com"
    )
    for registration in plan.registrations:
        if registration.name in by_name and registration.type != import_file.ACCOUNT:
            assert by_name[registration.name].endswith("/" + registration.inputs["name"]), registration.name


def test_imported_resources_keep_the_programs_parents():
    entries = {e["name"]: e for e in import_file.build(stack_plan("example"), place("example")).document["resources"]}
    assert entries["send_email-sub"]["parent"] == "send_email"
    assert entries["send_email"] == {"type": ownership.TASK_COMPONENT, "name": "send_email", "component": True}
    assert entries["push-service-account"]["parent"] == "shared"


def test_a_new_push_account_is_created_not_adopted():
    adoption = import_file.build(stack_plan("example"), place("example"), adopt_push_account=False)
    assert "push-service-account" not in {e["name"] for e in adoption.document["resources"]}
    account = stack_plan("example").by_name(import_file.ACCOUNT, "push-service-account")
    assert (
        f"will be created: {import_file.ACCOUNT} push-service-account ({import_file.import_id(account)})"
        in adoption.created
    )


def app_provisioned(entry: dict, plan: dict) -> dict:
    """What the app's provision_tasks set on a resource (gyrinx-app/gyrinx gyrinx/tasks/provisioning.py),
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
    adoption = import_file.build(stack_plan("example"), place("example"))
    entries = adoption.entries()
    declared = {(r["type"], r["name"]): r for r in plan["resources"]}
    before = {"resources": [{**declared[e["type"], e["name"]], "inputs": app_provisioned(e, plan)} for e in entries]}
    after = {"resources": [declared[e["type"], e["name"]] for e in entries]}
    changes = plan_diff.diff(before, after)
    assert [c for c in changes if c.op != "update"] == []
    sub = next(c for c in changes if c.name == "send_email-sub")
    assert set(sub.keys) == {"deadLetterPolicy", "expirationPolicy", "labels"}


# --- URNs ------------------------------------------------------------------------------


def import_urns(document: dict[str, Any], stack: str) -> dict[str, str]:
    """Each entry's URN as `pulumi import` computes it: NewURN(stack, project, the parent's
    qualified type, type, logicalName or name), the parent found by its ``name``
    (pulumi/pulumi pkg/cmd/pulumi/operations/import.go, parseImportFile)."""
    by_name = {e["name"]: e for e in document["resources"]}
    assert len(by_name) == len(document["resources"]), "a name used twice cannot be a parent"

    def urn(entry: dict[str, Any]) -> str:
        qualified = entry["type"]
        if "parent" in entry:
            qualified = f"{urn(by_name[entry['parent']]).split('::')[2]}${qualified}"
        return f"urn:pulumi:{stack}::{stack_config.PROJECT}::{qualified}::{entry.get('logicalName', entry['name'])}"

    return {e["name"]: urn(e) for e in document["resources"]}


def assert_urns_match(adoption: import_file.Adoption, plan: runner.Plan) -> None:
    urns = import_urns(adoption.document, plan.stack)
    declared = {(r.type, r.name): r.urn for r in plan.registrations}  # the engine's URNs (tools/mocks.py)
    for entry in adoption.document["resources"]:
        assert urns[entry["name"]] == declared[entry["type"], entry.get("logicalName", entry["name"])], entry


def test_imported_urns_are_the_programs():
    assert_urns_match(with_inventory(), stack_plan("example"))


def test_a_task_named_like_a_shared_component_still_gets_its_own_parent(run, routes):
    routes.append(route("shared"))
    plan = run(gcp__project="gyrinx-test")
    where = import_file.StackPlace("test", "gyrinx-test", BASE_CONFIG["gcp:region"], "test")
    adoption = import_file.build(plan, where)
    assert {e.get("logicalName", e["name"]) for e in adoption.document["resources"] if e.get("component")} == {"shared"}
    assert sum(1 for e in adoption.document["resources"] if e.get("component")) == 2
    assert_urns_match(adoption, plan)


# --- with an inventory: only what exists -------------------------------------------------


def test_only_ids_the_inventory_lists_are_imported():
    plan = stack_plan("example")
    existing = {r["name"] for type_ in FILES for r in listed(type_)}
    adoptable_ids = {import_file.import_id(plan.by_name(t, n)) for t, n in adoptable(plan)}
    assert ids(with_inventory()) == adoptable_ids & existing
    assert adoptable_ids - existing, "the fixture should lack something the stack adopts"


def test_adoptable_resources_the_inventory_lacks_will_be_created():
    plan = stack_plan("example")
    existing = {r["name"] for type_ in FILES for r in listed(type_)}
    lacking = [plan.by_name(t, n) for t, n in sorted(adoptable(plan))]
    lines = [
        f"will be created: {r.type} {r.name} ({import_file.import_id(r)})"
        for r in lacking
        if import_file.import_id(r) not in existing
    ]
    created = with_inventory().created
    assert set(lines) <= set(created)
    assert list(created[: len(lines)]) == lines, "what the app should have made comes first"


def test_a_task_added_since_the_app_last_booted_is_created_not_imported():
    plan = stack_plan("example")
    owned = [r for r in plan.registrations if (ownership.child_of(r.type, r.name) or ("",))[0] == NEWEST_TASK]
    assert {r.name for r in owned} >= {f"{NEWEST_TASK}-topic", f"{NEWEST_TASK}-sub", f"{NEWEST_TASK}-job"}
    adoption = with_inventory()
    assert not any(e["name"].startswith(NEWEST_TASK) for e in adoption.document["resources"])
    for registration in owned:
        assert any(
            line.startswith(f"will be created: {registration.type} {registration.name}") for line in adoption.created
        )


def test_the_document_still_names_every_imported_resources_parent():
    adoption = with_inventory()
    names = {e["name"] for e in adoption.document["resources"]}
    components = {e["name"] for e in adoption.document["resources"] if e.get("component")}
    assert {e["parent"] for e in adoption.entries()} == components
    assert NEWEST_TASK not in names  # its component is the program's to create


def test_the_push_account_is_adopted_when_the_inventory_lists_it():
    assert "push-service-account" in {e["name"] for e in with_inventory().entries()}


def test_the_push_account_is_created_when_the_inventory_lacks_it(tmp_path):
    plan = stack_plan("example")
    account = import_file.import_id(plan.by_name(import_file.ACCOUNT, "push-service-account"))
    others = [a for a in listed(import_file.ACCOUNT) if a["name"] != account]
    adoption = import_file.build(plan, place("example"), inventory(service_accounts=write(tmp_path, "sa.json", others)))
    assert account not in ids(adoption)
    assert f"will be created: {import_file.ACCOUNT} push-service-account ({account})" in adoption.created


def test_a_subscription_on_the_deleted_topic_is_warned_as_a_replacement():
    """Pub/Sub reports a subscription whose topic was deleted with topic "_deleted-topic_"
    (Subscription REST reference; pubsub_v1_messages.py, Subscription.topic), and a
    subscription's topic cannot change in place (magic-modules Subscription.yaml)."""
    warnings = [w for w in with_inventory().warnings if "will replace" in w]
    assert len(warnings) == 1
    assert f"{DELETED_TOPIC_TASK}-sub" in warnings[0]
    assert '"_deleted-topic_"' in warnings[0]


def test_a_subscription_on_another_topic_is_warned_as_a_replacement(tmp_path):
    subscriptions = listed(import_file.SUBSCRIPTION)
    name = import_file.import_id(stack_plan("example").by_name(import_file.SUBSCRIPTION, "send_email-sub"))
    moved = next(s for s in subscriptions if s["name"] == name)
    moved["topic"] = moved["topic"].replace("send_email", "hello_world")
    adoption = import_file.build(
        stack_plan("example"), place("example"), inventory(subscriptions=write(tmp_path, "s.json", subscriptions))
    )
    assert any("send_email-sub" in w and "will replace" in w and moved["topic"] in w for w in adoption.warnings)
    assert moved["name"] in ids(adoption)


def test_an_existing_resource_the_app_never_made_is_noted_not_imported(tmp_path):
    plan = stack_plan("example")
    dead_letters = import_file.import_id(plan.by_name(import_file.TOPIC, "hello_world-dlq"))
    topics = [*listed(import_file.TOPIC), {"name": dead_letters}]
    adoption = import_file.build(plan, place("example"), inventory(topics=write(tmp_path, "t.json", topics)))
    assert dead_letters not in ids(adoption)
    assert not any(dead_letters in line for line in adoption.created)
    assert any(dead_letters in w and "not imported" in w for w in adoption.warnings)


def test_orphans_are_this_environments_undeclared_resources():
    """The fixture holds a retired task's topic, subscription and job (orphans), the same
    task of another environment and resources that are not the app's (not orphans)."""
    prefix = "example--gyrinx"
    retired = {
        r["name"]
        for type_ in (import_file.TOPIC, import_file.SUBSCRIPTION, import_file.JOB)
        for r in listed(type_)
        if "retired_task" in r["name"]
    }
    orphans = with_inventory().orphans or ()
    assert {line.split(" ", 2)[2] for line in orphans} == retired
    assert all(line.split("/")[-1].startswith(prefix) for line in orphans)
    assert {line.split(" ")[1] for line in orphans} == {"topic", "subscription", "job"}


def test_without_an_inventory_orphans_are_unknown():
    adoption = import_file.build(stack_plan("example"), place("example"))
    assert adoption.orphans is None
    assert "orphans unknown" in adoption.report()[-1]


# --- inventories refused -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "says"),
    [
        ("topics:\n- name: projects/gyrinx-example/topics/x\n", "not JSON"),  # --format=yaml
        ('{"topics": []}', "not a JSON list"),
        ('[{"labels": {}}]', 'no "name"'),
        ('[{"name": "projects/gyrinx-example/subscriptions/x-sub"}]', "not a topic name"),
        ('[{"name": "projects/another-project/topics/x"}]', "project another-project"),
    ],
)
def test_a_bad_topics_file_is_refused_in_one_line_naming_it(tmp_path, content, says):
    path = tmp_path / "topics.json"
    path.write_text(content)
    with pytest.raises(ToolError) as raised:
        inventory(topics=path)
    message = str(raised.value)
    assert message.startswith(f"--topics {path}: ")
    assert says in message
    assert "\n" not in message


def test_jobs_from_another_location_are_refused(tmp_path):
    jobs = [{**job, "name": job["name"].replace("/europe-west2/", "/us-central1/")} for job in listed(import_file.JOB)]
    with pytest.raises(ToolError, match=r"^--jobs .*location us-central1.*--location=europe-west2"):
        inventory(jobs=write(tmp_path, "jobs.json", jobs))


def test_a_kind_left_out_is_refused_naming_the_option_and_its_command():
    partial = import_file.read_inventory({import_file.TOPIC: GCLOUD / "topics.json"}, place("example"))
    with pytest.raises(ToolError) as raised:
        import_file.build(stack_plan("example"), place("example"), partial)
    message = str(raised.value)
    for kind in import_file.KINDS[1:]:
        assert f"--{kind.option} ({kind.list_command(place('example'))})" in message
    assert "--new-push-account" in message


def test_a_kind_the_stack_cannot_adopt_is_not_needed(run, routes):
    """A stack that schedules nothing and names an existing push account: topics and
    subscriptions suffice."""
    routes.append(route("unscheduled"))
    plan = run(pushServiceAccountEmail="push-invoker@test-proj.iam.gserviceaccount.com", deployServiceAccount=None)
    assert not any(r.type in (import_file.JOB, import_file.ACCOUNT) for r in plan.registrations)
    empty = import_file.Inventory({import_file.TOPIC: {}, import_file.SUBSCRIPTION: {}})
    adoption = import_file.build(plan, import_file.StackPlace("test", "test-proj", "europe-west2", "test"), empty)
    assert adoption.entries() == []
    assert "nothing to import" in adoption.report()[-1]


def test_every_kind_of_adopted_child_has_an_inventory_kind():
    assert {c.type for c in ownership.CHILDREN if c.adopted} <= set(import_file.KIND_OF)


# --- the command line ----------------------------------------------------------------------


def test_import_file_without_an_inventory_is_refused_and_says_how_to_list_what_exists(capsys):
    assert main(["import-file", "--stack", "example"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "error: import-file needs the cloud's inventory" in captured.err
    assert "gcloud pubsub topics list" in captured.err


def test_import_file_unchecked_warns_and_says_how_to_list_what_exists(capsys):
    assert main(["import-file", "--stack", "example", "--unchecked"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["resources"]
    where = place("example")
    assert "one deployment" in captured.err
    assert f"gcloud scheduler jobs list --project={where.project} --location={where.region} --format=json" in (
        captured.err
    )
    assert "will be created: gcp:pubsub/topic:Topic send_email-dlq" in captured.err


def test_import_file_with_an_inventory_prints_only_what_exists(capsys):
    options = [arg for kind in import_file.KINDS for arg in (f"--{kind.option}", str(GCLOUD / FILES[kind.type]))]
    assert main(["import-file", "--stack", "example", *options]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out) == with_inventory().document
    assert "one deployment" not in captured.err
    assert "orphan: job " in captured.err


def test_import_file_refuses_a_bad_inventory_with_exit_2(tmp_path, capsys):
    bad = tmp_path / "topics.json"
    bad.write_text("not json")
    assert main(["import-file", "--stack", "example", "--topics", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: --topics {bad}: not JSON")
    assert err.count("\n") == 1


def test_import_file_refuses_a_new_push_account_the_inventory_could_list(capsys):
    args = ["--new-push-account", "--service-accounts", str(GCLOUD / "service-accounts.json")]
    assert main(["import-file", "--stack", "example", *args]) == 2
    assert "--new-push-account and --service-accounts" in capsys.readouterr().err


def test_unchecked_with_an_inventory_is_refused(capsys):
    topics = str(GCLOUD / FILES[import_file.TOPIC])
    assert main(["import-file", "--stack", "example", "--unchecked", "--topics", topics]) == 2
    assert "--unchecked is for a run without any inventory file" in capsys.readouterr().err


# --- the inventory under another environment prefix (issue 18 §3) ----------------------


def misspelt(environment: str) -> tuple[runner.Plan, import_file.StackPlace]:
    """The example stack planned with ``environment`` instead of its own."""
    plan = runner.run_plan("example", [f"environment={environment}"])
    settings = runner.load_stack("example", [f"environment={environment}"])[0]
    return plan, import_file.StackPlace.of(settings)


def own_task_ids(environment: str) -> set[str]:
    """The fixture's topic, subscription and job names under ``environment``'s prefix that
    the example stack declares (read as plain JSON, not through the tool)."""
    plan, _ = misspelt(environment)
    declared = {
        import_file.import_id(r)
        for r in plan.registrations
        if r.type in (import_file.TOPIC, import_file.SUBSCRIPTION, import_file.JOB)
    }
    listed_ = {
        entry["name"]
        for type_ in (import_file.TOPIC, import_file.SUBSCRIPTION, import_file.JOB)
        for entry in listed(type_)
    }
    return declared & listed_


def test_a_mistyped_environment_is_told_the_prefix_the_inventory_holds():
    plan, place_ = misspelt("exmple")
    adoption = import_file.build(plan, place_, inventory())
    [warning] = [line for line in adoption.warnings if "under environment prefix 'example'" in line]
    assert warning.startswith(
        f"warning: the inventory holds {len(own_task_ids('example'))} of this stack's task resources under "
        "environment prefix 'example' (e.g. projects/gyrinx-example/"
    )
    assert "none under this stack's environment 'exmple'" in warning
    assert "set gyrinx-tasks:environment to 'example' (stack example)" in warning


def test_the_right_environment_only_notes_another_environment_in_the_project():
    """The fixtures hold dev's send_email too (tests/data/gcloud/README.md)."""
    adoption = with_inventory()
    lines = [line for line in adoption.warnings if "under environment prefix" in line]
    assert lines and all(line.startswith("note: ") and "prefix 'dev'" in line for line in lines)
    assert not [line for line in adoption.warnings if "prefix 'example'" in line]


def test_the_command_warns_of_the_other_prefix_on_stderr(capsys):
    options = [f"--{kind.option}={GCLOUD / FILES[kind.type]}" for kind in import_file.KINDS]
    assert main(["import-file", "--stack", "example", "--config", "environment=exmple", *options]) == 0
    err = capsys.readouterr().err
    assert "warning: the inventory holds" in err and "under environment prefix 'example'" in err


# --- the README's check after the import refuses a failed preview (issue 18 §3) --------

PREVIEWS = Path(__file__).parent / "data" / "previews"


def readme_check() -> list[str]:
    """The shell lines of the migration's step 4 that read the saved preview.json (the
    preview itself needs the cloud)."""
    section = (stack_config.PROJECT_DIR / "docs" / "migration.md").read_text()
    step = section[section.index("4. **Check that nothing will be replaced") :]
    start = step.index("```sh\n") + len("```sh\n")
    block = step[start : step.index("```", start)]
    lines = [line.strip() for line in block.splitlines()]
    return [line for line in lines if "preview.json" in line and not line.startswith("pulumi ")]


def run_readme_check(preview: Path) -> subprocess.CompletedProcess[str]:
    import os

    env = {key: value for key, value in os.environ.items() if not key.startswith("GYRINX_TASKS_")}
    script = "set -e\n" + "\n".join(line.replace("preview.json", shlex.quote(str(preview))) for line in readme_check())
    return subprocess.run(
        ["bash", "-c", script], cwd=stack_config.PROJECT_DIR, env=env, capture_output=True, text=True, check=False
    )


def test_the_readme_check_after_the_import_is_the_guard():
    [line] = readme_check()
    assert line.endswith("./dev guard preview.json")


def test_the_readme_check_refuses_a_preview_that_failed():
    result = run_readme_check(PREVIEWS / "program_failed.json")
    assert result.returncode == 2
    assert "the preview failed" in result.stderr and "Traceback" not in result.stderr


def test_the_readme_check_passes_the_same_preview_without_its_errors(tmp_path):
    """The failed preview's steps change nothing: only its error diagnostics refuse it."""
    document = json.loads((PREVIEWS / "program_failed.json").read_text())
    assert [step["op"] for step in document["steps"]] == ["same"]
    del document["diagnostics"]
    (tmp_path / "ok.json").write_text(json.dumps(document))
    result = run_readme_check(tmp_path / "ok.json")
    assert (result.returncode, result.stdout.splitlines()[-1]) == (0, "OK: nothing here needs approval.")


def test_the_readme_check_refuses_a_replacement():
    assert run_readme_check(PREVIEWS / "replacement_steps.json").returncode == 1


@pytest.mark.skipif(shutil.which("jq") is None, reason="jq is not installed")
def test_the_old_steps_filter_passed_the_failed_preview():
    """Why the README no longer filters `.steps` with jq: it printed nothing for a
    preview that failed, which read as "nothing replaced"."""
    old = '.steps[] | select(.op != "create" and .op != "update" and .op != "same") | "\\(.op) \\(.urn)"'
    result = subprocess.run(
        ["jq", "-r", old, str(PREVIEWS / "program_failed.json")], capture_output=True, text=True, check=False
    )
    assert (result.returncode, result.stdout) == (0, "")
