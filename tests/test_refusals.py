"""Bad input is refused before anything is declared, every problem in one report."""

from __future__ import annotations

import pytest

from infra.errors import InvalidInput
from tests.fake_registry import route
from tools import runner
from tools.mocks import RecordingMonitor


def refusal(run, **config) -> InvalidInput:
    with pytest.raises(InvalidInput) as caught:
        run(**config)
    return caught.value


def only_problem(run, **config) -> str:
    problems = refusal(run, **config).problems
    assert len(problems) == 1, problems
    return problems[0]


@pytest.mark.parametrize(
    "schedule",
    ["0 3 * *", "0 0 3 * * *", "61 * * * *", "every day", "0 3 L * *", "0 3 * * 5#2", "@daily"],
)
def test_invalid_cron_is_refused(run, routes, schedule):
    routes.append(route("nightly", schedule=schedule))
    problem = only_problem(run)
    assert problem.startswith("task nightly: schedule")
    assert repr(schedule) in problem


def test_valid_cron_with_names_is_accepted(run, routes):
    routes.append(route("weekly", schedule="30 6 * JAN-DEC MON-FRI"))
    assert run().by_name("gcp:cloudscheduler/job:Job", "weekly-job")


def test_unknown_time_zone_is_refused(run, routes):
    routes.append(route("nightly", schedule="0 3 * * *", schedule_timezone="Europe/Londn"))
    assert only_problem(run) == (
        "task nightly: schedule_timezone 'Europe/Londn' is not a tz database name (e.g. 'UTC', 'Europe/London')"
    )


@pytest.mark.parametrize("value", [9, 601, "300", True])
def test_ack_deadline_outside_10_to_600_is_refused(run, routes, value):
    routes.append(route("t", ack_deadline=value))
    assert only_problem(run) == f"task t: ack_deadline {value!r} is outside 10-600 seconds"


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


def test_a_topic_id_over_255_characters_is_refused(run, routes):
    routes.append(route("t", "m" * 240))
    problems = refusal(run).problems
    assert any(p.startswith("task t: topic id") and "Pub/Sub allows 3-255" in p for p in problems)


def test_a_job_id_google_rejects_is_refused(run, routes):
    routes.append(route("t", "app.tasks~x", schedule="0 3 * * *"))
    assert only_problem(run).startswith("task t: scheduler job id 'test--gyrinx-scheduler--app-tasks~x-t'")


def test_a_bad_kill_switch_name_is_refused(run, routes):
    routes.append(route("t", kill_switch="enable batch"))
    assert only_problem(run) == "task t: kill_switch 'enable batch' must be an env flag name like ENABLE_BATCH_JOB"


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
    assert sub.inputs["deadLetterPolicy"]["maxDeliveryAttempts"] == 5


@pytest.mark.parametrize(
    "url,fragment",
    [
        ("http://app.example.run.app", "must be an https:// URL"),
        ("https://app.example.run.app/", "must be the bare service URL"),
        ("https://app.example.run.app/tasks/pubsub/", "must be the bare service URL"),
    ],
)
def test_service_url_must_be_bare_https(run, routes, url, fragment):
    routes.append(route("t"))
    problem = only_problem(run, serviceUrl=url)
    assert problem.startswith(f"config gyrinx-tasks:serviceUrl: {url!r}") and fragment in problem


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
    problems = refusal(run, labels='{"Team": "x", "owner": "Bob", "environment": "x"}').problems
    assert len(problems) == 3 and all(p.startswith("config gyrinx-tasks:labels:") for p in problems)


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
