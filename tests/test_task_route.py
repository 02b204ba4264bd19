"""The registry package the program imports."""

from example_app.tasks import TaskRoute, registry
from tests.fake_registry import task_function


def test_name_and_path_come_from_the_defining_module():
    route = TaskRoute(task_function("refresh_list_facts", "n23.core.tasks"))
    assert route.name == "refresh_list_facts"
    assert route.path == "n23.core.tasks.refresh_list_facts"


def test_a_wrapped_task_is_unwrapped_through_func():
    class DjangoTask:
        func = task_function("send_email", "app.mail")

    assert TaskRoute(DjangoTask()).path == "app.mail.send_email"


def test_constructing_a_route_never_raises_for_bad_values():
    route = TaskRoute(task_function("t"), ack_deadline=-1, schedule="nonsense", schedule_timezone="Mars/Base")
    assert route.schedule == "nonsense"


def test_the_guides_tasks_are_registered():
    assert [r.name for r in registry.get_all_tasks()] == [
        "hello_world",
        "send_notification",
        "cleanup_expired_sessions",
        "send_daily_digest",
        "process_large_file",
        "expensive_batch_job",
        "backfill_user_data",
        "sync_external_data",
        "send_email",
        "refresh_list_facts",
    ]


def test_guide_schedules_and_kill_switch():
    assert registry.get_task("cleanup_expired_sessions").schedule == "0 3 * * *"
    digest = registry.get_task("send_daily_digest")
    assert (digest.schedule, digest.schedule_timezone) == ("0 9 * * *", "Europe/London")
    assert registry.get_task("expensive_batch_job").kill_switch == "ENABLE_BATCH_JOB"
    assert registry.get_task("process_large_file").max_retry_delay == 600


def test_get_task_raises_key_error_for_an_unknown_name():
    try:
        registry.get_task("nope")
    except KeyError as exc:
        assert "nope" in str(exc)
    else:
        raise AssertionError("expected KeyError")
