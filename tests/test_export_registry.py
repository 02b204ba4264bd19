"""``./dev export-registry``: the app's registry read by the app's own interpreter.

The end-to-end tests build a small Django 6 app shaped like the real one
(tests/data/registry/app: per-app ``task_routes`` discovered over INSTALLED_APPS,
``django.tasks`` ``@task`` objects, a ``TaskRoute`` that computes its own
``topic_name``), install Django 6 into a virtualenv of Python 3.12 or later (found
through pyenv or on PATH), export the registry with that interpreter, plan the
snapshot, and compare every topic with the one the app itself names.

Every export runs the app in the real bubblewrap sandbox (``bwrap``, Debian package
``bubblewrap``), which the machine running these tests must have. A hostile app's
import-time code tries what issue 15 saw an app do, against a copy of this project.
"""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from infra.errors import InvalidInput
from infra.registry import PROJECT_DIR, ROUTE_KEYS, RawRoute, load_snapshot, load_tasks
from tools import cli, exporter
from tools.arguments import CALLER_DIR_ENV
from tools.errors import STDERR_TAIL_LINES
from tools.export_registry import INSTALL_SANDBOX, ROUTE_ORDER, SANDBOX

APP_SOURCE = Path(__file__).parent / "data" / "registry" / "app"
TOPIC = "gcp:pubsub/topic:Topic"
SUBSCRIPTION = "gcp:pubsub/subscription:Subscription"
TASK_COMPONENT = ":TaskQueue"
DJANGO_REQUIREMENT = "Django>=6,<7"
# Django 6 is the first with django.tasks, and needs Python 3.12 or later.
DJANGO_MINIMUM_PYTHON = (3, 12)


def installed_pythons() -> dict[tuple[int, int], Path]:
    """Every CPython interpreter pyenv knows (``pyenv prefix VERSION``) or PATH has as
    ``python3.N``, by (major, minor)."""
    found: dict[tuple[int, int], Path] = {}
    pyenv = shutil.which("pyenv")
    if pyenv:
        versions = subprocess.run([pyenv, "versions", "--bare"], capture_output=True, text=True, check=False)
        for version in versions.stdout.split():
            match = re.fullmatch(r"(\d+)\.(\d+)\.\d+", version)
            if not match:
                continue
            prefix = subprocess.run([pyenv, "prefix", version], capture_output=True, text=True, check=False)
            python = Path(prefix.stdout.strip()) / "bin" / "python3"
            if prefix.returncode == 0 and os.access(python, os.X_OK):
                found[(int(match[1]), int(match[2]))] = python
    for minor in range(9, 20):
        on_path = shutil.which(f"python3.{minor}")
        if on_path:
            found.setdefault((3, minor), Path(on_path))
    return found


@pytest.fixture(scope="session")
def django_python(tmp_path_factory) -> Path:
    """A virtualenv's python with Django 6, on the newest installed Python >= 3.12; one per session."""
    pythons = installed_pythons()
    candidates = sorted(version for version in pythons if version >= DJANGO_MINIMUM_PYTHON)
    if not candidates:
        pytest.skip("no Python 3.12 or later is installed (pyenv or python3.N on PATH); Django 6 needs one")
    base = pythons[candidates[-1]]
    venv = tmp_path_factory.mktemp("django-venv")
    subprocess.run([str(base), "-m", "venv", str(venv)], check=True, capture_output=True)
    python = venv / "bin" / "python"
    install = subprocess.run(
        [str(python), "-m", "pip", "install", "--disable-pip-version-check", "--quiet", DJANGO_REQUIREMENT],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    assert install.returncode == 0, f"installing {DJANGO_REQUIREMENT} failed:\n{install.stdout}\n{install.stderr}"
    return python


@pytest.fixture
def app_source(tmp_path) -> Path:
    """A fresh copy of the test app (outside any git checkout)."""
    return Path(shutil.copytree(APP_SOURCE, tmp_path / "app"))


def export(capsys, *arguments: str) -> tuple[int, str, str]:
    """``./dev export-registry ARGUMENTS`` in-process: (exit status, stdout, stderr)."""
    status = cli.main(["export-registry", *arguments])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def export_app(capsys, app_source: Path, *more: str, python: Path | str = sys.executable) -> tuple[int, str, str]:
    """``export`` of the app at ``app_source`` with the interpreter ``python``."""
    return export(capsys, "--app-source", str(app_source), "--app-python", str(python), *more)


def app_routes(python: Path, app_source: Path, environment: str) -> list[dict[str, Any]]:
    """The routes as the app itself sees them with TASKS_ENVIRONMENT=``environment``,
    each with its own ``topic_name`` (gyrinx/tasks/route.py)."""
    code = (
        "import django, json\n"
        "django.setup()\n"
        "from gyrinx.tasks.registry import get_all_tasks\n"
        "print(json.dumps([{'name': r.name, 'topic': r.topic_name, 'ack_deadline': r.ack_deadline,"
        " 'min_retry_delay': r.min_retry_delay, 'max_retry_delay': r.max_retry_delay} for r in get_all_tasks()]))\n"
    )
    env = {
        "PATH": os.environ["PATH"],
        "PYTHONPATH": str(app_source),
        "DJANGO_SETTINGS_MODULE": "gyrinx.settings",
        "TASKS_ENVIRONMENT": environment,
    }
    result = subprocess.run(
        [str(python), "-B", "-c", code], cwd=app_source, env=env, capture_output=True, text=True, check=True
    )
    routes: list[dict[str, Any]] = json.loads(result.stdout)
    return routes


@pytest.fixture
def exported(django_python, app_source, tmp_path, capsys) -> Path:
    """The test app's snapshot, exported with its Django interpreter and gyrinx.settings."""
    output = tmp_path / "gyrinx.json"
    status, out, err = export(
        capsys,
        *("--app-source", str(app_source), "--app-python", str(django_python)),
        *("--django-settings", "gyrinx.settings", "--output", str(output)),
    )
    assert (status, out) == (0, ""), err
    return output


# The end to end path: a Django 6 app's registry, exported, planned.


def test_every_planned_topic_is_the_one_the_app_publishes_to(exported, django_python, app_source, run):
    plan = run(registry=f"file:{exported}", environment="staging")
    for task in app_routes(django_python, app_source, "staging"):
        assert plan.by_name(TOPIC, f"{task['name']}-topic").inputs["name"] == task["topic"]


def test_every_subscription_has_the_apps_ack_deadline_and_backoff(exported, django_python, app_source, run):
    plan = run(registry=f"file:{exported}")
    for task in app_routes(django_python, app_source, "test"):
        subscription = plan.by_name(SUBSCRIPTION, f"{task['name']}-sub").inputs
        assert subscription["ackDeadlineSeconds"] == task["ack_deadline"]
        assert subscription["retryPolicy"] == {
            "minimumBackoff": f"{task['min_retry_delay']}s",
            "maximumBackoff": f"{task['max_retry_delay']}s",
        }


def test_the_plan_has_one_task_per_app_route_and_no_other(exported, django_python, app_source, run):
    plan = run(registry=f"file:{exported}")
    planned = {r.name for r in plan.registrations if r.type.endswith(TASK_COMPONENT)}
    assert planned == {task["name"] for task in app_routes(django_python, app_source, "test")}


def test_routes_keep_the_apps_order_over_installed_apps(exported, django_python, app_source):
    assert [r.name for r in load_snapshot(str(exported))] == [
        task["name"] for task in app_routes(django_python, app_source, "dev")
    ]


def test_the_snapshot_has_one_route_per_line(exported):
    document = json.loads(exported.read_text())
    lines = exported.read_text().splitlines()
    assert [json.loads(line.strip().rstrip(",")) for line in lines[4:-2]] == document["routes"]
    assert lines[-2:] == ["  ]", "}"]


def test_the_snapshot_records_how_it_was_exported(exported, django_python):
    version = subprocess.run(
        [str(django_python), "-c", "import django, platform; print(platform.python_version(), django.__version__)"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert json.loads(exported.read_text())["app"] == {
        "commit": None,
        "settingsModule": "gyrinx.settings",
        "registry": "gyrinx.tasks.registry:get_all_tasks",
        "exportedWith": {"python": version[0], "django": version[1]},
    }


def test_a_route_without_max_delivery_attempts_or_kill_switch_leaves_them_out(exported):
    """The real app's TaskRoute has neither (gyrinx-app/gyrinx gyrinx/tasks/route.py)."""
    routes = json.loads(exported.read_text())["routes"]
    assert all(set(route) == set(ROUTE_ORDER) - {"max_delivery_attempts", "kill_switch"} for route in routes)


# Exports that need no Django: the project's own interpreter reads registries that do not.


def test_a_route_with_every_field_writes_them_all_in_the_programs_order(tmp_path, capsys):
    status, out, err = export(
        capsys,
        *("--app-source", str(PROJECT_DIR), "--app-python", sys.executable),
        *("--registry", "example_app.tasks.registry:get_all_tasks"),
    )
    assert status == 0, err
    routes = json.loads(out)["routes"]
    assert all(list(route) == list(ROUTE_ORDER) for route in routes)


def test_a_snapshot_reads_back_as_the_same_routes_as_in_process(tmp_path, capsys):
    reference = "example_app.tasks.registry:get_all_tasks"
    output = tmp_path / "example.json"
    arguments = ("--app-source", str(PROJECT_DIR), "--app-python", sys.executable, "--registry", reference)
    assert export(capsys, *arguments, "--output", str(output))[0] == 0
    assert load_snapshot(str(output)) == load_tasks(reference)


def test_the_exporters_fields_are_the_programs():
    assert exporter.REQUIRED_FIELDS + exporter.OPTIONAL_FIELDS == ROUTE_ORDER
    assert set(ROUTE_ORDER) == ROUTE_KEYS == {field for field in RawRoute.__dataclass_fields__}


def test_what_the_app_prints_never_reaches_the_snapshot(app_source, capsys):
    status, out, err = export_app(capsys, app_source, "--registry", "faults.registries:prints")
    assert status == 0, err
    assert [route["name"] for route in json.loads(out)["routes"]] == ["fine"]
    assert "hello from the app" not in out


def commit_all(app_source: Path) -> str:
    """Make ``app_source`` a git checkout with everything committed; its HEAD."""
    git = ["git", "-C", str(app_source), "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "app"], check=True)
    return subprocess.run([*git, "rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()


def test_the_commit_of_a_clean_checkout_is_recorded_as_clean(app_source, capsys):
    head = commit_all(app_source)
    status, out, err = export_app(capsys, app_source, "--registry", "faults.registries:prints")
    assert status == 0, err
    assert {key: json.loads(out)["app"][key] for key in ("commit", "dirty")} == {"commit": head, "dirty": False}


def test_a_checkout_with_a_changed_file_is_recorded_dirty(app_source, capsys):
    head = commit_all(app_source)
    registries = app_source / "faults" / "registries.py"
    registries.write_text(registries.read_text() + "\n# changed, not committed\n")
    status, out, err = export_app(capsys, app_source, "--registry", "faults.registries:prints")
    assert status == 0, err
    assert {key: json.loads(out)["app"][key] for key in ("commit", "dirty")} == {"commit": head, "dirty": True}
    assert f"(commit {head}, dirty: the checkout has uncommitted changes," in err


def test_a_new_file_git_does_not_ignore_makes_the_checkout_dirty(app_source, capsys):
    """The registry may import it, so the routes may not be the commit's."""
    commit_all(app_source)
    (app_source / "faults" / "new_tasks.py").write_text("ROUTES = []\n")
    status, out, err = export_app(capsys, app_source, "--registry", "faults.registries:prints")
    assert status == 0, err
    assert json.loads(out)["app"]["dirty"] is True


def test_a_dirty_snapshot_reads_back(app_source, tmp_path, capsys):
    commit_all(app_source)
    (app_source / "untracked.py").write_text("")
    output = tmp_path / "gyrinx.json"
    status, _, err = export_app(capsys, app_source, "--registry", "faults.registries:prints", "--output", str(output))
    assert status == 0, err
    assert json.loads(output.read_text())["app"]["dirty"] is True
    assert [route.name for route in load_snapshot(str(output))] == ["fine"]


@pytest.mark.parametrize(("commit", "dirty"), [("5cf97c15", "yes"), ("5cf97c15", 1), (None, False)])
def test_dirty_is_true_or_false_and_only_with_a_commit(tmp_path, commit, dirty):
    snapshot = tmp_path / "gyrinx.json"
    app = {"commit": commit, "dirty": dirty, "settingsModule": None, "registry": "a.b:c"}
    snapshot.write_text(json.dumps({"format": 1, "app": app, "routes": []}))
    with pytest.raises(InvalidInput) as refused:
        load_snapshot(str(snapshot))
    assert refused.value.problems == [
        f"config gyrinx-tasks:registry 'file:{snapshot}': app.dirty must be true or false, and only with a commit"
    ]


def test_the_app_runs_in_a_clean_environment(app_source, capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("TASKS_ENVIRONMENT", "prod")
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", "/secret.json")
    (app_source / "environment.py").write_text(
        "import os, sys\n"
        "from faults.registries import Route\n"
        "ROUTES = [Route(name=key, path='env.' + key) for key in sorted(os.environ)\n"
        "          if key not in ('LC_CTYPE', '__CF_USER_TEXT_ENCODING')]\n"
        "ROUTES.append(Route(name='cwd', path=os.getcwd()))\n"
    )
    status, out, err = export_app(capsys, app_source, "--registry", "environment:ROUTES")
    assert status == 0, err
    routes = {route["name"]: route["path"] for route in json.loads(out)["routes"]}
    # PWD: bwrap sets it to the folder it starts the exporter in (bubblewrap.c, "PWD").
    assert routes == {
        "PATH": "env.PATH",
        "PWD": "env.PWD",
        "PYTHONPATH": "env.PYTHONPATH",
        "cwd": str(app_source.resolve()),
    }


def test_the_exporter_runs_on_python_3_9(app_source):
    python = installed_pythons().get((3, 9))
    if python is None:
        pytest.skip("Python 3.9, the oldest the exporter supports, is not installed")
    result = subprocess.run(
        [str(python), "-B", str(Path(exporter.__file__)), "--registry", "faults.registries:prints"],
        cwd=app_source,
        env={"PATH": os.environ["PATH"], "PYTHONPATH": str(app_source)},
        capture_output=True,
        text=True,
        check=False,
    )
    assert (result.returncode, json.loads(result.stdout)["python"][:4]) == (0, "3.9.")


def export_in_a_process(app_source: Path, registry: str, *more: str) -> subprocess.CompletedProcess[str]:
    """``python -m tools export-registry`` of ``registry`` in this interpreter, as its own process."""
    command = [sys.executable, "-m", "tools", "export-registry", "--app-source", str(app_source)]
    command += ["--app-python", sys.executable, "--registry", registry, *more]
    return subprocess.run(command, cwd=PROJECT_DIR, capture_output=True, text=True, check=False)


def test_the_command_line_writes_the_snapshot_through_dev(tmp_path, app_source):
    output = tmp_path / "out.json"
    result = export_in_a_process(app_source, "faults.registries:prints", "--output", str(output))
    assert (result.returncode, result.stdout) == (0, "")
    assert "wrote 1 routes from faults.registries:prints" in result.stderr
    assert [r.name for r in load_snapshot(str(output))] == ["fine"]


def test_an_existing_output_is_replaced_whole(app_source, tmp_path, capsys):
    output = tmp_path / "gyrinx.json"
    output.write_text("old")
    output.chmod(0o640)
    arguments = (
        "--app-source",
        str(app_source),
        "--app-python",
        sys.executable,
        "--registry",
        "faults.registries:prints",
    )
    assert export(capsys, *arguments, "--output", str(output))[0] == 0
    assert [r.name for r in load_snapshot(str(output))] == ["fine"]
    assert (output.stat().st_mode & 0o777, sorted(p.name for p in tmp_path.iterdir())) == (
        0o640,
        ["app", "gyrinx.json"],
    )


# Failures: exit 2, one line naming what failed, then the tail of the app's stderr;
# nothing on stdout, and no file written.

Failure = tuple[str, list[str], str, str | None]
NO_DJANGO: list[Failure] = [
    (
        "registry raising",
        ["--registry", "faults.registries:raises"],
        "registry faults.registries:raises failed: RuntimeError: the edition is not configured",
        "loading the edition's routes",
    ),
    (
        "an entry that is not a route",
        ["--registry", "faults.registries:not_routes"],
        "registry faults.registries:not_routes: entry #2 ('send_email'): is not a route: it has no name or path",
        None,
    ),
    (
        "sys.exit while listing routes",
        ["--registry", "faults.registries:exits"],
        "registry faults.registries:exits failed: called sys.exit(4)",
        None,
    ),
    (
        "a route attribute that exits",
        ["--registry", "faults.registries:exiting_name"],
        "registry faults.registries:exiting_name: entry #1 (ExitingName()): reading its name failed: "
        "called sys.exit(5)",
        None,
    ),
    (
        "sys.exit while importing the registry",
        ["--registry", "faults.exits_on_import:ROUTES"],
        "registry module faults.exits_on_import cannot be imported: called sys.exit(3)",
        None,
    ),
    (
        "timeout",
        ["--registry", "faults.registries:sleeps", "--timeout", "2"],
        f"reading faults.registries:sleeps with {sys.executable} did not finish within 2 s, and was stopped "
        "(raise --timeout if the app is only slow to import)",
        "waiting for a database that never answers",
    ),
    (
        "no such registry attribute",
        ["--registry", "faults.registries:nothing"],
        "registry module faults.registries has no attribute 'nothing'",
        None,
    ),
    (
        "Django missing from the interpreter",
        ["--django-settings", "gyrinx.settings"],
        f"Django is not importable by {sys.executable}: ModuleNotFoundError: No module named 'django'",
        "ModuleNotFoundError: No module named 'django'",
    ),
]
WITH_DJANGO: list[Failure] = [
    (
        "settings module fails to import",
        ["--django-settings", "faults.settings_unimportable"],
        "settings module faults.settings_unimportable cannot be imported: "
        "ModuleNotFoundError: No module named 'gyrinx.no_such_module'",
        "ModuleNotFoundError: No module named 'gyrinx.no_such_module'",
    ),
    (
        "django.setup() fails",
        ["--django-settings", "faults.settings_bad_app"],
        "django.setup() with faults.settings_bad_app failed: ModuleNotFoundError: No module named 'no_such_app'",
        "apps.populate(settings.INSTALLED_APPS)",
    ),
    (
        "a registry that needs settings, without them",
        [],
        "registry gyrinx.tasks.registry:get_all_tasks failed: ImproperlyConfigured: Requested setting "
        "INSTALLED_APPS, but settings are not configured. You must either define the environment variable "
        "DJANGO_SETTINGS_MODULE or call settings.configure() before accessing settings. "
        "(does the registry need --django-settings?)",
        "django.core.exceptions.ImproperlyConfigured",
    ),
]


def assert_failed(
    export_: Callable[..., tuple[int, str, str]], output: Path, line: str, tail: str | None, *arguments: str
) -> None:
    """The export fails: exit 2, stdout empty, ``line`` first, ``tail`` in the stderr
    tail, and ``output`` (which held "old") untouched, with no temporary file left."""
    output.write_text("old")
    status, out, err = export_(*arguments, "--output", str(output))
    first, *rest = err.splitlines()
    assert (status, out, first) == (2, "", f"error: export-registry: {line}")
    if tail is not None:
        assert rest[0] == "  the app's stderr ended with:"
        assert any(tail in entry for entry in rest[1:]), err
        assert len(rest) <= STDERR_TAIL_LINES + 1
    assert output.read_text() == "old"
    assert sorted(p.name for p in output.parent.iterdir() if p.name.startswith(".")) == []


@pytest.mark.parametrize(("case", "arguments", "line", "tail"), NO_DJANGO, ids=[case[0] for case in NO_DJANGO])
def test_a_failure_without_django_exits_2_with_one_line_and_the_apps_stderr(
    app_source, tmp_path, capsys, case, arguments, line, tail
):
    def export_(*more: str) -> tuple[int, str, str]:
        return export_app(capsys, app_source, *more)

    assert_failed(export_, tmp_path / "gyrinx.json", line, tail, *arguments)


@pytest.mark.parametrize(("case", "arguments", "line", "tail"), WITH_DJANGO, ids=[case[0] for case in WITH_DJANGO])
def test_a_django_failure_exits_2_with_one_line_and_the_apps_stderr(
    django_python, app_source, tmp_path, capsys, case, arguments, line, tail
):
    def export_(*more: str) -> tuple[int, str, str]:
        return export_app(capsys, app_source, *more, python=django_python)

    assert_failed(export_, tmp_path / "gyrinx.json", line, tail, *arguments)


def test_an_output_in_a_missing_folder_writes_nothing(app_source, tmp_path, capsys):
    output = tmp_path / "absent" / "gyrinx.json"
    status, out, err = export(
        capsys,
        *("--app-source", str(app_source), "--app-python", sys.executable),
        *("--registry", "faults.registries:prints", "--output", str(output)),
    )
    assert (status, out) == (2, "")
    assert err.startswith(f"error: export-registry: cannot write {output}: {output.parent} is not a directory")
    assert not output.parent.exists()


def test_a_missing_interpreter_exits_2_with_one_line(app_source, tmp_path, capsys):
    missing = tmp_path / "venv" / "bin" / "python"
    status, out, err = export_app(capsys, app_source, python=missing)
    assert (status, out, err) == (2, "", f"error: export-registry: the app's interpreter {missing} does not exist\n")


def test_an_interpreter_not_on_path_exits_2_with_one_line(app_source, capsys):
    status, out, err = export_app(capsys, app_source, python="python2.1")
    assert (status, out, err) == (2, "", "error: export-registry: the app's interpreter python2.1 is not on PATH\n")


def test_an_interpreter_that_gives_no_result_exits_2(app_source, capsys):
    false = shutil.which("false")
    assert false is not None
    status, out, err = export_app(capsys, app_source, python=false)
    assert (status, out) == (2, "")
    assert err == (
        f"error: export-registry: {false} stopped without a result (exit status 1) while reading "
        "gyrinx.tasks.registry:get_all_tasks\n"
    )


def test_bad_arguments_are_reported_together(tmp_path, capsys):
    status, out, err = export(
        capsys,
        *("--app-source", str(tmp_path / "absent"), "--app-python", sys.executable),
        *("--registry", "gyrinx.tasks.registry", "--django-settings", "gyrinx/settings.py", "--timeout", "0"),
    )
    assert (status, out) == (2, "")
    assert err == (
        f"error: export-registry: --app-source {tmp_path / 'absent'} is not a directory; --registry "
        "'gyrinx.tasks.registry' is not module:attribute, like gyrinx.tasks.registry:get_all_tasks; "
        "--django-settings 'gyrinx/settings.py' is not a dotted module name, like gyrinx.settings; "
        "--timeout 0 must be more than 0 seconds\n"
    )


def test_a_failing_command_line_run_prints_nothing_on_stdout(app_source, tmp_path):
    result = export_in_a_process(app_source, "faults.registries:raises")
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr.startswith("error: export-registry: registry faults.registries:raises failed:")
    assert "Traceback (most recent call last)" not in result.stderr.splitlines()[0]


# Relative paths come from where the user typed the command (./dev passes it on).


def test_relative_paths_are_taken_from_the_callers_directory(app_source, tmp_path, capsys, monkeypatch):
    (tmp_path / "env").symlink_to(sys.prefix)
    monkeypatch.setenv(CALLER_DIR_ENV, str(tmp_path))
    status, out, err = export(
        capsys,
        *("--app-source", "app", "--app-python", f"env/bin/{Path(sys.executable).name}"),
        *("--registry", "faults.registries:prints", "--output", "gyrinx.json"),
    )
    assert (status, out) == (0, ""), err
    assert [route.name for route in load_snapshot(str(tmp_path / "gyrinx.json"))] == ["fine"]


def test_dev_runs_the_tools_with_the_callers_directory(app_source, tmp_path):
    """The real ./dev, run from another folder, with this test's virtualenv."""
    # ./dev rebuilds a virtualenv whose record (.built-from) does not match the lock and
    # interpreter; this one must match, or the test would rebuild it under the running suite.
    stamp = Path(sys.prefix) / ".built-from"
    lock = (PROJECT_DIR / "requirements.txt").read_text()
    built_with = stamp.read_text()[len(lock) :].split(" ")[0] if stamp.is_file() else ""
    identity = "import sys; print(sys.executable, sys.version)"
    if not os.access(built_with, os.X_OK) or stamp.read_text() != lock + subprocess.run(
        [built_with, "-c", identity], capture_output=True, text=True, check=True
    ).stdout.rstrip("\n"):
        pytest.skip(f"{sys.prefix} is not a virtualenv ./dev built from the current requirements.txt")
    env = {key: value for key, value in os.environ.items() if key != CALLER_DIR_ENV}
    env.update(PYTHON=built_with, VENV=sys.prefix)
    command = [str(PROJECT_DIR / "dev"), "export-registry", "--app-source", "app", "--app-python", sys.executable]
    command += ["--registry", "faults.registries:prints", "--output", "gyrinx.json"]
    result = subprocess.run(
        command,
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert (result.returncode, result.stdout) == (0, ""), result.stderr
    assert [route.name for route in load_snapshot(str(tmp_path / "gyrinx.json"))] == ["fine"]


# The sandbox: the app's code runs with every file read-only, no network, and its own PID
# namespace, which ends with the export. The snapshot is written after that.

HOSTILE_DELAY = 2.0
# An export takes about a second; one that waited for the app's leftover process would not end.
HOSTILE_TIMEOUT = 20
# What a hostile app's import-time code tries. Each attempt becomes one route, named after
# the attempt, whose path says how it went: "outcome.done" or "outcome.refused.<errno name>".
HOSTILE_APP = """
import ctypes, errno, os, socket, subprocess, sys
from faults.registries import Route

PROJECT, SNAPSHOT, TOKEN, PORT, DELAY = {project!r}, {snapshot!r}, {token!r}, {port!r}, {delay!r}


def remount_read_write():
    # mount(2) with MS_REMOUNT | MS_BIND and no MS_RDONLY: the mount holding the project
    # writable again, if allowed; write_hook comes next.
    with open("/proc/self/mountinfo") as info:
        points = [line.split()[4] for line in info]
    point = max((p for p in points if PROJECT == p or PROJECT.startswith(p.rstrip("/") + "/")), key=len)
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.mount(None, point.encode(), None, 32 | 4096, None) != 0:
        raise OSError(ctypes.get_errno(), "mount")


def write_hook():
    with open(os.path.join(PROJECT, ".git", "hooks", "pre-commit"), "w") as hook:
        hook.write("#!/bin/sh\\necho planted\\n")
    os.chmod(os.path.join(PROJECT, ".git", "hooks", "pre-commit"), 0o755)


def write_own_source():
    open("planted.py", "w").close()


def write_private_tmp():
    open("/tmp/" + TOKEN, "w").close()


def rewrite_core_pattern():
    # The same value back: harmless even where it is allowed.
    with open("/proc/sys/kernel/core_pattern") as current:
        value = current.read()
    with open("/proc/sys/kernel/core_pattern", "w") as pattern:
        pattern.write(value)


def connect_to_the_hosts_loopback():
    socket.create_connection(("127.0.0.1", PORT), timeout=2).close()


def leave_a_process_behind():
    # Edits the snapshot after DELAY, then stays: an export that waited for it would time out.
    editor = (
        "import time; time.sleep(DELAY)\\n"
        "try:\\n"
        "    with open(SNAPSHOT, 'a') as snapshot: snapshot.write('tampered')\\n"
        "except OSError:\\n"
        "    pass\\n"
        "time.sleep(600)\\n"
    ).replace("DELAY", repr(DELAY)).replace("SNAPSHOT", repr(SNAPSHOT))
    subprocess.Popen(
        [sys.executable, "-c", editor + "# " + TOKEN],
        start_new_session=True, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )


def outcome(attempt):
    try:
        attempt()
    except OSError as exc:
        return "outcome.refused." + errno.errorcode.get(exc.errno, str(exc.errno))
    return "outcome.done"


def capabilities():
    with open("/proc/self/status") as status:
        return next(line.split()[1] for line in status if line.startswith("CapEff:"))


ATTEMPTS = [remount_read_write, write_hook, write_own_source, write_private_tmp, rewrite_core_pattern,
            connect_to_the_hosts_loopback, leave_a_process_behind]
ROUTES = [Route(name=attempt.__name__, path=outcome(attempt)) for attempt in ATTEMPTS]
ROUTES.append(Route(name="capabilities", path="capabilities." + capabilities()))
"""


@dataclass(frozen=True)
class HostileExport:
    """A hostile app exported by a copy of this project into the copy's registry/gyrinx.json."""

    project: Path
    app_source: Path
    token: str
    listener: socket.socket
    result: subprocess.CompletedProcess[str]
    # Taken the moment the export returned.
    snapshot: bytes
    survivors: list[int]
    returned_at: float

    def outcome(self, attempt: str) -> str:
        """How the app's ``attempt`` went: the path of the route named after it."""
        paths = {route["name"]: route["path"] for route in json.loads(self.snapshot)["routes"]}
        return paths[attempt]


def processes_with(token: str) -> list[int]:
    """The host's processes whose command line holds ``token`` (any PID namespace)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if token.encode() in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue  # ended while being read
    return found


def project_copy(destination: Path) -> Path:
    """The parts of this project that export-registry runs from, and a .git/hooks folder:
    the hostile app's target, so the real checkout is never at risk."""
    ignore = shutil.ignore_patterns("__pycache__")
    for folder in ("infra", "tools", "registry"):
        shutil.copytree(PROJECT_DIR / folder, destination / folder, ignore=ignore)
    (destination / ".git" / "hooks").mkdir(parents=True)
    return destination


@pytest.fixture(scope="module")
def hostile(tmp_path_factory) -> Iterator[HostileExport]:
    """One export of the hostile app; everything the tests check is taken from it."""
    project = project_copy(tmp_path_factory.mktemp("project"))
    app_source = Path(shutil.copytree(APP_SOURCE, tmp_path_factory.mktemp("hostile") / "app"))
    snapshot = project / "registry" / "gyrinx.json"
    token = f"hostile-{uuid.uuid4().hex}"
    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.setblocking(False)
        (app_source / "hostile.py").write_text(
            HOSTILE_APP.format(
                project=str(project),
                snapshot=str(snapshot),
                token=token,
                port=listener.getsockname()[1],
                delay=HOSTILE_DELAY,
            )
        )
        env = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", CALLER_DIR_ENV)}
        command = [sys.executable, "-m", "tools", "export-registry", "--app-source", str(app_source)]
        command += ["--app-python", sys.executable, "--registry", "hostile:ROUTES", "--output", str(snapshot)]
        command += ["--timeout", str(HOSTILE_TIMEOUT)]
        try:
            result = subprocess.run(
                command, cwd=project, env=env, capture_output=True, text=True, check=False, timeout=2 * HOSTILE_TIMEOUT
            )
            returned_at = time.monotonic()
            survivors = processes_with(token)
            written = snapshot.read_bytes()
            assert result.returncode == 0, result.stderr
            yield HostileExport(project, app_source, token, listener, result, written, survivors, returned_at)
        finally:
            # Only when the sandbox failed: what the app left behind, on this machine.
            for pid in processes_with(token):
                os.kill(pid, signal.SIGKILL)
            (Path("/tmp") / token).unlink(missing_ok=True)


def test_the_export_of_a_hostile_app_runs_from_the_copy_of_the_project(hostile):
    assert f"to {hostile.project / 'registry' / 'gyrinx.json'}" in hostile.result.stderr


def test_the_apps_code_cannot_write_into_this_project(hostile):
    assert hostile.outcome("write_hook") == f"outcome.refused.{errno.errorcode[errno.EROFS]}"
    assert not (hostile.project / ".git" / "hooks" / "pre-commit").exists()


def test_the_apps_code_cannot_write_into_its_own_source(hostile):
    assert hostile.outcome("write_own_source") == f"outcome.refused.{errno.errorcode[errno.EROFS]}"
    assert not (hostile.app_source / "planted.py").exists()


def test_the_apps_code_cannot_make_the_files_writable_again(hostile):
    """bwrap keeps every capability when run as root unless told to drop them
    (containers/bubblewrap bubblewrap.c: "If our uid is 0, default to inheriting all caps")."""
    assert hostile.outcome("capabilities") == "capabilities.0000000000000000"
    assert hostile.outcome("remount_read_write").startswith("outcome.refused.")


def test_the_apps_code_cannot_change_the_kernels_settings(hostile):
    """bwrap covers /proc/sys only when its access() check finds it writable
    (containers/bubblewrap bubblewrap.c, SETUP_MOUNT_PROC); a process that is root outside
    the sandbox passes no such check, and could write /proc/sys/kernel/core_pattern."""
    assert hostile.outcome("rewrite_core_pattern").startswith("outcome.refused.")


def test_the_apps_tmp_is_its_own_and_ends_with_the_export(hostile):
    assert hostile.outcome("write_private_tmp") == "outcome.done"
    assert not (Path("/tmp") / hostile.token).exists()


def test_the_app_has_no_network_not_even_the_hosts_loopback(hostile):
    assert hostile.outcome("connect_to_the_hosts_loopback").startswith("outcome.refused.")
    with pytest.raises(BlockingIOError):
        hostile.listener.accept()  # nothing ever connected


def test_a_process_the_app_leaves_behind_ends_with_the_export(hostile):
    assert hostile.outcome("leave_a_process_behind") == "outcome.done"
    assert hostile.survivors == []


def test_the_snapshot_is_the_exporters_output_long_after_the_export(hostile):
    time.sleep(max(0.0, hostile.returned_at + HOSTILE_DELAY + 1.5 - time.monotonic()))
    snapshot = hostile.project / "registry" / "gyrinx.json"
    assert snapshot.read_bytes() == hostile.snapshot
    assert [route.name for route in load_snapshot(str(snapshot))][-1] == "capabilities"


def test_without_bwrap_the_export_refuses_to_run_the_app(app_source, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    output = tmp_path / "gyrinx.json"
    output.write_text("old")
    status, out, err = export_app(capsys, app_source, "--registry", "faults.registries:prints", "--output", str(output))
    assert (status, out, output.read_text()) == (2, "", "old")
    assert err == (
        f"error: export-registry: {SANDBOX} (bubblewrap) is not installed, and the app's code runs only in its "
        f"sandbox: {INSTALL_SANDBOX}\n"
    )


def test_an_interpreter_the_sandbox_cannot_start_is_reported_with_bwraps_reason(
    app_source, tmp_path, tmp_path_factory, capsys
):
    """A wrapper script whose own interpreter lives in a folder the sandbox keeps private
    (/tmp) and does not show: bwrap's execvp fails (bubblewrap.c, "execvp %s")."""
    elsewhere = tmp_path_factory.mktemp("elsewhere") / "sh"
    elsewhere.symlink_to(shutil.which("sh") or "/bin/sh")
    wrapper = tmp_path / "bin" / "python"
    wrapper.parent.mkdir()
    wrapper.write_text(f'#!{elsewhere}\nexec {sys.executable} "$@"\n')
    wrapper.chmod(0o755)
    status, out, err = export_app(capsys, app_source, python=wrapper)
    assert (status, out) == (2, "")
    assert err.splitlines()[0] == (
        f"error: export-registry: the sandbox did not start the app's interpreter: "
        f"{SANDBOX}: execvp {wrapper}: No such file or directory"
    )
