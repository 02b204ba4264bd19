"""The registry package the program imports, and routes read in-process (module:attribute)."""

from __future__ import annotations

import os
import sys
import types
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from example_app.tasks import TaskRoute, registry
from infra.registry import load_tasks
from tests import fake_registry
from tests.conftest import only_problem, refusal
from tests.fake_registry import RaisingRoute, task_function

APP_SOURCE = Path(__file__).parent / "data" / "registry" / "app"


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


# Reading routes in-process (gyrinx-tasks:registry module:attribute): whatever the app's
# code does, the program reports one line per problem, never a traceback.


@pytest.fixture
def app_on_path(monkeypatch):
    """tests/data/registry/app importable, and its modules forgotten afterwards."""
    monkeypatch.syspath_prepend(str(APP_SOURCE))
    yield
    for name in [name for name in sys.modules if name.split(".")[0] in ("faults", "gyrinx", "n23")]:
        del sys.modules[name]


def test_a_registry_module_that_exits_while_imported_is_a_problem_line(run, app_on_path):
    problem = only_problem(run, registry="faults.exits_on_import:ROUTES")
    assert problem == (
        "config gyrinx-tasks:registry 'faults.exits_on_import:ROUTES': cannot import faults.exits_on_import: "
        "called sys.exit(3)"
    )


def test_a_registry_that_exits_while_listing_routes_is_a_problem_line(run):
    assert only_problem(run, registry="tests.fake_registry:exits").endswith(
        "loading the routes failed: called sys.exit(4)"
    )


def test_ctrl_c_while_loading_the_registry_still_stops_the_run():
    with pytest.raises(KeyboardInterrupt):
        load_tasks("tests.fake_registry:interrupted")


def test_a_route_attribute_that_raises_names_the_task_and_attribute(run, routes):
    routes.append(RaisingRoute("send_email", "ack_deadline", ValueError("no deadline configured")))
    problems = refusal(run).problems
    assert problems == ["task send_email: reading its ack_deadline failed: ValueError: no deadline configured"]
    assert "Traceback" not in str(refusal(run))


def test_a_route_attribute_that_exits_is_a_problem_line(run, routes):
    routes.append(RaisingRoute("send_email", "schedule", SystemExit(1)))
    assert only_problem(run) == "task send_email: reading its schedule failed: called sys.exit(1)"


def test_a_route_whose_name_raises_is_named_by_its_position(run, routes):
    class NamelessRoute:
        path = "app.tasks.nameless"

        @property
        def name(self) -> str:
            raise LookupError("unregistered")

        def __repr__(self) -> str:
            return "NamelessRoute()"

    routes.append(NamelessRoute())
    assert (
        only_problem(run) == "registry entry #1 (NamelessRoute()): reading its name failed: LookupError: unregistered"
    )


def test_every_failing_route_is_reported_at_once(run, routes):
    routes.extend([RaisingRoute("a", "ack_deadline", ValueError("x")), RaisingRoute("b", "kill_switch", KeyError("y"))])
    assert [problem.split(":")[0] for problem in refusal(run).problems] == ["task a", "task b"]


def test_a_route_shaped_like_the_real_apps_takes_the_programs_defaults(run, routes):
    """The real app's TaskRoute (gyrinx-app/gyrinx gyrinx/tasks/route.py at 5cf97c15) has
    func, ack_deadline, min_retry_delay, max_retry_delay, schedule and schedule_timezone,
    and wraps a Django ``@task`` whose function is ``.func`` (django/tasks/base.py)."""

    @dataclass
    class AppTaskRoute:
        func: Any
        ack_deadline: int = 300
        min_retry_delay: int = 10
        max_retry_delay: int = 600
        schedule: str | None = None
        schedule_timezone: str = "UTC"

        @property
        def name(self) -> str:
            return self.func.func.__name__

        @property
        def path(self) -> str:
            return f"{self.func.func.__module__}.{self.func.func.__name__}"

    class DjangoTask:
        func = task_function("backfill_pins", "n23.core.tasks")

    routes.append(AppTaskRoute(DjangoTask(), ack_deadline=600))
    (raw,) = load_tasks("tests.fake_registry:ROUTES")
    assert (raw.path, raw.ack_deadline, raw.max_delivery_attempts, raw.kill_switch) == (
        "n23.core.tasks.backfill_pins",
        600,
        None,
        None,
    )
    assert run().by_name("gcp:pubsub/topic:Topic", "backfill_pins-topic")


# gyrinx-tasks:djangoSettingsModule: Django set up before the registry is imported.


@pytest.fixture
def fake_django(monkeypatch):
    """A stand-in ``django`` module whose ``setup()`` records DJANGO_SETTINGS_MODULE, like
    Django's own ``django.setup()`` (django/__init__.py), which reads the settings it names
    and populates the apps. Yields the module; ``setup_error`` makes setup raise it."""
    module = types.ModuleType("django")
    module.setup_error = None

    def setup() -> None:
        if module.setup_error is not None:
            raise module.setup_error
        fake_registry.SETUP_CALLS.append(os.environ["DJANGO_SETTINGS_MODULE"])

    module.setup = setup
    monkeypatch.setitem(sys.modules, "django", module)
    monkeypatch.setattr(fake_registry, "SETUP_CALLS", [])
    # setenv first, so the teardown removes what the program sets.
    monkeypatch.setenv("DJANGO_SETTINGS_MODULE", "unset")
    monkeypatch.delenv("DJANGO_SETTINGS_MODULE")
    return module


def test_django_is_set_up_with_the_configured_settings_before_the_registry(run, fake_django):
    plan = run(registry="tests.fake_registry:after_setup", djangoSettingsModule="tests.conftest")
    assert fake_registry.SETUP_CALLS == ["tests.conftest"]
    assert plan.by_name("gcp:pubsub/topic:Topic", "needs_setup-topic")


def test_without_settings_django_is_not_set_up(run, fake_django):
    assert only_problem(run, registry="tests.fake_registry:after_setup").endswith(
        "loading the routes failed: RuntimeError: Apps aren't loaded yet."
    )
    assert fake_registry.SETUP_CALLS == []


def test_a_failing_django_setup_is_one_problem_line(run, fake_django):
    fake_django.setup_error = RuntimeError("No module named 'no_such_app'")
    assert only_problem(run, registry="tests.fake_registry:after_setup", djangoSettingsModule="tests.conftest") == (
        "config gyrinx-tasks:djangoSettingsModule 'tests.conftest': django.setup() failed: "
        "RuntimeError: No module named 'no_such_app'"
    )


def test_a_settings_module_that_cannot_be_imported_is_one_problem_line(run, fake_django):
    problem = only_problem(run, registry="tests.fake_registry:after_setup", djangoSettingsModule="no_such.settings")
    assert problem == (
        "config gyrinx-tasks:djangoSettingsModule 'no_such.settings': cannot import the settings module: "
        "ModuleNotFoundError: No module named 'no_such'"
    )
    assert fake_registry.SETUP_CALLS == []


def test_settings_without_django_installed_is_one_problem_line(run, monkeypatch):
    monkeypatch.setitem(sys.modules, "django", None)  # import django raises ImportError
    problem = only_problem(run, registry="tests.fake_registry:after_setup", djangoSettingsModule="tests.conftest")
    assert problem.startswith(
        "config gyrinx-tasks:djangoSettingsModule 'tests.conftest': Django is not importable in this virtualenv"
    )


def test_settings_that_are_not_a_module_name_are_refused(run, fake_django):
    assert "is not a dotted module name" in only_problem(
        run, registry="tests.fake_registry:after_setup", djangoSettingsModule="gyrinx/settings.py"
    )


def test_settings_with_a_snapshot_registry_are_refused_not_ignored(run, fake_django):
    problem = only_problem(run, registry="file:registry/gyrinx.json", djangoSettingsModule="gyrinx.settings")
    assert problem.startswith(
        "config gyrinx-tasks:djangoSettingsModule 'gyrinx.settings': applies to a module:attribute registry only"
    )
    assert fake_registry.SETUP_CALLS == []
