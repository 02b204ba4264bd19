"""A registry the tests fill in: ``gyrinx-tasks:registry`` = ``tests.fake_registry:ROUTES``."""

from __future__ import annotations

import sys
from types import FunctionType
from typing import Any

from example_app.tasks import TaskRoute

ROUTES: list[Any] = []


def task_function(name: str, module: str = "app.tasks") -> FunctionType:
    """A function called ``name`` that claims to be defined in ``module``."""

    def func() -> None:
        return None

    func.__name__ = func.__qualname__ = name
    func.__module__ = module
    return func


def route(name: str, module: str = "app.tasks", **options: Any) -> TaskRoute:
    """A ``TaskRoute`` for a fresh function ``module.name``."""
    return TaskRoute(task_function(name, module), **options)


def broken() -> list[Any]:
    """A registry callable that fails the way a broken app import would."""
    raise RuntimeError("settings not configured")


def exits() -> list[Any]:
    """A registry callable that calls ``sys.exit`` while listing its routes."""
    sys.exit(4)


def interrupted() -> list[Any]:
    """A registry callable interrupted by Ctrl-C, which must still stop the run."""
    raise KeyboardInterrupt


class RaisingRoute:
    """A route whose ``attribute`` property raises, as an app's computed property might."""

    def __init__(self, name: str, attribute: str, error: BaseException):
        self.name = name
        self.path = f"app.tasks.{name}"
        self._attribute = attribute
        self._error = error

    def __getattr__(self, key: str) -> Any:
        # Only called for attributes not set in __init__: the failing one, or a missing one.
        if key == self._attribute:
            raise self._error
        raise AttributeError(key)


# What the stand-in django.setup() was called with (see tests/test_task_route.py).
SETUP_CALLS: list[str] = []


def after_setup() -> list[Any]:
    """A registry that, like the real app's discovery, needs ``django.setup()`` first."""
    if not SETUP_CALLS:
        raise RuntimeError("Apps aren't loaded yet.")
    return [route("needs_setup")]
