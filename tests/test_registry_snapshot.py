"""Reading a registry snapshot (``gyrinx-tasks:registry: file:PATH``): what the program
accepts, what it refuses, and that a snapshot's routes are validated exactly as routes
read in-process are."""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

import pytest

from infra.errors import InvalidInput
from infra.registry import (
    PROJECT_DIR,
    REQUIRED_SNAPSHOT_APP_KEYS,
    ROUTE_KEYS,
    SNAPSHOT_FORMAT,
    SNAPSHOT_KEYS,
    RawRoute,
    load_snapshot,
    load_tasks,
)
from infra.validation import check_routes

COMMITTED = "registry/gyrinx.json"
APP = {"commit": "5cf97c15", "settingsModule": "gyrinx.settings", "registry": "gyrinx.tasks.registry:get_all_tasks"}
SEND_EMAIL = {"name": "send_email", "path": "app.tasks.send_email"}


def snapshot(**changes: Any) -> dict[str, Any]:
    """A valid snapshot of one route, with top-level ``changes`` (None removes a key)."""
    document: dict[str, Any] = {"format": SNAPSHOT_FORMAT, "app": dict(APP), "routes": [dict(SEND_EMAIL)]}
    for key, value in changes.items():
        if value is None:
            document.pop(key)
        else:
            document[key] = value
    return document


@pytest.fixture
def write(tmp_path):
    """``write(document)`` saves it as JSON (or as given, for text) and returns its absolute path."""

    def _write(document: Any) -> str:
        path = tmp_path / "snapshot.json"
        path.write_text(document if isinstance(document, str) else json.dumps(document))
        return str(path)

    return _write


def problems_of(path: str) -> list[str]:
    """The problems ``load_snapshot`` reports for the file at ``path``."""
    with pytest.raises(InvalidInput) as caught:
        load_snapshot(path)
    return caught.value.problems


def test_the_committed_snapshot_loads_and_validates():
    routes = load_snapshot(COMMITTED)
    document = json.loads((PROJECT_DIR / COMMITTED).read_text())
    assert [r.name for r in routes] == [entry["name"] for entry in document["routes"]]
    assert check_routes(routes, "dev")[1] == []


def test_the_committed_snapshot_has_one_route_per_line():
    lines = (PROJECT_DIR / COMMITTED).read_text().splitlines()
    document = json.loads((PROJECT_DIR / COMMITTED).read_text())
    route_lines = [json.loads(line.strip().rstrip(",")) for line in lines if line.strip().startswith('{"name"')]
    assert route_lines == document["routes"]


def test_a_path_is_relative_to_the_project(tmp_path):
    (tmp_path / "registry").mkdir()
    (tmp_path / "registry" / "app.json").write_text(json.dumps(snapshot()))
    assert load_snapshot("registry/app.json", project_dir=tmp_path) == [RawRoute(**SEND_EMAIL)]


def test_an_absolute_path_is_read_as_it_is(write):
    assert load_snapshot(write(snapshot())) == [RawRoute(**SEND_EMAIL)]


def test_a_route_without_optional_fields_takes_the_same_defaults_as_in_process(routes, write):
    routes.append(SimpleNamespace(**SEND_EMAIL))
    assert load_snapshot(write(snapshot())) == load_tasks("tests.fake_registry:ROUTES")


def test_an_exported_with_record_is_accepted(write):
    app = {**APP, "exportedWith": {"python": "3.14.6", "django": "6.0.7"}}
    assert load_snapshot(write(snapshot(app=app)))


@pytest.mark.parametrize("version", [2, 0, "1", 1.0, True])
def test_another_format_version_is_refused(write, version):
    assert problems_of(write(snapshot(format=version))) == [
        f"config gyrinx-tasks:registry 'file:{write(snapshot(format=version))}': snapshot format {version!r} is "
        f"not {SNAPSHOT_FORMAT}, the one this program reads; export it again with ./dev export-registry"
    ]


def test_a_snapshot_without_a_format_is_refused(write):
    (problem,) = problems_of(write(snapshot(format=None)))
    assert problem.endswith(f"lacks format (this program reads format {SNAPSHOT_FORMAT})")


def test_an_unknown_top_level_field_is_refused(write):
    (problem,) = problems_of(write(snapshot(generated="today")))
    assert problem.endswith(f"unknown field(s) generated (a snapshot has {', '.join(sorted(SNAPSHOT_KEYS))})")


def test_an_unknown_app_field_is_refused(write):
    (problem,) = problems_of(write(snapshot(app={**APP, "branch": "main"})))
    assert "app has unknown field(s) branch" in problem


@pytest.mark.parametrize("missing", sorted(REQUIRED_SNAPSHOT_APP_KEYS))
def test_an_app_without_each_of_its_fields_is_refused(write, missing):
    app = {key: value for key, value in APP.items() if key != missing}
    assert problems_of(write(snapshot(app=app)))[-1].endswith(f"app lacks {missing}")


def test_a_snapshot_without_its_app_is_refused(write):
    (problem,) = problems_of(write(snapshot(app=None)))
    assert problem.endswith("lacks app (where the routes came from)")


@pytest.mark.parametrize(
    ("app", "expected"),
    [
        ({**APP, "commit": 5}, "app.commit must be a string or null"),
        ({**APP, "registry": None}, "app.registry must be a string"),
        ({**APP, "exportedWith": {"pip": "25"}}, "app.exportedWith must be an object with only django, python"),
        ({**APP, "exportedWith": {"python": 3.14}}, "app.exportedWith values must be strings or null"),
        ("gyrinx", "app must be an object"),
    ],
)
def test_app_values_of_the_wrong_type_are_refused(write, app, expected):
    assert expected in problems_of(write(snapshot(app=app)))[0]


def test_an_unknown_route_field_is_refused(write):
    (problem,) = problems_of(write(snapshot(routes=[{**SEND_EMAIL, "max_attempts": 5}])))
    assert problem.endswith(
        f"route #1 (send_email) has unknown field(s) max_attempts (known: {', '.join(sorted(ROUTE_KEYS))})"
    )


@pytest.mark.parametrize("missing", ["name", "path"])
def test_a_route_without_name_or_path_is_refused(write, missing):
    entry = {key: value for key, value in SEND_EMAIL.items() if key != missing}
    (problem,) = problems_of(write(snapshot(routes=[entry])))
    assert problem.endswith(f"lacks {missing}")


def test_a_route_name_that_is_not_a_string_is_refused(write):
    (problem,) = problems_of(write(snapshot(routes=[{"name": 7, "path": "app.tasks.seven"}])))
    assert problem.endswith("name and path must be strings")


def test_every_bad_route_is_reported_at_once(write):
    routes = [{"name": "a"}, "b", {**SEND_EMAIL, "colour": "red"}]
    assert [problem.split(": ", 1)[1] for problem in problems_of(write(snapshot(routes=routes)))] == [
        "route #1 (a) lacks path",
        "route #2 is not an object",
        f"route #3 (send_email) has unknown field(s) colour (known: {', '.join(sorted(ROUTE_KEYS))})",
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[]", "a registry snapshot is a JSON object"),
        ('{"format": 1, "app": {}, "routes": {}}', "routes must be a list"),
        ("{", "not JSON"),
        ('{"format": 1, "format": 1}', "names the key 'format' twice in one object"),
    ],
)
def test_a_malformed_document_is_refused(write, text, expected):
    assert expected in problems_of(write(text))[-1]


def test_a_repeated_route_key_is_refused_not_overwritten(write):
    text = '{"format": 1, "app": %s, "routes": [{"name": "a", "path": "x.a", "ack_deadline": 60, "ack_deadline": 600}]}'
    (problem,) = problems_of(write(text % json.dumps(APP)))
    assert problem.endswith("names the key 'ack_deadline' twice in one object")


def test_a_missing_file_is_refused(tmp_path):
    (problem,) = problems_of(str(tmp_path / "absent.json"))
    assert problem.endswith("No such file or directory")


@pytest.mark.parametrize(
    "options",
    [
        {"ack_deadline": 5},
        {"min_retry_delay": 700, "max_retry_delay": 600},
        {"schedule": "every day"},
        {"schedule": "0 3 * * *", "schedule_timezone": "Mars/Base"},
        {"max_delivery_attempts": 2},
        {"kill_switch": "lower-case"},
        {"ack_deadline": "600"},
    ],
)
def test_a_snapshot_route_is_validated_exactly_as_an_in_process_one(run, routes, write, options):
    routes.append(SimpleNamespace(**SEND_EMAIL, **options))
    with pytest.raises(InvalidInput) as in_process:
        run()
    path = write(snapshot(routes=[{**SEND_EMAIL, **options}]))
    with pytest.raises(InvalidInput) as from_snapshot:
        run(registry=f"file:{path}")
    assert from_snapshot.value.problems == in_process.value.problems


def test_a_snapshot_plans_the_same_resources_as_the_same_routes_in_process(run, routes, write):
    options = {"ack_deadline": 120, "schedule": "0 9 * * 1", "schedule_timezone": "Europe/London"}
    routes.append(SimpleNamespace(**SEND_EMAIL, **options))
    in_process = run().resources()
    from_snapshot = run(registry=f"file:{write(snapshot(routes=[{**SEND_EMAIL, **options}]))}").resources()
    assert from_snapshot == in_process


def test_load_tasks_reads_a_snapshot_with_no_module_import(write):
    # A snapshot's path segment looks nothing like a module: no fallback to importing.
    assert load_tasks(f"file:{write(snapshot())}") == [RawRoute(**SEND_EMAIL)]


def test_a_missing_snapshot_is_never_replaced_by_another_source(run, tmp_path):
    with pytest.raises(InvalidInput) as caught:
        run(registry=f"file:{tmp_path / 'absent.json'}")
    assert len(caught.value.problems) == 1
    assert "cannot read" in caught.value.problems[0]
