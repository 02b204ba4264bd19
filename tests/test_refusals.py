"""Bad input is refused before anything is declared, every problem in one report."""

from __future__ import annotations

import json

import pytest

from infra import settings
from infra.errors import InvalidInput
from infra.ownership import TASK_COMPONENT
from infra.validation import default_delivery_attempts
from tests.conftest import only_problem, refusal
from tests.fake_registry import route
from tools import runner
from tools.mocks import RecordingMonitor


@pytest.mark.parametrize(
    "schedule",
    [
        "0 3 * *",
        "0 0 3 * * *",
        "61 * * * *",
        "0 24 * * *",
        "0 3 0 * *",
        "0 3 * 13 *",
        "0 3 * * 8",
        "every day",
        "@daily",
        # croniter's extensions, which Cloud Scheduler's unix-cron does not have
        "0 3 L * *",
        "0 3 15W * *",
        "0 3 * * 5#2",
        "0 3 ? * *",
        "H 3 * * *",
        "R 3 * * *",
        "5/15 * * * *",
        "0 22-2 * * *",
        "*/0 * * * *",
        "0 3 * * mon",
        "0 3 1,,2 * *",
    ],
)
def test_a_schedule_that_is_not_cloud_schedulers_unix_cron_is_refused(run, routes, schedule):
    routes.append(route("nightly", schedule=schedule))
    problem = only_problem(run)
    assert problem.startswith(f"task nightly: schedule {schedule!r}")


@pytest.mark.parametrize("schedule", ["0 0 30 2 *", "0 0 31 4,6,9,11 *"])
def test_a_schedule_that_never_fires_is_refused(run, routes, schedule):
    routes.append(route("nightly", schedule=schedule))
    assert only_problem(run) == (
        f"task nightly: schedule {schedule!r} never fires: no date has that day of month in those months"
    )


@pytest.mark.parametrize(
    "schedule",
    [
        "30 6 * JAN-DEC MON-FRI",
        "0-30/10 9-17 1,15 * 1-5",
        "*/15 * * * *",
        "0 0 * * 7",
        "0 0 * * 5-7",
        "0 0 29 2 *",  # fires in leap years
        "0 0 30 2 MON",  # day of month OR day of week: every Monday in February
    ],
)
def test_a_unix_cron_schedule_is_accepted(run, routes, schedule):
    routes.append(route("weekly", schedule=schedule))
    assert run().by_name("gcp:cloudscheduler/job:Job", "weekly-job").inputs["schedule"] == schedule


def test_a_schedule_that_is_not_a_string_is_refused_as_such(run, routes):
    routes.append(route("nightly", schedule=300))
    assert only_problem(run) == "task nightly: schedule 300 must be a string, not int"


def test_unknown_time_zone_is_refused(run, routes):
    routes.append(route("nightly", schedule="0 3 * * *", schedule_timezone="Europe/Londn"))
    assert only_problem(run) == (
        "task nightly: schedule_timezone 'Europe/Londn' is not a tz database name (e.g. 'UTC', 'Europe/London')"
    )


def test_a_time_zone_that_is_not_a_string_is_refused_as_such(run, routes):
    routes.append(route("nightly", schedule="0 3 * * *", schedule_timezone=0))
    assert only_problem(run) == "task nightly: schedule_timezone 0 must be a string, not int"


@pytest.mark.parametrize("value", [9, 601])
def test_ack_deadline_outside_10_to_600_is_refused(run, routes, value):
    routes.append(route("t", ack_deadline=value))
    assert only_problem(run) == f"task t: ack_deadline {value} is outside 10-600 seconds"


@pytest.mark.parametrize("key", ["ack_deadline", "min_retry_delay", "max_retry_delay", "max_delivery_attempts"])
@pytest.mark.parametrize("value,type_name", [(True, "bool"), (10.5, "float"), (20.0, "float"), ("20", "str")])
def test_a_number_of_the_wrong_type_is_refused_as_a_type(run, routes, key, value, type_name):
    """``True`` is an int to Python and 20.0 equals 20, but neither is what Google takes."""
    routes.append(route("t", **{key: value}))
    assert only_problem(run) == f"task t: {key} {value!r} must be an integer, not {type_name}"


@pytest.mark.parametrize("key,value", [("min_retry_delay", -1), ("max_retry_delay", 601)])
def test_backoff_outside_0_to_600_is_refused(run, routes, key, value):
    routes.append(route("t", **{key: value}))
    assert only_problem(run) == f"task t: {key} {value} is outside 0-600 seconds (Pub/Sub's backoff range)"


def test_min_backoff_above_max_is_refused(run, routes):
    routes.append(route("t", min_retry_delay=120, max_retry_delay=60))
    assert only_problem(run) == "task t: min_retry_delay 120 is above max_retry_delay 60"


@pytest.mark.parametrize("value", [4, 101])
def test_delivery_attempts_outside_5_to_100_are_refused(run, routes, value):
    routes.append(route("t", max_delivery_attempts=value))
    assert only_problem(run) == (
        f"task t: max_delivery_attempts {value} is outside 5-100 (Pub/Sub's dead-letter range)"
    )


def test_duplicate_task_names_are_refused(run, routes):
    routes.extend([route("send", "app.a"), route("send", "app.b")])
    problem = only_problem(run)
    assert problem.startswith("task send: registered 2 times (app.a.send, app.b.send)")


def test_a_route_registered_twice_is_one_problem(run, routes):
    """Twice the same route shares every id; the duplicate name says it all, once."""
    routes.extend([route("send"), route("send")])
    assert only_problem(run).startswith("task send: registered 2 times")


@pytest.mark.parametrize(
    "name,fragment",
    [
        ("", "task '': name is empty"),
        ("send-email", "task 'send-email': name 'send-email' is not a Python function name"),
        ("1st", "task '1st': name '1st' is not a Python function name"),
        ("class", "task 'class': name 'class' is not a Python function name"),
    ],
)
def test_a_name_no_python_function_can_have_is_refused(run, routes, name, fragment):
    routes.append(route(name))
    assert any(problem.startswith(fragment) for problem in refusal(run).problems)


def test_a_soft_keyword_is_a_function_name(run, routes):
    routes.append(route("match"))
    assert run().by_name(TASK_COMPONENT, "match")


@pytest.mark.parametrize("path", ["app.tasks.other", "app.tasks~x.t", "t", "app..t"])
def test_a_path_that_is_not_module_dot_name_is_refused(run, routes, path):
    routes.append(_Route("t", path))
    problem = refusal(run).problems[0]
    assert problem == f"task t: path {path!r} must be module.t: the module that defines the function, then its name"


class _Route:
    """A route with any name and path, as a hand-edited registry snapshot may hold."""

    def __init__(self, name: str, path: str, **options: object):
        self.name, self.path = name, path
        self.__dict__.update(options)


def test_one_tasks_dead_letter_ids_are_not_another_tasks_ids(run, routes):
    """x's dead-letter topic and subscription are x-dlq's topic and subscription, and
    x's child x-dlq-sub is x-dlq's child x-dlq-sub (both subscriptions)."""
    routes.extend([_Route("x", "app.a.x"), _Route("x-dlq", "app.a.x-dlq")])
    problems = refusal(run).problems
    assert (
        "task 'x-dlq': topic id 'test--gyrinx.tasks--app.a.x-dlq' is also task x's dead-letter topic id; "
        "topic ids (dead-letter topics' too) are unique per project"
    ) in problems
    assert (
        "task 'x-dlq': subscription id 'test--gyrinx.tasks--app.a.x-dlq-sub' is also task x's dead-letter "
        "subscription id; subscription ids (dead-letter subscriptions' too) are unique per project"
    ) in problems
    assert (
        "task 'x-dlq': declares resource x-dlq-sub (gcp:pubsub/subscription:Subscription), as task x does: "
        "Pulumi needs every resource URN unique"
    ) in problems


def test_two_scheduled_paths_one_job_id_are_refused(run, routes):
    """Job ids turn dots into hyphens, so app.a-b.x and app.a.b-x name one job."""
    routes.extend(
        [
            _Route("x", "app.a-b.x", schedule="0 3 * * *"),
            _Route("b-x", "app.a.b-x", schedule="0 4 * * *"),
        ]
    )
    assert any(
        p.startswith(
            "task 'b-x': scheduler job id 'test--gyrinx-scheduler--app-a-b-x' is also task x's scheduler job id"
        )
        for p in refusal(run).problems
    )


def test_tasks_named_like_the_stacks_shared_resources_are_accepted_with_unique_urns(run, routes):
    """A URN holds its parent's type, so a task named like a shared component or API
    (apis, shared, pubsub, run, ...) declares nothing another resource declares."""
    routes.append(route("t"))
    shared = {r.name for r in run().registrations if r.name.isidentifier() and r.name != "t"}
    assert shared  # the shared components and APIs
    routes.extend(route(name) for name in sorted(shared))
    plan = run()
    assert {r.name for r in plan.registrations if r.type == TASK_COMPONENT} >= shared
    assert len({r.urn for r in plan.registrations}) == len(plan.registrations)


def test_a_topic_id_over_255_characters_is_refused(run, routes):
    routes.append(route("t", "m" * 240))
    problems = refusal(run).problems
    assert any(p.startswith("task t: topic id") and "Pub/Sub allows 3-255" in p for p in problems)


def test_a_job_id_google_rejects_is_refused(run, routes):
    """A non-ASCII letter is a Python identifier, but no Google id takes it."""
    routes.append(route("t", "app.tâches", schedule="0 3 * * *"))
    assert "task t: scheduler job id 'test--gyrinx-scheduler--app-tâches-t' may use only letters, digits, - and _" in (
        refusal(run).problems
    )


def test_a_bad_kill_switch_name_is_refused(run, routes):
    routes.append(route("t", kill_switch="enable batch"))
    assert only_problem(run) == "task t: kill_switch 'enable batch' must be an env flag name like ENABLE_BATCH_JOB"


def test_a_kill_switch_that_is_not_a_string_is_refused_as_such(run, routes):
    routes.append(route("t", kill_switch=True))
    assert only_problem(run) == "task t: kill_switch True must be a string, not bool"


def test_an_empty_registry_is_refused(run, routes):
    assert "returned no tasks" in only_problem(run)
    assert "gyrinx-tasks:allowEmptyRegistry" in only_problem(run)


def test_allow_empty_registry_lets_an_environment_be_torn_down(run, routes):
    plan = run(allowEmptyRegistry="true")
    assert not [r for r in plan.registrations if r.type.endswith(":TaskQueue")]


def test_a_registry_that_fails_to_import_says_why(run):
    problem = only_problem(run, registry="no_such_app.tasks:get_all_tasks")
    assert problem == (
        "config gyrinx-tasks:registry 'no_such_app.tasks:get_all_tasks': cannot import no_such_app.tasks: "
        "ModuleNotFoundError: No module named 'no_such_app'"
    )
    assert "Traceback" not in str(refusal(run, registry="no_such_app.tasks:get_all_tasks"))


def test_a_registry_callable_that_raises_says_why(run):
    assert only_problem(run, registry="tests.fake_registry:broken").endswith(
        "loading the routes failed: RuntimeError: settings not configured"
    )


def test_a_registry_attribute_that_is_missing_is_named(run):
    assert "has no attribute 'nothing'" in only_problem(run, registry="tests.fake_registry:nothing")


def test_a_malformed_registry_reference_is_refused(run):
    assert "must be file:PATH (a registry snapshot) or module:attribute" in only_problem(
        run, registry="tests.fake_registry"
    )


def test_a_registry_entry_without_name_and_path_is_named(run, routes):
    routes.append(object())
    assert only_problem(run).startswith("registry entry #1 (<object object")


def test_any_object_with_route_attributes_is_accepted(run, routes):
    class AppRoute:  # a real app's TaskRoute, which predates max_delivery_attempts
        name = "legacy"
        path = "app.tasks.legacy"
        ack_deadline = 60
        min_retry_delay = 10
        max_retry_delay = 600
        schedule = None
        schedule_timezone = "UTC"

    routes.append(AppRoute())
    sub = run().by_name("gcp:pubsub/subscription:Subscription", "legacy-sub")
    assert sub.inputs["deadLetterPolicy"]["maxDeliveryAttempts"] == default_delivery_attempts(10, 600)


@pytest.mark.parametrize(
    "url,fragment",
    [
        ("http://app.example.run.app", "must be an https:// URL"),
        ("HTTPS://app.example.run.app", "must start with https:// in lowercase"),
        ("https://app.example.run.app/", "has a path"),
        ("https://app.example.run.app/tasks/pubsub/", "has a path"),
        ("https://app.example.run.app?", "has a query"),
        ("https://app.example.run.app?x=1", "has a query"),
        ("https://app.example.run.app#", "has a fragment"),
        ("https://user@app.example.run.app", "has user info"),
        ("https://app.example.run.app ", "contains whitespace or a control character"),
        ("https://app.example.run.app\t", "contains whitespace or a control character"),
        ("https://app.exa\x7fmple.run.app", "contains whitespace or a control character"),
        ("https://app.example.run.app.", "ends with a dot"),
        ("https://App.example.run.app", "has uppercase letters"),
        ("https://app.exämple.run.app", "contains non-ASCII characters"),
        ("https://app_1.example.run.app", "is not a DNS name"),
        ("https://-app.example.run.app", "is not a DNS name"),
        ("https://", "has no host"),
        ("https://:8443", "has no host"),
        ("https://app.example.run.app:", "has an empty port"),
        ("https://app.example.run.app:0", "is not a number 1-65535"),
        ("https://app.example.run.app:65536", "is not a number 1-65535"),
        ("https://app.example.run.app:https", "is not a number 1-65535"),
        ("https://app.example.run.app:0443", "without leading zeros"),
    ],
)
def test_service_url_must_be_exactly_what_the_app_compares_the_audience_with(url, fragment):
    problem = settings.service_url_problem(url)
    assert problem is not None and fragment in problem


@pytest.mark.parametrize(
    "url", ["https://app.example.run.app", "https://gyrinx-abc123-nw.a.run.app", "https://localhost:8443"]
)
def test_a_bare_lowercase_https_url_is_a_service_url(url):
    assert settings.service_url_problem(url) is None


def test_a_service_url_with_a_trailing_slash_is_refused_naming_the_key(run, routes):
    routes.append(route("t"))
    problem = only_problem(run, serviceUrl="https://app.example.run.app/")
    assert problem.startswith("config gyrinx-tasks:serviceUrl: 'https://app.example.run.app/' has a path")
    assert "OIDC audience" in problem


@pytest.mark.parametrize("project", ["proj", "a" * 31, "1project", "project-", "Project-1", "my_project"])
def test_a_project_id_google_would_not_give_is_refused(run, routes, project):
    routes.append(route("t"))
    problems = refusal(run, gcp__project=project).problems
    assert (
        f"config gcp:project: {project!r} is not a project id: 6-30 lowercase letters, digits or hyphens, "
        in (problems[0])
    )


@pytest.mark.parametrize("key", ["gcp__region", "cloudRunRegion"])
@pytest.mark.parametrize("region", ["europe", "EUROPE-WEST2", "europe_west2", "europe-west", "west2"])
def test_a_region_that_is_not_a_region_name_is_refused(run, routes, key, region):
    routes.append(route("t"))
    full_key = key.replace("__", ":") if "__" in key else f"gyrinx-tasks:{key}"
    assert only_problem(run, **{key: region}) == (
        f"config {full_key}: {region!r} is not a region name like europe-west2 or us-central1"
    )


def test_a_zone_given_as_the_region_is_refused_naming_its_region(run, routes):
    routes.append(route("t"))
    assert only_problem(run, gcp__region="europe-west2-a") == (
        "config gcp:region: 'europe-west2-a' is a zone; give its region, europe-west2"
    )


@pytest.mark.parametrize("region", ["us-central1", "northamerica-northeast1", "europe-west10", "me-central2"])
def test_region_names_are_accepted(run, routes, region):
    routes.append(route("t", schedule="0 3 * * *"))
    assert run(gcp__region=region).by_name("gcp:cloudscheduler/job:Job", "t-job").inputs["region"] == region


@pytest.mark.parametrize("service", ["Gyrinx", "1gyrinx", "gyrinx-", "gyrinx_app", "g" * 50])
def test_a_cloud_run_service_name_cloud_run_would_not_take_is_refused(run, routes, service):
    routes.append(route("t"))
    assert only_problem(run, cloudRunService=service).startswith(
        f"config gyrinx-tasks:cloudRunService: {service!r} is not a Cloud Run service name"
    )


def test_a_49_character_cloud_run_service_name_is_accepted(run, routes):
    routes.append(route("t"))
    invoker = run(cloudRunService="g" * 49).by_name(
        "gcp:cloudrunv2/serviceIamMember:ServiceIamMember", "push-run-invoker"
    )
    assert invoker.inputs["name"] == "g" * 49


def test_missing_required_settings_are_named(run, routes):
    routes.append(route("t"))
    problems = refusal(run, serviceUrl=None, gcp__project=None).problems
    assert problems == [
        "config gcp:project: is required but not set",
        "config gyrinx-tasks:serviceUrl: is required but not set",
    ]


def test_an_unknown_config_key_is_refused(run, routes):
    routes.append(route("t"))
    problem = only_problem(run, servceUrl="https://typo.example")
    assert problem.startswith("config gyrinx-tasks:servceUrl: is not a setting this program reads")


def test_a_key_in_a_namespace_this_program_does_not_read_is_refused(run, routes):
    """``gyrinx_tasks:`` is not ``gyrinx-tasks:``: its cloudRunService would grant nothing."""
    routes.append(route("t"))
    assert only_problem(run, gyrinx_tasks__cloudRunService="gyrinx") == (
        "config gyrinx_tasks:cloudRunService: namespace 'gyrinx_tasks' is not one this program reads "
        "(gcp, gyrinx-tasks); is it a typo of gyrinx-tasks?"
    )


@pytest.mark.parametrize(
    "flags,fragment",
    [
        ('{"ENABLE_X": "no"}', "flag ENABLE_X is 'no'; it must be true or false"),
        ('{"enable-x": true}', "flag name 'enable-x' must be UPPER_SNAKE_CASE"),
        ('["ENABLE_X"]', "must be an object"),
        ("{not json", "is not valid JSON"),
    ],
)
def test_bad_flags_are_refused(run, routes, flags, fragment):
    routes.append(route("t"))
    problem = only_problem(run, flags=flags)
    assert problem.startswith("config gyrinx-tasks:flags:") and fragment in problem


def test_bad_labels_are_refused(run, routes):
    routes.append(route("t"))
    problems = refusal(run, labels='{"Team": "x", "owner": "Bob", "environment": "x", "tier": 1}').problems
    assert problems == [
        "config gyrinx-tasks:labels: label key 'Team' must be lowercase letters, digits, _ or -, starting with a "
        "letter, at most 63 characters",
        "config gyrinx-tasks:labels: label 'environment' is set by the program and cannot be overridden",
        "config gyrinx-tasks:labels: label owner='Bob': values must be lowercase letters, digits, _ or -, at most "
        "63 characters",
        "config gyrinx-tasks:labels: label tier=1: values must be strings, not int",
    ]


def test_more_labels_than_google_allows_with_the_programs_own_are_refused(run, routes):
    routes.append(route("t"))
    allowed = settings.MAX_LABELS - len(settings.fixed_labels("test"))
    labels = {f"l{index}": "x" for index in range(allowed + 1)}
    assert only_problem(run, labels=json.dumps(labels)) == (
        f"config gyrinx-tasks:labels: {allowed + 1} labels plus the 2 the program sets (environment, managed-by) "
        f"make {settings.MAX_LABELS + 1}; Google allows at most {settings.MAX_LABELS} per resource"
    )


def test_as_many_labels_as_google_allows_are_accepted(run, routes):
    routes.append(route("t"))
    allowed = settings.MAX_LABELS - len(settings.fixed_labels("test"))
    labels = {f"l{index}": "x" for index in range(allowed)}
    topic = run(labels=json.dumps(labels)).by_name("gcp:pubsub/topic:Topic", "t-topic")
    assert len(topic.inputs["labels"]) == settings.MAX_LABELS


def test_bad_environment_is_refused(run, routes):
    routes.append(route("t"))
    assert only_problem(run, environment="Prod_1").startswith("config gyrinx-tasks:environment: 'Prod_1' must be")


def test_every_problem_is_reported_at_once(run, routes):
    routes.extend(
        [
            route("a", ack_deadline=5),
            route("b", schedule="bad"),
            route("c", max_delivery_attempts=1),
        ]
    )
    error = refusal(run, serviceUrl="http://x.example")
    assert len(error.problems) == 4
    assert str(error).startswith("4 problems in the task configuration; nothing was declared:")
    assert [p.split(":")[0] for p in error.problems] == [
        "config gyrinx-tasks",
        "task a",
        "task b",
        "task c",
    ]


def test_nothing_is_declared_when_input_is_refused(run, routes, monkeypatch):
    monitors = []

    class Spy(RecordingMonitor):
        def __init__(self, mocks):
            super().__init__(mocks)
            monitors.append(self)

    monkeypatch.setattr(runner, "RecordingMonitor", Spy)
    routes.append(route("t", ack_deadline=1))
    with pytest.raises(InvalidInput):
        run()
    assert monitors and monitors[0].registrations == []
