"""``./dev export-registry``: the app's task registry as a snapshot, read by the app's own Python.

The program cannot import the real app (the app pins protobuf 7, which the Pulumi SDK
cannot share), so its routes reach the program as a snapshot: ``registry/gyrinx.json``,
named by ``gyrinx-tasks:registry: file:registry/gyrinx.json``. This command writes it.
It runs :mod:`tools.exporter` (standard library and Django only, Python 3.9+) in the
APP's interpreter, in a clean environment (PATH, PYTHONPATH = the app source, and
DJANGO_SETTINGS_MODULE when given), with the app source as the working directory and
a time limit, then writes the snapshot (one route per line, so a refresh's pull request
shows a line per changed route) to stdout or, atomically, to ``--output``.

Any failure is one line naming it, then the tail of the app's stderr; exit 2, nothing
on stdout and no file written.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from infra.registry import MODULE_NAME, REFERENCE, SNAPSHOT_FORMAT, RawRoute
from tools.errors import ToolError

DEFAULT_REGISTRY = "gyrinx.tasks.registry:get_all_tasks"
DEFAULT_TIMEOUT = 120.0
EXPORTER = Path(__file__).resolve().parent / "exporter.py"
# The exporter's exit status with its error document on stdout (tools/exporter.py).
EXPORTER_FAILED = 3
STDERR_TAIL_LINES = 15
STDERR_LINE_WIDTH = 300
ROUTE_ORDER = tuple(field.name for field in fields(RawRoute))
_COMMIT = re.compile(r"[0-9a-f]{40}([0-9a-f]{24})?")
# Errors an app raises when its registry needs Django set up first.
_NEEDS_SETUP = ("AppRegistryNotReady", "ImproperlyConfigured")


class ExportError(ToolError):
    """The export failed: one line saying what failed, then the tail of the app's stderr."""

    def __init__(self, line: str, stderr: str = ""):
        tail = stderr_tail(stderr)
        text = f"export-registry: {line}"
        if tail:
            text += "\n  the app's stderr ended with:\n" + "\n".join(f"  | {entry}" for entry in tail)
        super().__init__(text)
        self.line = line


@dataclass(frozen=True)
class ExportRequest:
    """What to export: the app's source and interpreter, its registry and settings."""

    app_source: Path
    app_python: str
    registry: str = DEFAULT_REGISTRY
    django_settings: str | None = None
    timeout: float = DEFAULT_TIMEOUT


def stderr_tail(stderr: str) -> list[str]:
    """The last lines of the app's stderr, each cut to a readable width."""
    lines = [line.rstrip() for line in stderr.splitlines() if line.strip()]
    return [
        line if len(line) <= STDERR_LINE_WIDTH else line[: STDERR_LINE_WIDTH - 3] + "..."
        for line in lines[-STDERR_TAIL_LINES:]
    ]


def _request_problems(request: ExportRequest) -> list[str]:
    problems = []
    if not request.app_source.is_dir():
        problems.append(f"--app-source {request.app_source} is not a directory")
    if not REFERENCE.fullmatch(request.registry):
        problems.append(f"--registry {request.registry!r} is not module:attribute, like {DEFAULT_REGISTRY}")
    if request.django_settings is not None and not MODULE_NAME.fullmatch(request.django_settings):
        problems.append(
            f"--django-settings {request.django_settings!r} is not a dotted module name, like gyrinx.settings"
        )
    if not request.timeout > 0:
        problems.append(f"--timeout {request.timeout:g} must be more than 0 seconds")
    return problems


def app_interpreter(text: str) -> str:
    """The app's interpreter as a path the child can run from any working directory.

    A path (with a slash) is made absolute, not resolved: a virtualenv's ``python`` is a
    symlink, and resolving it would leave the virtualenv. A bare name is looked up on PATH.
    """
    if os.sep in text or (os.altsep and os.altsep in text):
        path = Path(text).absolute()
        if not path.exists():
            raise ExportError(f"the app's interpreter {text} does not exist")
        if not path.is_file() or not os.access(path, os.X_OK):
            raise ExportError(f"the app's interpreter {text} is not an executable file")
        return str(path)
    found = shutil.which(text)
    if found is None:
        raise ExportError(f"the app's interpreter {text} is not on PATH")
    return found


def app_commit(app_source: Path) -> str | None:
    """The commit checked out at ``app_source`` (``git rev-parse HEAD``), or None when it
    is not a git checkout or git is missing."""
    # GIT_DIR and friends would point git elsewhere than the app source.
    env = {key: value for key, value in os.environ.items() if not key.startswith("GIT_")}
    try:
        result = subprocess.run(
            ["git", "-C", str(app_source), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            check=False,
            env=env,
            timeout=30,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    commit = result.stdout.strip()
    return commit if result.returncode == 0 and _COMMIT.fullmatch(commit) else None


def child_environment(request: ExportRequest) -> dict[str, str]:
    """The exporter's whole environment: nothing of this shell leaks into the app's
    settings (no cloud credentials, no TASKS_ENVIRONMENT, no virtualenv of ours)."""
    env = {"PATH": os.environ.get("PATH", os.defpath), "PYTHONPATH": str(request.app_source.resolve())}
    if request.django_settings is not None:
        env["DJANGO_SETTINGS_MODULE"] = request.django_settings
    return env


def _command(interpreter: str, request: ExportRequest) -> list[str]:
    # -B: reading the registry writes no __pycache__ into the app's checkout.
    command = [interpreter, "-B", str(EXPORTER), "--registry", request.registry]
    if request.django_settings is not None:
        command += ["--django-settings", request.django_settings]
    return command


def _run_exporter(interpreter: str, request: ExportRequest) -> tuple[int, str, str]:
    try:
        # A session of its own, so a timeout stops the app's child processes too.
        process = subprocess.Popen(
            _command(interpreter, request),
            cwd=request.app_source,
            env=child_environment(request),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
    except OSError as exc:
        raise ExportError(f"cannot run the app's interpreter {request.app_python}: {exc.strerror}") from None
    try:
        stdout, stderr = process.communicate(timeout=request.timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        _, stderr = process.communicate()
        raise ExportError(
            f"reading {request.registry} with {request.app_python} did not finish within {request.timeout:g} s, "
            "and was stopped (raise --timeout if the app is only slow to import)",
            stderr.decode("utf-8", "replace"),
        ) from None
    return process.returncode, stdout.decode("utf-8", "replace"), stderr.decode("utf-8", "replace")


def _failure_line(request: ExportRequest, status: int, error: Any) -> str:
    if isinstance(error, Mapping) and isinstance(error.get("message"), str):
        line = str(error["message"])
        if (
            error.get("kind") == "registry"
            and request.django_settings is None
            and any(name in line for name in _NEEDS_SETUP)
        ):
            line += " (does the registry need --django-settings?)"
        return line
    if status < 0:
        return f"{request.app_python} was killed by {signal.Signals(-status).name} while reading {request.registry}"
    return f"{request.app_python} stopped without a result (exit status {status}) while reading {request.registry}"


def _routes(result: Mapping[str, Any], request: ExportRequest) -> list[dict[str, Any]]:
    routes = result.get("routes")
    if not isinstance(routes, list) or not all(
        isinstance(route, Mapping) and set(route) <= set(ROUTE_ORDER) for route in routes
    ):
        raise ExportError(f"the exporter's result for {request.registry} is not a list of routes")
    # The snapshot's field order is RawRoute's, whatever order the exporter wrote.
    return [{key: route[key] for key in ROUTE_ORDER if key in route} for route in routes]


def export_snapshot(request: ExportRequest) -> dict[str, Any]:
    """The snapshot of the app's registry: format, app (commit, settings module,
    registry, the Python and Django that read it) and routes, in registry order.

    Raises :class:`ExportError` (one line, then the app's stderr tail) on any failure.
    """
    problems = _request_problems(request)
    if problems:
        raise ExportError("; ".join(problems))
    interpreter = app_interpreter(request.app_python)
    status, stdout, stderr = _run_exporter(interpreter, request)
    try:
        result = json.loads(stdout)
    except ValueError:
        result = None
    if not isinstance(result, Mapping) or status not in (0, EXPORTER_FAILED) or "error" in result:
        error = result.get("error") if isinstance(result, Mapping) else None
        raise ExportError(_failure_line(request, status, error), stderr)
    exported_with = {key: result.get(key) for key in ("python", "django")}
    return {
        "format": SNAPSHOT_FORMAT,
        "app": {
            "commit": app_commit(request.app_source),
            "settingsModule": request.django_settings,
            "registry": request.registry,
            "exportedWith": exported_with,
        },
        "routes": _routes(result, request),
    }


def snapshot_text(document: Mapping[str, Any]) -> str:
    """The snapshot as committed: the app on one line, then one route per line, so the
    refresh's pull request shows a line per route that changed."""
    app = json.dumps(document["app"], sort_keys=True)
    routes = ",\n".join(f"    {json.dumps(route)}" for route in document["routes"])
    listed = f"[\n{routes}\n  ]" if routes else "[]"
    return f'{{\n  "format": {json.dumps(document["format"])},\n  "app": {app},\n  "routes": {listed}\n}}\n'


def write_atomically(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file renamed over it, so ``path``
    is either the old file or the whole new one, never a half-written snapshot."""
    directory = path.parent
    if not directory.is_dir():
        raise ExportError(f"cannot write {path}: {directory} is not a directory")
    mode = path.stat().st_mode & 0o777 if path.is_file() else 0o644
    handle, temporary = tempfile.mkstemp(dir=directory, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
        Path(temporary).chmod(mode)
        Path(temporary).replace(path)
    except OSError as exc:
        Path(temporary).unlink(missing_ok=True)
        raise ExportError(f"cannot write {path}: {exc.strerror}") from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The command's arguments."""
    parser.add_argument("--app-source", required=True, metavar="DIR", help="the app's source (a checkout)")
    parser.add_argument(
        "--app-python", required=True, metavar="PY", help="the app's own interpreter, e.g. app/.venv/bin/python"
    )
    parser.add_argument(
        "--django-settings",
        metavar="MODULE",
        help="settings module to set up (django.setup()) before reading the registry, e.g. gyrinx.settings",
    )
    parser.add_argument(
        "--registry",
        default=DEFAULT_REGISTRY,
        metavar="MODULE:ATTR",
        help=f"the registry: a callable returning routes, or a list (default {DEFAULT_REGISTRY})",
    )
    parser.add_argument("--output", metavar="FILE", help="write the snapshot here (atomically) instead of stdout")
    parser.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT,
        metavar="SECONDS",
        help=f"stop the app's interpreter after this long (default {DEFAULT_TIMEOUT:g})",
    )


def run(args: argparse.Namespace) -> int:
    """Export the registry to ``--output`` or stdout; a summary line goes to stderr."""
    request = ExportRequest(
        app_source=Path(args.app_source),
        app_python=args.app_python,
        registry=args.registry,
        django_settings=args.django_settings,
        timeout=args.timeout,
    )
    document = export_snapshot(request)
    text = snapshot_text(document)
    app = document["app"]
    summary = (
        f"{len(document['routes'])} routes from {request.registry} (commit {app['commit'] or 'unknown'}, "
        f"Python {app['exportedWith']['python']}, Django {app['exportedWith']['django'] or 'not loaded'})"
    )
    if args.output:
        write_atomically(Path(args.output), text)
        print(f"export-registry: wrote {summary} to {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(text)
        print(f"export-registry: {summary}", file=sys.stderr)
    return 0
