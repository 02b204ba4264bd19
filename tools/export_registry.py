"""``./dev export-registry``: the app's task registry as a snapshot, read by the app's own Python.

The program cannot import the real app (the app pins protobuf 7, which the Pulumi SDK
cannot share), so its routes reach the program as a snapshot: ``registry/gyrinx.json``,
named by ``gyrinx-tasks:registry: file:registry/gyrinx.json``. This command writes it.
It runs :mod:`tools.exporter` (standard library and Django only, Python 3.9+) in the
APP's interpreter, in a clean environment (PATH, PYTHONPATH = the app source,
DJANGO_SETTINGS_MODULE when given, and the PWD bwrap sets), with the app source as the
working directory and a time limit, then writes the snapshot (one route per line, so a
refresh's pull request shows a line per changed route) to stdout or, atomically, to
``--output``. Relative paths are taken from where the user typed the command.

Importing the app runs the app's code, so it runs only inside a bubblewrap sandbox
(:func:`sandbox_command`): every file read-only (this project and the app source
included), private ``/tmp`` and ``/run``, no network, no capabilities, its own PID
namespace that ends with the export. The snapshot is written from the exporter's
standard output only after the sandbox has exited. A copy of the app would not do: the
app's code could still write to this project by its absolute path, or leave a process
behind. Without ``bwrap`` the command refuses to run.

Any failure is one line naming it, then the tail of the app's stderr; exit 2, nothing
on stdout and no file written.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from infra.registry import MODULE_NAME, PROJECT_DIR, REFERENCE, SNAPSHOT_FORMAT, RawRoute
from tools.arguments import caller_path
from tools.errors import ExportError

DEFAULT_REGISTRY = "gyrinx.tasks.registry:get_all_tasks"
DEFAULT_TIMEOUT = 120.0
EXPORTER = Path(__file__).resolve().parent / "exporter.py"
# The exporter's exit status with its error document on stdout (tools/exporter.py).
EXPORTER_FAILED = 3
ROUTE_ORDER = tuple(field.name for field in fields(RawRoute))
_COMMIT = re.compile(r"[0-9a-f]{40}([0-9a-f]{24})?")
# Errors an app raises when its registry needs Django set up first.
_NEEDS_SETUP = ("AppRegistryNotReady", "ImproperlyConfigured")
# The sandbox: bubblewrap, https://github.com/containers/bubblewrap (Debian package bubblewrap).
SANDBOX = "bwrap"
INSTALL_SANDBOX = (
    "install bubblewrap (Linux only; Debian and Ubuntu: sudo apt-get install bubblewrap, "
    "Fedora: sudo dnf install bubblewrap) and run the export again"
)
# Empty and the sandbox's own inside it: what the app leaves there is gone with it, and no
# socket of the host's under them (Docker's, an agent's) can be reached.
PRIVATE_DIRS = ("/tmp", "/run")  # noqa: S108 - mount points inside the sandbox, not files of ours
# Ubuntu 23.10 and later refuse unprivileged user namespaces to programs without an AppArmor
# profile allowing them; bwrap then fails with this (bubblewrap.c, "setting up uid map").
# https://ubuntu.com/blog/ubuntu-23-10-restricted-unprivileged-user-namespaces
_USERNS_REFUSED = "setting up uid map"
# How long the sandbox's last processes may take to end after bwrap has exited.
SANDBOX_END_WAIT = 10.0


@dataclass(frozen=True)
class ExportRequest:
    """What to export: the app's source and interpreter, its registry and settings."""

    app_source: Path
    app_python: str
    registry: str = DEFAULT_REGISTRY
    django_settings: str | None = None
    timeout: float = DEFAULT_TIMEOUT


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

    A path (with a slash) is taken from where the user typed the command and made
    absolute, not resolved: a virtualenv's ``python`` is a symlink, and resolving it would
    leave the virtualenv. A bare name is looked up on PATH.
    """
    if os.sep in text or (os.altsep and os.altsep in text):
        path = caller_path(text)
        if not path.exists():
            raise ExportError(f"the app's interpreter {text} does not exist")
        if not path.is_file() or not os.access(path, os.X_OK):
            raise ExportError(f"the app's interpreter {text} is not an executable file")
        return str(path)
    found = shutil.which(text)
    if found is None:
        raise ExportError(f"the app's interpreter {text} is not on PATH")
    return found


@dataclass(frozen=True)
class Checkout:
    """The app source's git state: the commit checked out (None: not a git checkout, or
    git is missing), and whether the files differ from it."""

    commit: str | None
    dirty: bool = False


def _git(app_source: Path, *arguments: str) -> subprocess.CompletedProcess[str] | None:
    # GIT_DIR and friends would point git elsewhere than the app source.
    # --no-optional-locks: reading the state never rewrites the app's index (git(1)).
    # core.fsmonitor=false: no hook command from the checkout's config runs outside the sandbox.
    env = {key: value for key, value in os.environ.items() if not key.startswith("GIT_")}
    command = ["git", "--no-optional-locks", "-c", "core.fsmonitor=false", "-C", str(app_source), *arguments]
    try:
        return subprocess.run(command, capture_output=True, text=True, check=False, env=env, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None


def app_checkout(app_source: Path) -> Checkout:
    """The commit checked out at ``app_source`` (``git rev-parse HEAD``) and whether it is
    dirty: a tracked file changed, staged or not, or a file git does not ignore is new.

    New files count because the registry may import them. When git cannot say
    (``git status`` fails), the checkout counts as dirty: it cannot be vouched for.
    """
    head = _git(app_source, "rev-parse", "HEAD")
    commit = head.stdout.strip() if head is not None and head.returncode == 0 else ""
    if not _COMMIT.fullmatch(commit):
        return Checkout(None)
    status = _git(app_source, "status", "--porcelain", "--untracked-files=normal")
    return Checkout(commit, dirty=status is None or status.returncode != 0 or bool(status.stdout.strip()))


def child_environment(request: ExportRequest) -> dict[str, str]:
    """The exporter's whole environment: nothing of this shell leaks into the app's
    settings (no cloud credentials, no TASKS_ENVIRONMENT, no virtualenv of ours)."""
    env = {"PATH": os.environ.get("PATH", os.defpath), "PYTHONPATH": str(request.app_source.resolve())}
    if request.django_settings is not None:
        env["DJANGO_SETTINGS_MODULE"] = request.django_settings
    return env


def _command(interpreter: str, request: ExportRequest) -> list[str]:
    # -B: reading the registry writes no __pycache__ (the app source is read-only anyway).
    command = [interpreter, "-B", str(EXPORTER), "--registry", request.registry]
    if request.django_settings is not None:
        command += ["--django-settings", request.django_settings]
    return command


def _venv_home(config: Path) -> Path | None:
    # pyvenv.cfg's "home" is the folder of the interpreter the virtualenv was made from
    # (https://docs.python.org/3/library/venv.html).
    try:
        lines = config.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return None
    for line in lines:
        key, _, value = line.partition("=")
        home = Path(value.strip())
        if key.strip() == "home" and home.is_absolute():
            return home
    return None


def sandbox_interpreter(interpreter: str) -> tuple[Path, list[Path]]:
    """The interpreter as the sandbox runs it (its folders resolved, the file itself not,
    so a virtualenv's ``python`` symlink still finds its virtualenv), and the folders it
    needs: its virtualenv, and the installation the virtualenv was made from."""
    given = Path(interpreter)
    executable = given.parent.resolve() / given.name
    needs = [executable.resolve().parent.parent]
    venv = executable.parent.parent
    if (venv / "pyvenv.cfg").is_file():
        needs.append(venv)
        home = _venv_home(venv / "pyvenv.cfg")
        if home is not None:
            needs.append(home.resolve().parent)
    return executable, needs


def sandbox_command(command: list[str], app_source: Path, needs: list[Path], status_fd: int) -> list[str]:
    """``command`` inside bubblewrap (options: bwrap(1)), which reports on ``status_fd``
    (``--json-status-fd``). Raises :class:`ExportError` when bwrap is not installed."""
    bwrap = shutil.which(SANDBOX)
    if bwrap is None:
        raise ExportError(
            f"{SANDBOX} (bubblewrap) is not installed, and the app's code runs only in its sandbox: {INSTALL_SANDBOX}"
        )
    # Every file read-only; /dev a minimal private one; /proc the sandbox's own, read-only,
    # because bwrap covers /proc/sys and /proc/sysrq-trigger only when its access() check
    # finds them writable (bubblewrap.c, SETUP_MOUNT_PROC), and a process that is root
    # outside could otherwise write /proc/sys/kernel/core_pattern.
    options = ["--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--remount-ro", "/proc"]
    for private in PRIVATE_DIRS:
        options += ["--tmpfs", private]
    # What the export reads, read-only again wherever it lives (a private dir hides it):
    # this project (the exporter), the app source, the interpreter's folders.
    visible: list[Path] = []
    for path in [PROJECT_DIR, app_source.resolve(), *needs]:
        if path.is_dir() and path != Path(path.anchor) and path not in visible:
            visible.append(path)
            options += ["--ro-bind", str(path), str(path)]
    options += ["--chdir", str(app_source.resolve())]
    # Namespaces of its own: no network (not even the host's loopback), no view of or signal
    # to the host's processes, and when the exporter exits (or bwrap is killed:
    # --die-with-parent) the PID namespace ends, and the kernel kills every process in it.
    options += ["--unshare-user", "--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts"]
    options += ["--unshare-cgroup-try", "--die-with-parent"]
    # bwrap keeps every capability when run as root ("If our uid is 0, default to inheriting
    # all caps", bubblewrap.c); with them the app could remount / read-write. --new-session:
    # no controlling terminal to push keystrokes into (TIOCSTI, CVE-2017-5226).
    options += ["--cap-drop", "ALL", "--new-session", "--json-status-fd", str(status_fd)]
    return [bwrap, *options, "--", *command]


def _sandbox_report(status: bytes) -> dict[str, Any]:
    # bwrap's --json-status-fd lines: {"child-pid": N, "pid-namespace": INODE, ...} once the
    # sandbox exists, then {"exit-code": N} only when the command was started
    # (bubblewrap.c, report_child_exit_status): a failed setup leaves no exit-code.
    report: dict[str, Any] = {}
    for line in status.decode("utf-8", "replace").splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict):
            report.update(entry)
    return report


def _namespace_members(namespace: int) -> list[int]:
    """The host's live processes in the PID namespace with inode ``namespace``
    (``/proc/PID/ns/pid``, namespaces(7)). A zombie (state Z or X in ``/proc/PID/stat``,
    proc(5)) has ended: the namespace's first process stays one until its new parent,
    this machine's init, reaps it."""
    members = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "ns" / "pid").stat().st_ino != namespace:
                    continue
                state = (entry / "stat").read_text().rpartition(")")[2].split()[0]
            except (OSError, IndexError):
                continue  # ended meanwhile, or another user's
            if state not in ("Z", "X"):
                members.append(int(entry.name))
    return members


def _end_sandbox(report: dict[str, Any]) -> None:
    """Kill the sandbox's first process, if it is still there, and return once no process
    is left in its PID namespace: when a namespace's first process ends, the kernel kills
    every other one in it (pid_namespaces(7)).

    --die-with-parent already kills it when bwrap exits; this makes sure, and waits for
    the kernel, as the output pipes may close a moment before the last process is gone.
    """
    init, namespace = report.get("child-pid"), report.get("pid-namespace")
    if not isinstance(init, int) or not isinstance(namespace, int):
        return
    try:
        # A pidfd names that one process, even if its number is reused meanwhile.
        handle = os.pidfd_open(init)
    except OSError:
        handle = -1  # gone already
    if handle != -1:
        try:
            if Path(f"/proc/{init}/ns/pid").stat().st_ino == namespace:
                signal.pidfd_send_signal(handle, signal.SIGKILL)
        except OSError:
            pass  # ended meanwhile
        finally:
            os.close(handle)
    deadline = time.monotonic() + SANDBOX_END_WAIT
    while _namespace_members(namespace):
        if time.monotonic() > deadline:
            raise ExportError(
                f"the sandbox's processes were still running {SANDBOX_END_WAIT:g} s after the export; nothing was "
                "written"
            )
        time.sleep(0.01)


def _sandbox_failure(stderr: str) -> str:
    said = next((line for line in stderr.splitlines() if line.startswith(f"{SANDBOX}: ")), "")
    line = f"the sandbox did not start the app's interpreter: {said or 'bwrap failed'}"
    if _USERNS_REFUSED in said:
        line += (
            " (the system refuses bwrap a user namespace; on Ubuntu 23.10 and later see "
            "https://ubuntu.com/blog/ubuntu-23-10-restricted-unprivileged-user-namespaces)"
        )
    return line


def _run_exporter(interpreter: str, request: ExportRequest) -> tuple[int, str, str]:
    executable, needs = sandbox_interpreter(interpreter)
    status_read, status_write = os.pipe()
    with os.fdopen(status_read, "rb") as status:
        try:
            command = sandbox_command(_command(str(executable), request), request.app_source, needs, status_write)
            # A session of its own, so a timeout kills bwrap's whole group.
            process = subprocess.Popen(
                command,
                env=child_environment(request),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                pass_fds=(status_write,),
                start_new_session=True,
            )
        except OSError as exc:
            raise ExportError(f"cannot run {SANDBOX}: {exc.strerror}") from None
        finally:
            os.close(status_write)
        try:
            stdout, stderr = process.communicate(timeout=request.timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):  # bwrap may have exited already
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            # bwrap is gone, so its report is complete; the sandbox runs in a session of its own.
            _end_sandbox(_sandbox_report(status.read()))
            _, stderr = process.communicate()
            raise ExportError(
                f"reading {request.registry} with {request.app_python} did not finish within {request.timeout:g} s, "
                "and was stopped (raise --timeout if the app is only slow to import)",
                stderr.decode("utf-8", "replace"),
            ) from None
        # bwrap has exited: its report is complete.
        report = _sandbox_report(status.read())
    _end_sandbox(report)
    errors = stderr.decode("utf-8", "replace")
    if "exit-code" not in report:
        raise ExportError(_sandbox_failure(errors), errors)
    return process.returncode, stdout.decode("utf-8", "replace"), errors


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
    """The snapshot of the app's registry: format, app (commit and, for a checkout,
    whether it was dirty; settings module; registry; the Python and Django that read it)
    and routes, in registry order.

    Raises :class:`ExportError` (one line, then the app's stderr tail) on any failure.
    """
    problems = _request_problems(request)
    if problems:
        raise ExportError("; ".join(problems))
    interpreter = app_interpreter(request.app_python)
    checkout = app_checkout(request.app_source)
    status, stdout, stderr = _run_exporter(interpreter, request)
    try:
        result = json.loads(stdout)
    except ValueError:
        result = None
    if not isinstance(result, Mapping) or status not in (0, EXPORTER_FAILED) or "error" in result:
        error = result.get("error") if isinstance(result, Mapping) else None
        raise ExportError(_failure_line(request, status, error), stderr)
    exported_with = {key: result.get(key) for key in ("python", "django")}
    app: dict[str, Any] = {"commit": checkout.commit}
    if checkout.commit is not None:
        app["dirty"] = checkout.dirty
    app.update(settingsModule=request.django_settings, registry=request.registry, exportedWith=exported_with)
    return {"format": SNAPSHOT_FORMAT, "app": app, "routes": _routes(result, request)}


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
    parser.add_argument(
        "--app-source", required=True, type=caller_path, metavar="DIR", help="the app's source (a checkout)"
    )
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
    parser.add_argument(
        "--output", type=caller_path, metavar="FILE", help="write the snapshot here (atomically) instead of stdout"
    )
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
        app_source=args.app_source,
        app_python=args.app_python,
        registry=args.registry,
        django_settings=args.django_settings,
        timeout=args.timeout,
    )
    document = export_snapshot(request)
    text = snapshot_text(document)
    app = document["app"]
    commit = app["commit"] or "unknown"
    if app.get("dirty"):
        commit += ", dirty: the checkout has uncommitted changes"
    summary = (
        f"{len(document['routes'])} routes from {request.registry} (commit {commit}, "
        f"Python {app['exportedWith']['python']}, Django {app['exportedWith']['django'] or 'not loaded'})"
    )
    if args.output:
        write_atomically(args.output, text)
        print(f"export-registry: wrote {summary} to {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(text)
        print(f"export-registry: {summary}", file=sys.stderr)
    return 0
