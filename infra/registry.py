"""Loading the task registry named by ``gyrinx-tasks:registry`` into plain records.

The registry is one of

- ``file:PATH``: a registry snapshot (JSON, written by ``./dev export-registry`` with
  the app's own interpreter), PATH relative to the project; or
- ``module:attribute``: imported here; the attribute is a callable returning routes, or
  a list of routes. Any object with the ``TaskRoute`` attributes is accepted.

Either way each route becomes a frozen :class:`RawRoute`, and the same validation
(:mod:`infra.validation`) turns them into typed :class:`Task` records.
There is never a fallback from one source to the other.
"""

from __future__ import annotations

import importlib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import MISSING, dataclass, fields
from pathlib import Path
from typing import Any

from infra.errors import InvalidInput

_REFERENCE = re.compile(r"[A-Za-z_][\w.]*:[A-Za-z_]\w*")
FILE_PREFIX = "file:"
PROJECT_DIR = Path(__file__).resolve().parent.parent
# The snapshot format this program reads (tools/exporter.py writes it).
SNAPSHOT_FORMAT = 1
SNAPSHOT_KEYS = frozenset({"format", "app", "routes"})
SNAPSHOT_APP_KEYS = frozenset({"commit", "settingsModule", "registry"})


@dataclass(frozen=True)
class RawRoute:
    """One route from the registry as the registry gave it: nothing checked, so any
    value may be of any type. :func:`infra.validation.check_routes` turns the routes
    into typed :class:`Task` records, or reports every problem."""

    name: str
    path: str
    ack_deadline: Any = 300
    min_retry_delay: Any = 10
    max_retry_delay: Any = 600
    schedule: Any = None
    schedule_timezone: Any = "UTC"
    # None: the route does not say, and the default follows from its backoff.
    max_delivery_attempts: Any = None
    kill_switch: Any = None


@dataclass(frozen=True)
class Schedule:
    """A checked cron schedule and the tz database zone it is read in."""

    cron: str
    time_zone: str


@dataclass(frozen=True)
class Task:
    """One checked route: every value has its type and is within Google's limits."""

    name: str
    path: str
    ack_deadline: int
    min_retry_delay: int
    max_retry_delay: int
    max_delivery_attempts: int
    schedule: Schedule | None = None
    kill_switch: str | None = None

    @property
    def is_scheduled(self) -> bool:
        """True when the task has a cron schedule."""
        return self.schedule is not None


# Attributes with a default apply to registries (like the app's own TaskRoute) that
# predate them; name and path every route must have.
_OPTIONAL_DEFAULTS = {f.name: f.default for f in fields(RawRoute) if f.default is not MISSING}


def _describe(route: Any, index: int) -> str:
    name = getattr(route, "name", None)
    return f"task {name}" if isinstance(name, str) else f"registry entry #{index + 1} ({route!r})"


def _to_task(route: Any, index: int, problems: list[str]) -> RawRoute | None:
    try:
        name, path = route.name, route.path
    except Exception as exc:  # noqa: BLE001 - any failure is reported, with its reason
        problems.append(f"{_describe(route, index)}: has no usable name/path ({type(exc).__name__}: {exc})")
        return None
    if not isinstance(name, str) or not isinstance(path, str):
        problems.append(f"{_describe(route, index)}: name and path must be strings")
        return None
    values = {key: getattr(route, key, default) for key, default in _OPTIONAL_DEFAULTS.items()}
    return RawRoute(name=name, path=path, **values)


def _to_tasks(routes: Iterable[Any], problems: list[str]) -> list[RawRoute]:
    return [task for index, route in enumerate(routes) if (task := _to_task(route, index, problems))]


# Route fields a snapshot holds: name and path always, the rest as the app has them.
ROUTE_KEYS = frozenset(f.name for f in fields(RawRoute))
REQUIRED_ROUTE_KEYS = frozenset({"name", "path"})


def _snapshot_problems(document: Any, where: str) -> Iterable[str]:
    if not isinstance(document, Mapping):
        yield f"{where}: a registry snapshot is a JSON object"
        return
    unknown = sorted(set(document) - SNAPSHOT_KEYS)
    if unknown:
        yield f"{where}: unknown field(s) {', '.join(unknown)} (a snapshot has {', '.join(sorted(SNAPSHOT_KEYS))})"
    if document.get("format") != SNAPSHOT_FORMAT:
        yield (
            f"{where}: snapshot format {document.get('format')!r} is not {SNAPSHOT_FORMAT}, the one this program "
            "reads; export it again with ./dev export-registry"
        )
    app = document.get("app", {})
    if not isinstance(app, Mapping) or set(app) - SNAPSHOT_APP_KEYS:
        yield f"{where}: app must be an object with only {', '.join(sorted(SNAPSHOT_APP_KEYS))}"
    routes = document.get("routes")
    if not isinstance(routes, list):
        yield f"{where}: routes must be a list"
        return
    for index, route in enumerate(routes):
        label = f"{where}: route #{index + 1}"
        if not isinstance(route, Mapping):
            yield f"{label} is not an object"
            continue
        name = route.get("name")
        if isinstance(name, str):
            label = f"{label} ({name})"
        missing = sorted(REQUIRED_ROUTE_KEYS - set(route))
        unknown = sorted(set(route) - ROUTE_KEYS)
        if missing:
            yield f"{label} lacks {', '.join(missing)}"
        if unknown:
            yield f"{label} has unknown field(s) {', '.join(unknown)} (known: {', '.join(sorted(ROUTE_KEYS))})"


def load_snapshot(path_text: str, project_dir: Path = PROJECT_DIR) -> list[RawRoute]:
    """The tasks of the registry snapshot at ``path_text`` (relative to the project).

    Raises :class:`InvalidInput` naming every problem with the file.
    """
    where = f"config gyrinx-tasks:registry 'file:{path_text}'"
    path = project_dir / path_text
    try:
        document = json.loads(path.read_text())
    except OSError as exc:
        raise InvalidInput([f"{where}: cannot read {path_text}: {exc.strerror}"]) from None
    except ValueError as exc:
        raise InvalidInput([f"{where}: {path_text} is not JSON: {exc}"]) from None
    problems = list(_snapshot_problems(document, where))
    tasks = [] if problems else _to_tasks((_SnapshotRoute(route) for route in document["routes"]), problems)
    if problems:
        raise InvalidInput(problems)
    return tasks


class _SnapshotRoute:
    """A snapshot's route read through the same attribute access as an app's route, so
    both sources take one path (and one validation) from here on."""

    def __init__(self, fields_: Mapping[str, Any]):
        self.__dict__.update(fields_)


def load_tasks(reference: str, django_settings: str | None = None) -> list[RawRoute]:
    """Load the registry ``file:PATH`` or ``module:attribute`` and return its tasks in order.

    Raises :class:`InvalidInput` saying why the registry could not be loaded (no
    traceback), or listing every entry that is not a route.
    """
    where = f"config gyrinx-tasks:registry {reference!r}"
    if reference.startswith(FILE_PREFIX):
        return load_snapshot(reference[len(FILE_PREFIX) :])
    # TODO(export-registry): with django_settings, set DJANGO_SETTINGS_MODULE and run
    # django.setup() before importing the registry.
    del django_settings
    if not _REFERENCE.fullmatch(reference):
        raise InvalidInput(
            [
                f"{where}: must be file:PATH (a registry snapshot) or module:attribute, like example_app.tasks.registry:get_all_tasks"
            ]
        )
    module_name, _, attribute = reference.partition(":")
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # noqa: BLE001 - an app's import can fail in any way
        raise InvalidInput([f"{where}: cannot import {module_name}: {type(exc).__name__}: {exc}"]) from None
    try:
        target = getattr(module, attribute)
    except AttributeError:
        raise InvalidInput([f"{where}: module {module_name} has no attribute {attribute!r}"]) from None
    try:
        routes = target() if callable(target) else target
        routes = list(routes)
    except Exception as exc:  # noqa: BLE001
        raise InvalidInput([f"{where}: loading the routes failed: {type(exc).__name__}: {exc}"]) from None

    problems: list[str] = []
    tasks = _to_tasks(routes, problems)
    if problems:
        raise InvalidInput(problems)
    return tasks
