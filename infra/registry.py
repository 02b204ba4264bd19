"""Loading the task registry named by ``gyrinx-tasks:registry`` into plain records.

The registry is one of

- ``file:PATH``: a registry snapshot (JSON, written by ``./dev export-registry`` with
  the app's own interpreter), PATH relative to the project or absolute; or
- ``module:attribute``: imported here; the attribute is a callable returning routes, or
  a list of routes. Any object with the ``TaskRoute`` attributes is accepted. With
  ``gyrinx-tasks:djangoSettingsModule`` set, Django is set up with that settings module
  first (only for an app that can share this virtualenv).

Either way each route becomes a frozen :class:`RawRoute` through the same attribute
reading (:func:`_to_tasks`), and the same validation (:mod:`infra.validation`) turns
them into typed :class:`Task` records. There is never a fallback from one source to the
other: a registry that cannot be read is reported, one line per problem.
"""

from __future__ import annotations

import importlib
import os
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import MISSING, dataclass, fields
from pathlib import Path
from typing import Any, TypeVar

from infra import inputs
from infra.errors import InputFileError, InvalidInput

# A dotted module name (a settings module), and a module:attribute registry reference.
MODULE_NAME = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*")
REFERENCE = re.compile(r"[A-Za-z_][\w.]*:[A-Za-z_]\w*")
FILE_PREFIX = "file:"
PROJECT_DIR = Path(__file__).resolve().parent.parent
SETTINGS_KEY = "config gyrinx-tasks:djangoSettingsModule"
# The snapshot format this program reads (tools/exporter.py writes it). A new version
# means a change an older reader would misread; this reader refuses any other.
SNAPSHOT_FORMAT = 1
SNAPSHOT_KEYS = frozenset({"format", "app", "routes"})
# Where the routes came from: the app's commit (None outside a git checkout), the settings
# module set up (None: none), the registry reference read; optionally whether the checkout
# had uncommitted changes (dirty: the routes may not be the commit's), and the interpreter
# and Django versions that read it.
SNAPSHOT_APP_KEYS = frozenset({"commit", "dirty", "settingsModule", "registry", "exportedWith"})
REQUIRED_SNAPSHOT_APP_KEYS = frozenset({"commit", "settingsModule", "registry"})
EXPORTED_WITH_KEYS = frozenset({"python", "django"})
_T = TypeVar("_T")


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
# Route fields a snapshot holds: name and path always, the rest as the app has them.
ROUTE_KEYS = frozenset(f.name for f in fields(RawRoute))
REQUIRED_ROUTE_KEYS = frozenset({"name", "path"})
_ABSENT = object()


def failure(exc: BaseException) -> str:
    """How an app's code failed, on one line: ``ValueError: bad`` or ``called sys.exit(3)``."""
    if isinstance(exc, SystemExit):
        return f"called sys.exit({exc.code!r})"
    try:
        text = " ".join(str(exc).split())
    except Exception:  # noqa: BLE001 - an exception whose message cannot be shown is still reported
        text = "(its message cannot be shown)"
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _guarded(action: Callable[[], _T], problem: str) -> _T:
    """``action()``, or :class:`InvalidInput` with ``problem: <how it failed>``.

    An app's import, setup or registry may fail in any way, including ``sys.exit()``
    (SystemExit) or a library's own BaseException; all are the app's failure, reported
    as one line. Only Ctrl-C (KeyboardInterrupt) still stops the run.
    """
    try:
        return action()
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # noqa: BLE001 - see the docstring
        raise InvalidInput([f"{problem}: {failure(exc)}"]) from None


def _safe_repr(value: Any) -> str:
    try:
        return repr(value)
    except KeyboardInterrupt:
        raise
    except BaseException:  # noqa: BLE001 - a repr that fails still leaves the entry's type to name
        return f"<{type(value).__name__} object>"


def _describe(route: Any, index: int) -> str:
    try:
        name = getattr(route, "name", None)
    except KeyboardInterrupt:
        raise
    except BaseException:  # noqa: BLE001 - reported where the name is read
        name = None
    return f"task {name}" if isinstance(name, str) else f"registry entry #{index + 1} ({_safe_repr(route)})"


def _to_task(route: Any, index: int, problems: list[str]) -> RawRoute | None:
    label = _describe(route, index)
    values: dict[str, Any] = {}
    failed = False
    for key, default in (("name", _ABSENT), ("path", _ABSENT), *_OPTIONAL_DEFAULTS.items()):
        # A missing attribute (AttributeError) takes the default; anything else a
        # property raises is the route's problem, named with the attribute.
        try:
            values[key] = getattr(route, key, default)
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # noqa: BLE001 - an app's property may fail in any way
            problems.append(f"{label}: reading its {key} failed: {failure(exc)}")
            failed = True
    if failed:
        return None
    missing = [key for key in REQUIRED_ROUTE_KEYS if values[key] is _ABSENT]
    if missing:
        problems.append(f"{label}: is not a route: it has no {' or '.join(sorted(missing))}")
        return None
    if not isinstance(values["name"], str) or not isinstance(values["path"], str):
        problems.append(f"{label}: name and path must be strings")
        return None
    return RawRoute(**values)


def _to_tasks(routes: Iterable[Any], problems: list[str]) -> list[RawRoute]:
    return [task for index, route in enumerate(routes) if (task := _to_task(route, index, problems))]


def _is_format(value: Any) -> bool:
    # JSON true is Python's True, which equals 1: only the integer itself is the format.
    return type(value) is int and value == SNAPSHOT_FORMAT


def _app_problems(app: Any, where: str) -> Iterable[str]:
    if not isinstance(app, Mapping):
        yield f"{where}: app must be an object ({', '.join(sorted(REQUIRED_SNAPSHOT_APP_KEYS))})"
        return
    unknown = sorted(set(app) - SNAPSHOT_APP_KEYS)
    missing = sorted(REQUIRED_SNAPSHOT_APP_KEYS - set(app))
    if unknown:
        yield f"{where}: app has unknown field(s) {', '.join(unknown)} (known: {', '.join(sorted(SNAPSHOT_APP_KEYS))})"
    if missing:
        yield f"{where}: app lacks {', '.join(missing)}"
    if not isinstance(app.get("registry", ""), str):
        yield f"{where}: app.registry must be a string"
    for key in ("commit", "settingsModule"):
        if not isinstance(app.get(key), str | None):
            yield f"{where}: app.{key} must be a string or null"
    if "dirty" in app and (not isinstance(app["dirty"], bool) or app.get("commit") is None):
        yield f"{where}: app.dirty must be true or false, and only with a commit"
    exported = app.get("exportedWith", {})
    if not isinstance(exported, Mapping) or set(exported) - EXPORTED_WITH_KEYS:
        yield f"{where}: app.exportedWith must be an object with only {', '.join(sorted(EXPORTED_WITH_KEYS))}"
    elif not all(isinstance(value, str | None) for value in exported.values()):
        yield f"{where}: app.exportedWith values must be strings or null"


def _snapshot_problems(document: Any, where: str) -> Iterable[str]:
    if not isinstance(document, Mapping):
        yield f"{where}: a registry snapshot is a JSON object"
        return
    unknown = sorted(set(document) - SNAPSHOT_KEYS)
    if unknown:
        yield f"{where}: unknown field(s) {', '.join(unknown)} (a snapshot has {', '.join(sorted(SNAPSHOT_KEYS))})"
    if "format" not in document:
        yield f"{where}: lacks format (this program reads format {SNAPSHOT_FORMAT})"
    elif not _is_format(document["format"]):
        yield (
            f"{where}: snapshot format {document['format']!r} is not {SNAPSHOT_FORMAT}, the one this program "
            "reads; export it again with ./dev export-registry"
        )
    if "app" not in document:
        yield f"{where}: lacks app (where the routes came from)"
    else:
        yield from _app_problems(document["app"], where)
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
    """The tasks of the registry snapshot at ``path_text`` (relative to the project, or absolute).

    Raises :class:`InvalidInput` naming every problem with the file: unreadable, not
    JSON, a repeated key, another format version, a missing or unknown field.
    """
    where = f"config gyrinx-tasks:registry 'file:{path_text}'"
    path = project_dir / path_text  # an absolute path_text replaces project_dir
    # The one bounded reader: a regular file (never /dev/zero or /dev/stdin), at most
    # inputs.MAX_INPUT_BYTES, UTF-8, nesting and repeated keys checked.
    try:
        document = inputs.read_json(path, f"{where}: {path_text}")
    except InputFileError as exc:
        raise InvalidInput([str(exc)]) from None
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


def setup_django(settings_module: str) -> None:
    """Set ``DJANGO_SETTINGS_MODULE`` to ``settings_module`` and run ``django.setup()``.

    The config names the settings module, so it wins over any value in the environment.
    The settings module is imported first so that its failure is told apart from
    setup's (which imports every installed app). Raises :class:`InvalidInput`, one
    line, when Django is missing, the settings cannot be imported or setup fails.
    """
    where = f"{SETTINGS_KEY} {settings_module!r}"
    if not MODULE_NAME.fullmatch(settings_module):
        raise InvalidInput([f"{where}: is not a dotted module name, like gyrinx.settings"])
    try:
        django = importlib.import_module("django")
    except ImportError:
        raise InvalidInput(
            [
                f"{where}: Django is not importable in this virtualenv; an app that cannot share it is read "
                "from a snapshot (./dev export-registry, then gyrinx-tasks:registry file:PATH)"
            ]
        ) from None
    os.environ["DJANGO_SETTINGS_MODULE"] = settings_module
    _guarded(lambda: importlib.import_module(settings_module), f"{where}: cannot import the settings module")
    # https://docs.djangoproject.com/en/6.0/topics/settings/#calling-django-setup-is-required-for-standalone-django-usage
    _guarded(django.setup, f"{where}: django.setup() failed")


def load_tasks(reference: str, django_settings: str | None = None) -> list[RawRoute]:
    """Load the registry ``file:PATH`` or ``module:attribute`` and return its tasks in order.

    With ``django_settings`` (a ``module:attribute`` registry only), Django is set up
    first. Raises :class:`InvalidInput` saying why the registry could not be loaded (no
    traceback, whatever the app's code raised, ``sys.exit()`` included), or listing every
    entry that is not a route.
    """
    where = f"config gyrinx-tasks:registry {reference!r}"
    if reference.startswith(FILE_PREFIX):
        if django_settings:
            raise InvalidInput(
                [
                    f"{SETTINGS_KEY} {django_settings!r}: applies to a module:attribute registry only; a snapshot "
                    "records the settings it was exported with (unset the key, or pass the module to "
                    "./dev export-registry --django-settings)"
                ]
            )
        return load_snapshot(reference[len(FILE_PREFIX) :])
    if not REFERENCE.fullmatch(reference):
        raise InvalidInput(
            [
                f"{where}: must be file:PATH (a registry snapshot) or module:attribute, like example_app.tasks.registry:get_all_tasks"
            ]
        )
    if django_settings:
        setup_django(django_settings)
    module_name, _, attribute = reference.partition(":")
    module = _guarded(lambda: importlib.import_module(module_name), f"{where}: cannot import {module_name}")
    if not _guarded(lambda: hasattr(module, attribute), f"{where}: reading {attribute} failed"):
        raise InvalidInput([f"{where}: module {module_name} has no attribute {attribute!r}"])
    target = _guarded(lambda: getattr(module, attribute), f"{where}: reading {attribute} failed")
    routes = _guarded(lambda: list(target() if callable(target) else target), f"{where}: loading the routes failed")

    problems: list[str] = []
    tasks = _to_tasks(routes, problems)
    if problems:
        raise InvalidInput(problems)
    return tasks
