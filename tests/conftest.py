"""Shared fixtures: a valid stack config and a runner for the program under mocks."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import pytest

from infra import offline
from tests import fake_registry

BASE_CONFIG = {
    "gcp:project": "proj",
    "gcp:region": "europe-west2",
    "gyrinx-tasks:serviceUrl": "https://app.example.run.app",
    "gyrinx-tasks:registry": "tests.fake_registry:ROUTES",
}

PROJECT_NUMBER_MEMBER_PREFIX = "serviceAccount:service-"


@pytest.fixture
def routes(monkeypatch) -> list[Any]:
    """The fake registry's routes; tests append to it."""
    fresh: list[Any] = []
    monkeypatch.setattr(fake_registry, "ROUTES", fresh)
    return fresh


@pytest.fixture
def run(routes) -> Callable[..., offline.Plan]:
    """``run(**config)`` plans the stack ``test`` with BASE_CONFIG plus ``config``
    (keys without a namespace get ``gyrinx-tasks:``; ``None`` removes a key)."""

    def _run(stack: str = "test", **overrides: Any) -> offline.Plan:
        config = dict(BASE_CONFIG)
        for key, value in overrides.items():
            full = key.replace("__", ":") if "__" in key else f"gyrinx-tasks:{key}"
            if value is None:
                config.pop(full, None)
            else:
                config[full] = value
        return offline.run_plan(stack, config=config)

    return _run


def of_type(plan: offline.Plan, suffix: str) -> list:
    """Registrations whose type ends with ``suffix`` (e.g. ``":Topic"``)."""
    return [r for r in plan.registrations if r.type.endswith(suffix)]


def names(registrations: Iterable) -> set[str]:
    """The logical names of ``registrations``."""
    return {r.name for r in registrations}
