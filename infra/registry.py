"""Loading the task registry named by ``gyrinx-tasks:registry`` into plain records.

The registry is ``module:attribute``; the attribute is a callable returning routes, or
a list of routes. Any object with the ``TaskRoute`` attributes is accepted, so a real
app's registry can be pointed at. Each route is copied into a frozen :class:`Task` so
nothing downstream depends on the app's classes.
"""

from __future__ import annotations

import importlib
import re
from dataclasses import MISSING, dataclass, fields
from typing import Any

from infra.problems import InvalidInput

_REFERENCE = re.compile(r"[A-Za-z_][\w.]*:[A-Za-z_]\w*")

@dataclass(frozen=True)
class Task:
    """One route from the registry, as plain values (not yet validated)."""

    name: str
    path: str
    ack_deadline: Any = 300
    min_retry_delay: Any = 10
    max_retry_delay: Any = 600
    schedule: str | None = None
    schedule_timezone: Any = "UTC"
    max_delivery_attempts: Any = 5
    kill_switch: str | None = None

    @property
    def is_scheduled(self) -> bool:
        """True when the task has a cron schedule."""
        return self.schedule is not None


# Attributes with a default apply to registries (like the app's own TaskRoute) that
# predate them; name and path every route must have.
_OPTIONAL_DEFAULTS = {f.name: f.default for f in fields(Task) if f.default is not MISSING}


def _describe(route: Any, index: int) -> str:
    name = getattr(route, "name", None)
    return f"task {name}" if isinstance(name, str) else f"registry entry #{index + 1} ({route!r})"


def _to_task(route: Any, index: int, problems: list[str]) -> Task | None:
    try:
        name, path = route.name, route.path
    except Exception as exc:  # noqa: BLE001 - any failure is reported, with its reason
        problems.append(f"{_describe(route, index)}: has no usable name/path ({type(exc).__name__}: {exc})")
        return None
    if not isinstance(name, str) or not isinstance(path, str):
        problems.append(f"{_describe(route, index)}: name and path must be strings")
        return None
    values = {key: getattr(route, key, default) for key, default in _OPTIONAL_DEFAULTS.items()}
    return Task(name=name, path=path, **values)


def load_tasks(reference: str) -> list[Task]:
    """Import the registry ``module:attribute`` and return its tasks in order.

    Raises :class:`InvalidInput` saying why the registry could not be loaded (no
    traceback), or listing every entry that is not a route.
    """
    where = f"config gyrinx-tasks:registry {reference!r}"
    if not _REFERENCE.fullmatch(reference):
        raise InvalidInput([f"{where}: must be module:attribute, like gyrinx.tasks.registry:get_all_tasks"])
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
    tasks = [task for index, route in enumerate(routes) if (task := _to_task(route, index, problems))]
    if problems:
        raise InvalidInput(problems)
    return tasks
