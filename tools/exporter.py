"""Read a Django app's task registry and print its routes as JSON, inside the app's interpreter.

``./dev export-registry`` runs this file with the APP's own Python (the program can
never import the app: the app pins protobuf 7, which the Pulumi SDK cannot share) as::

    APP_PYTHON -B exporter.py --registry module:attribute [--django-settings MODULE]

with the app source as the working directory and PYTHONPATH, inside a bubblewrap
sandbox (every file read-only, no network, a PID namespace that ends with this
process: :func:`tools.export_registry.sandbox_command`). So that any app
interpreter can run it, it uses only the standard library and Django (the app's own),
and runs on Python 3.9 or later: no ``match``, no ``X | Y`` outside annotations (which
``from __future__ import annotations`` keeps as strings), no 3.10+ library calls.

Its standard output carries exactly one JSON document, nothing else: whatever the app
prints while it is imported goes to standard error. Either::

    {"routes": [{"name": ..., "path": ..., ...}, ...], "python": "3.14.0", "django": "6.0"}

and exit status 0, or::

    {"error": {"kind": KIND, "message": ONE_LINE}}

and exit status 3, with the traceback (if any) on standard error. KIND is one of
``python``, ``django``, ``settings``, ``setup``, ``import``, ``attribute``, ``registry``
and ``route`` (see :data:`KINDS`).
"""

from __future__ import annotations

import argparse
import importlib
import json
import math
import os
import platform
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

EXIT_OK = 0
EXIT_FAILED = 3
MINIMUM_PYTHON = (3, 9)
# Each failure the exporter tells apart, and what it means.
KINDS = {
    "python": "the interpreter is older than the exporter supports",
    "django": "Django is not importable by the interpreter",
    "settings": "the settings module cannot be imported",
    "setup": "django.setup() failed",
    "import": "the registry module cannot be imported",
    "attribute": "the registry module lacks the attribute",
    "registry": "calling the registry, or listing its routes, failed",
    "route": "an entry is not a route, or a route's attribute cannot be read or written",
}
# A route's fields in snapshot order (infra.registry.RawRoute's, which a test keeps equal).
# name and path every route has; the others are written when the route has them, so an
# app's TaskRoute that predates one (the real app's has no max_delivery_attempts or
# kill_switch) gets the program's default for it, as when it is read in-process.
REQUIRED_FIELDS = ("name", "path")
OPTIONAL_FIELDS = (
    "ack_deadline",
    "min_retry_delay",
    "max_retry_delay",
    "schedule",
    "schedule_timezone",
    "max_delivery_attempts",
    "kill_switch",
)
_ABSENT = object()


class ExportFailed(Exception):
    """One failure of the export: its kind (a key of :data:`KINDS`) and a one-line message."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


def describe(exc: BaseException) -> str:
    """How the app's code failed, on one line: ``ValueError: bad`` or ``called sys.exit(3)``.

    The same words as ``infra.registry.failure``, written again on purpose: this script
    runs in the app's interpreter, which cannot import this project (nor Pulumi)."""
    if isinstance(exc, SystemExit):
        return f"called sys.exit({exc.code!r})"
    try:
        text = " ".join(str(exc).split())
    except Exception:  # noqa: BLE001 - an exception whose message cannot be shown is still reported
        text = "(its message cannot be shown)"
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def guarded(kind: str, what: str, action: Callable[[], Any]) -> Any:
    """``action()``; any failure of the app's code (``sys.exit()`` included, Ctrl-C
    excluded) becomes :class:`ExportFailed` of ``kind``, its traceback on stderr."""
    try:
        return action()
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # noqa: BLE001 - an app's code may fail, or exit, in any way
        traceback.print_exc()
        raise ExportFailed(kind, f"{what}: {describe(exc)}") from None


def _safe_repr(value: Any) -> str:
    try:
        text = repr(value)
    except KeyboardInterrupt:
        raise
    except BaseException:  # noqa: BLE001 - a repr that fails still leaves the entry's type to name
        text = f"<{type(value).__name__} object>"
    return text if len(text) <= 120 else text[:117] + "..."


def _json_problem(value: Any) -> str | None:
    # A snapshot holds JSON scalars; anything else (a timedelta, a lazy string) is refused
    # here rather than turned into a string the program might then accept.
    if value is None or isinstance(value, (bool, int, str)):
        return None
    if isinstance(value, float):
        return None if math.isfinite(value) else f"is {value!r}, which JSON cannot hold"
    return f"is a {type(value).__name__} ({_safe_repr(value)}), not a string, number, boolean or None"


def read_route(route: Any, index: int, problems: list[str]) -> dict[str, Any] | None:
    """The snapshot fields of one registry entry, or None after adding its problems.

    Reads attributes the way ``infra.registry`` reads a route in-process: a missing
    attribute (AttributeError) is absent; any other failure names the task and attribute.
    """
    try:
        name = getattr(route, "name", None)
    except KeyboardInterrupt:
        raise
    except BaseException:  # noqa: BLE001 - reported below, where name is read again
        name = None
    label = f"task {name}" if isinstance(name, str) else f"entry #{index + 1} ({_safe_repr(route)})"
    fields: dict[str, Any] = {}
    failed = False
    for key in REQUIRED_FIELDS + OPTIONAL_FIELDS:
        try:
            value = getattr(route, key, _ABSENT)
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # noqa: BLE001 - an app's property may fail in any way
            problems.append(f"{label}: reading its {key} failed: {describe(exc)}")
            failed = True
            continue
        if value is _ABSENT:
            continue
        problem = _json_problem(value)
        if problem:
            problems.append(f"{label}: its {key} {problem}")
            failed = True
            continue
        fields[key] = value
    missing = [key for key in REQUIRED_FIELDS if key not in fields]
    if failed:
        return None
    if missing:
        problems.append("{}: is not a route: it has no {}".format(label, " or ".join(missing)))
        return None
    if not isinstance(fields["name"], str) or not isinstance(fields["path"], str):
        problems.append(f"{label}: name and path must be strings")
        return None
    return fields


def _setup_django(settings_module: str) -> Any:
    try:
        django = importlib.import_module("django")
    except ImportError as exc:
        traceback.print_exc()
        raise ExportFailed("django", f"Django is not importable by {sys.executable}: {describe(exc)}") from None
    os.environ["DJANGO_SETTINGS_MODULE"] = settings_module
    # Imported on its own first, so a settings module that fails is told apart from a
    # setup that fails (which imports every installed app).
    guarded(
        "settings",
        f"settings module {settings_module} cannot be imported",
        lambda: importlib.import_module(settings_module),
    )
    # https://docs.djangoproject.com/en/6.0/topics/settings/#calling-django-setup-is-required-for-standalone-django-usage
    guarded("setup", f"django.setup() with {settings_module} failed", django.setup)
    return django


def export(reference: str, settings_module: str | None) -> dict[str, Any]:
    """The routes of ``reference`` (``module:attribute``), with Django set up first when
    ``settings_module`` is given. Raises :class:`ExportFailed`."""
    if sys.version_info < MINIMUM_PYTHON:
        raise ExportFailed(
            "python", f"{sys.executable} is Python {platform.python_version()}; the exporter needs 3.9 or later"
        )
    if settings_module:
        _setup_django(settings_module)
    module_name, _, attribute = reference.partition(":")
    module = guarded(
        "import", f"registry module {module_name} cannot be imported", lambda: importlib.import_module(module_name)
    )
    if not guarded("registry", f"reading {reference} failed", lambda: hasattr(module, attribute)):
        raise ExportFailed("attribute", f"registry module {module_name} has no attribute {attribute!r}")
    target = guarded("registry", f"reading {reference} failed", lambda: getattr(module, attribute))
    entries = guarded(
        "registry", f"registry {reference} failed", lambda: list(target() if callable(target) else target)
    )
    problems: list[str] = []
    routes = [
        fields for fields in (read_route(entry, index, problems) for index, entry in enumerate(entries)) if fields
    ]
    if problems:
        raise ExportFailed("route", "registry {}: {}".format(reference, "; ".join(problems)))
    django = sys.modules.get("django")
    return {
        "routes": routes,
        "python": platform.python_version(),
        "django": getattr(django, "__version__", None) if django is not None else None,
    }


def _arguments(argv: list[str] | None) -> tuple[str, str | None]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--registry", required=True, help="module:attribute of the registry")
    parser.add_argument("--django-settings", default=None, help="settings module to set up first")
    args = parser.parse_args(argv)
    return args.registry, args.django_settings


def main(argv: list[str] | None = None) -> int:
    """Export the registry; write the one result document; return the exit status."""
    reference, settings_module = _arguments(argv)
    # The result goes to the original stdout; from here on, fd 1 (and so anything the
    # app prints or a child process writes) goes to stderr, keeping the document whole.
    result = os.fdopen(os.dup(1), "w", encoding="utf-8")
    sys.stdout.flush()
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    try:
        document = export(reference, settings_module)
        status = EXIT_OK
    except ExportFailed as failure:
        document = {"error": {"kind": failure.kind, "message": failure.message}}
        status = EXIT_FAILED
    sys.stderr.flush()
    result.write(json.dumps(document, allow_nan=False))
    result.close()
    return status


if __name__ == "__main__":
    # Run as a script, its own folder (this project's tools/) heads sys.path and could
    # shadow the app's modules; the app source comes from PYTHONPATH instead.
    if sys.path and Path(sys.path[0] or os.curdir).resolve() == Path(__file__).resolve().parent:
        del sys.path[0]
    sys.exit(main())
