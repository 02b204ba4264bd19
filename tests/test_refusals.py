"""Bad input is refused before anything is declared, every problem in one report."""

from __future__ import annotations

import json
import re
from pathlib import Path

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
    """Pulumi.yaml cannot declare gcp:project, so the program names it; an empty
    serviceUrl passes the CLI's check of a declared key, and the program refuses it."""
    routes.append(route("t"))
    problems = refusal(run, serviceUrl="", gcp__project=None).problems
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


# --- Issue 18 §2: values that would misroute work or break a deploy halfway ---------

VALID_ACCOUNT = "gyrinx-app@test-proj.iam.gserviceaccount.com"
ACCOUNT_KEYS = ["pushServiceAccountEmail", "appServiceAccount", "deployServiceAccount"]


@pytest.mark.parametrize("key", ACCOUNT_KEYS)
@pytest.mark.parametrize(
    "email",
    [
        "gyrinx-\u0430pp@test-proj.iam.gserviceaccount.com",  # a Cyrillic letter for the Latin "a"
        f"user:{VALID_ACCOUNT}",
        f"serviceAccount:{VALID_ACCOUNT}",
        f"a,{VALID_ACCOUNT}",
        '"gyrinx app"@test-proj.iam.gserviceaccount.com',
        f"projects/test-proj/serviceAccounts/{VALID_ACCOUNT}",
        "a" * 5000 + "@test-proj.iam.gserviceaccount.com",
        "allUsers@test-proj.iam.gserviceaccount.com",
        "allusers@gmail.com",
        "gyrinx-app@test-proj.iam.gserviceaccount.com.evil.example",
        "app@test-proj.iam.gserviceaccount.com",  # an account id is 6-30 characters
        "gyrinx-app-@test-proj.iam.gserviceaccount.com",  # and ends with a letter or digit
        "GYRINX-APP@test-proj.iam.gserviceaccount.com",
    ],
)
def test_an_account_key_that_is_not_a_service_account_email_is_refused(run, routes, key, email):
    """Each becomes an IAM member ``serviceAccount:EMAIL``: a user-managed account is
    ACCOUNT_ID@PROJECT.iam.gserviceaccount.com, its id "6-30 characters long, and match the
    regular expression [a-z]([-a-z0-9]*[a-z0-9])" (IAM v1 CreateServiceAccountRequest)."""
    routes.append(route("t"))
    problem = only_problem(run, **{key: email})
    assert problem.startswith(f"config gyrinx-tasks:{key}: ") and "is not a service account email" in problem
    assert len(problem) < 500  # one readable line, even for 5,000 characters


@pytest.mark.parametrize("key", ["pushServiceAccountEmail", "appServiceAccount"])
def test_compute_engines_default_account_may_push_and_publish(run, routes, key):
    """Cloud Run runs as PROJECT_NUMBER-compute@developer.gserviceaccount.com unless told
    otherwise (Cloud Functions v2 ServiceConfig.serviceAccountEmail)."""
    routes.append(route("t"))
    assert run(**{key: "123456789012-compute@developer.gserviceaccount.com"}).registrations


def test_the_deploying_identity_is_an_account_made_for_it(run, routes):
    routes.append(route("t"))
    problem = only_problem(run, deployServiceAccount="123456789012-compute@developer.gserviceaccount.com")
    assert problem.startswith("config gyrinx-tasks:deployServiceAccount: ")


def test_the_account_forms_say_what_each_key_allows(run, routes):
    routes.append(route("t"))
    problems = refusal(run, appServiceAccount="x", deployServiceAccount="y").problems
    assert [("compute@developer" in problem) for problem in problems] == [True, False]


@pytest.mark.parametrize(
    "url,fragment",
    [
        ("https://app.example.run.app:443", "spells out the default port :443"),
        ("https://gyrinx-abc123-nw.a.run.app:8443", "serves only on the default port"),
        ("https://10.0.0.1", "is an IP address"),
        ("https://203.0.113.7:8443", "is an IP address"),
        ("https://" + "a" * 60 + ("." + "a" * 60) * 4, "a DNS name has at most 253"),
    ],
)
def test_a_service_url_the_audience_can_never_match_is_refused(url, fragment):
    problem = settings.service_url_problem(url)
    assert problem is not None and fragment in problem


def test_a_service_url_with_port_443_is_refused_naming_the_key(run, routes):
    routes.append(route("t"))
    problem = only_problem(run, serviceUrl="https://gyrinx-abc123-nw.a.run.app:443")
    assert problem.startswith("config gyrinx-tasks:serviceUrl: 'https://gyrinx-abc123-nw.a.run.app:443' spells out")


def test_a_custom_domain_on_another_port_is_a_service_url():
    assert settings.service_url_problem("https://tasks.example.com:8443") is None


def offered(product: str) -> list[str]:
    from infra import locations

    return sorted((locations.cloud_run() if product == "run" else locations.cloud_scheduler()).regions)


@pytest.mark.parametrize(("key", "product"), [("gcp__region", "scheduler"), ("cloudRunRegion", "run")])
@pytest.mark.parametrize("region", ["zz-zzzz99", "a-b1", "europe-west99"])
def test_a_region_google_does_not_offer_is_refused(run, routes, key, product, region):
    routes.append(route("t", schedule="0 3 * * *"))
    full_key = key.replace("__", ":") if "__" in key else f"gyrinx-tasks:{key}"
    problem = only_problem(run, **{key: region})
    assert problem.startswith(f"config {full_key}: {region!r} is not a region where ")
    assert "infra/locations.json" in problem
    assert region not in offered(product)


@pytest.mark.parametrize(
    ("key", "typo", "meant"),
    [("gcp__region", "europe-wset2", "europe-west2"), ("cloudRunRegion", "us-centrl1", "us-central1")],
)
def test_a_mistyped_region_is_told_the_nearest_one(run, routes, key, typo, meant):
    routes.append(route("t"))
    assert f"did you mean {meant}?" in only_problem(run, **{key: typo})


def test_the_service_region_defaults_to_gcp_region_and_is_checked_as_cloud_runs(run, routes):
    """A region only the scheduler offers cannot host the Cloud Run service it names."""
    only_scheduler = sorted(set(offered("scheduler")) - set(offered("run")))
    if not only_scheduler:
        pytest.skip("every scheduler region is a Cloud Run region in infra/locations.json")
    routes.append(route("t"))
    problem = only_problem(run, gcp__region=only_scheduler[0], cloudRunService="gyrinx")
    assert problem.startswith(f"config gcp:region: {only_scheduler[0]!r} is not a region where Cloud Run runs")
    assert run(gcp__region=only_scheduler[0]).registrations  # no service named: only the jobs live there


def test_every_listed_region_is_accepted(run, routes):
    routes.append(route("t", schedule="0 3 * * *"))
    for region in offered("run"):
        job = run(gcp__region=region, cloudRunRegion=region).by_name("gcp:cloudscheduler/job:Job", "t-job")
        assert job.inputs["region"] == region


def test_default_labels_count_towards_googles_limit(run, routes):
    """gcp:defaultLabels is refused anyway (only gcp:project and gcp:region are accepted,
    issue 15 §5); should it ever be accepted, its labels still count."""
    routes.append(route("t"))
    fixed = settings.fixed_labels("test")
    own = {f"l{index}": "x" for index in range(settings.MAX_LABELS - len(fixed) - 2)}
    defaults = {f"d{index}": "x" for index in range(10)}
    problems = refusal(run, labels=json.dumps(own), gcp__defaultLabels=json.dumps(defaults)).problems
    total = len(own) + len(fixed) + len(defaults)
    assert (
        f"config gyrinx-tasks:labels: {len(own)} labels plus the {len(fixed)} the program sets "
        f"({', '.join(fixed)}) and {len(defaults)} more from gcp:defaultLabels make {total}; "
        f"Google allows at most {settings.MAX_LABELS} per resource"
    ) in problems


def test_a_default_label_the_stack_also_sets_counts_once(run, routes):
    routes.append(route("t"))
    fixed = settings.fixed_labels("test")
    own = {f"l{index}": "x" for index in range(settings.MAX_LABELS - len(fixed))}
    problems = refusal(run, labels=json.dumps(own), gcp__defaultLabels=json.dumps({"l0": "y"})).problems
    assert not [problem for problem in problems if "Google allows at most" in problem]


@pytest.mark.parametrize(
    ("key", "shown"), [("labels", "gyrinx-tasks:labels"), ("gcp__defaultLabels", "gcp:defaultLabels")]
)
def test_a_label_key_starting_with_goog_is_refused(run, routes, key, shown):
    routes.append(route("t"))
    assert f"config {shown}: label key 'goog-team' starts with 'goog', which Google reserves" in (
        refusal(run, **{key: '{"goog-team": "x"}'}).problems
    )


@pytest.mark.parametrize(
    "channel",
    [
        "projects/x/notificationChannels/",
        "projects/test-proj/notificationChannels/",
        "projects//notificationChannels/123",
        "projects/test-proj/notificationChannels/123/..",
        "projects/test-proj/notificationChannels/../123",
        "projects/test-proj/notificationChannels/123?x",
        "projects/test-proj/notificationChannels/123#",
        "projects/test-proj/notificationChannels/123/extra",
        " projects/test-proj/notificationChannels/123",
        "projects/test-proj/alertPolicies/123",
    ],
)
def test_a_notification_channel_that_is_not_a_channel_name_is_refused(run, routes, channel):
    routes.append(route("t"))
    problem = only_problem(run, alertNotificationChannels=json.dumps([channel]))
    assert problem.startswith("config gyrinx-tasks:alertNotificationChannels: ")
    assert "is not a channel name projects/PROJECT/notificationChannels/ID" in problem


def test_a_channel_name_is_accepted(run, routes):
    routes.append(route("t"))
    channel = "projects/test-proj/notificationChannels/1234567890123456789"
    policy = run(alertNotificationChannels=json.dumps([channel])).by_name(
        "gcp:monitoring/alertPolicy:AlertPolicy", "dead-letter-alert"
    )
    assert policy.inputs["notificationChannels"] == [channel]


@pytest.mark.parametrize("key", ["flags", "labels"])
def test_a_repeated_name_is_refused_not_silently_the_last(run, routes, key):
    routes.append(route("t", kill_switch="ENABLE_X"))
    value = '{"ENABLE_X": true, "ENABLE_X": false}' if key == "flags" else '{"team": "a", "team": "b"}'
    name = "ENABLE_X" if key == "flags" else "team"
    assert only_problem(run, **{key: value}) == (
        f"config gyrinx-tasks:{key}: repeats {name}: give each name once (JSON would keep only the last)"
    )


def test_a_repeated_flag_on_the_command_line_is_refused(capsys):
    from tools.cli import main

    assert main(["plan", "--stack", "example", "--config", 'flags={"ENABLE_X": true, "ENABLE_X": false}']) == 2
    err = capsys.readouterr().err
    assert "config gyrinx-tasks:flags: repeats ENABLE_X" in err and "Traceback" not in err


def test_json_nested_too_deeply_in_a_setting_is_one_problem(run, routes):
    routes.append(route("t"))
    assert only_problem(run, labels="[" * 100_000 + "]" * 100_000) == (
        "config gyrinx-tasks:labels: nests JSON too deeply to read"
    )


# --- Issue 15 §4: a flag may only name a route's kill switch -------------------------


@pytest.mark.parametrize("flag", ["SECRET_KEY", "GOOGLE_CLOUD_PROJECT", "EMAIL_USE_TLS"])
def test_a_flag_that_is_no_routes_kill_switch_is_refused(run, routes, flag):
    """Otherwise the deploy would write it into the app's environment (issue 15 §4)."""
    routes.append(route("batch", kill_switch="ENABLE_BATCH_JOB"))
    assert only_problem(run, flags=json.dumps({flag: True})) == (
        f"config gyrinx-tasks:flags: flag {flag} in stack test is not the kill_switch of any task; a flag may only "
        "name a task's kill switch, since the deploy writes it into the app's environment (known kill switches: "
        "ENABLE_BATCH_JOB)"
    )


def test_a_flag_that_resembles_a_kill_switch_is_told_as_a_typo(run, routes):
    routes.append(route("batch", kill_switch="ENABLE_BATCH_JOB"))
    problem = only_problem(run, flags='{"ENABLE_BATCH_JOBS": false}')
    assert "(did you mean ENABLE_BATCH_JOB? known kill switches: ENABLE_BATCH_JOB)" in problem


def test_a_flag_is_checked_even_when_other_settings_are_wrong(run, routes):
    """All problems at once: the flag is not left for the next run."""
    routes.append(route("t"))
    problems = refusal(run, flags='{"SECRET_KEY": true}', serviceUrl="http://x.example").problems
    assert [problem.split(":")[1] for problem in problems] == ["serviceUrl", "flags"]


@pytest.mark.parametrize("value", ["1", '"true"', '"True"', "null", "0"])
def test_a_flag_value_is_a_json_boolean(run, routes, value):
    routes.append(route("t", kill_switch="ENABLE_X"))
    problem = only_problem(run, flags=f'{{"ENABLE_X": {value}}}')
    assert problem.startswith("config gyrinx-tasks:flags: flag ENABLE_X is ") and "it must be true or false" in problem


# --- Provider settings (issue 15 §5): only infra.settings.GCP_KEYS -----------------------


@pytest.mark.parametrize(
    "key",
    ["pubsubCustomEndpoint", "impersonateServiceAccount", "accessToken", "credentials", "defaultLabels", "zone"],
)
def test_a_gcp_key_the_program_does_not_accept_is_refused_naming_it(run, routes, key):
    """Each would change, unreviewed, where the deploy identity's token goes, who deploys
    or what every resource carries; the plan would otherwise be byte-identical."""
    routes.append(route("t"))
    problems = refusal(run, **{f"gcp__{key}": "x"}).problems
    assert [problem for problem in problems if problem.startswith(f"config gcp:{key}: is not a gcp: setting")]


def test_a_gcp_key_close_to_an_accepted_one_is_told_as_a_typo(run, routes):
    routes.append(route("t"))
    problems = refusal(run, gcp__projet="test-proj").problems
    assert [
        problem for problem in problems if "config gcp:projet:" in problem and "did you mean gcp:project?" in problem
    ]


def test_the_accepted_gcp_keys_are_the_ones_the_readme_documents():
    readme = (Path(__file__).resolve().parent.parent / "docs" / "configuration.md").read_text()
    documented = set(re.findall(r"^\| `gcp:([A-Za-z]+)` \|", readme, flags=re.MULTILINE))
    assert documented == set(settings.GCP_KEYS)


def test_a_gcp_key_the_language_host_passes_is_refused_too(run, routes, monkeypatch):
    """Under the real CLI the Python language host puts every config key in PULUMI_CONFIG
    (pulumi/pulumi sdk/python/cmd/pulumi-language-python/main.go) and the exec script
    hands pulumi.runtime.get_config_env() to set_all_config
    (sdk/python/cmd/pulumi-language-python-exec): the program reads the keys through that
    public function, so an ESC import or a stack file the offline tools never read is
    checked as well."""
    routes.append(route("t"))
    monkeypatch.setenv("PULUMI_CONFIG", json.dumps({"gcp:accessToken": "ya29.x"}))
    problems = refusal(run).problems
    assert [problem for problem in problems if problem.startswith("config gcp:accessToken: is not a gcp: setting")]
