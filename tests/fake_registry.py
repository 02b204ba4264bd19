"""A registry the tests fill in: ``gyrinx-tasks:registry`` = ``tests.fake_registry:ROUTES``."""

from __future__ import annotations

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
