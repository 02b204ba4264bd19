"""Shared fixtures: a valid stack config and a runner for the program under mocks."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

import pytest

from infra.errors import InvalidInput
from tests import fake_registry
from tools import runner, stack_config

BASE_CONFIG = {
    "gcp:project": "test-proj",
    "gcp:region": "europe-west2",
    "gyrinx-tasks:serviceUrl": "https://app.example.run.app",
    "gyrinx-tasks:registry": "tests.fake_registry:ROUTES",
    "gyrinx-tasks:deployServiceAccount": "deployer@test-proj.iam.gserviceaccount.com",
}

PROJECT_NUMBER_MEMBER_PREFIX = "serviceAccount:service-"


@pytest.fixture
def routes(monkeypatch) -> list[Any]:
    """The fake registry's routes; tests append to it."""
    fresh: list[Any] = []
    monkeypatch.setattr(fake_registry, "ROUTES", fresh)
    return fresh


def as_written(value: str) -> Any:
    """A test's config value as a stack file holds it: JSON text of an object or a list
    is that object or list (YAML's flow style is JSON), anything else a string. Text
    that repeats a name stays a string, as ``--config`` would hand it over, so the
    program's own check of repeated names is reached."""
    repeated = False

    def unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        nonlocal repeated
        repeated = repeated or len({name for name, _ in pairs}) < len(pairs)
        return dict(pairs)

    try:
        parsed = json.loads(value, object_pairs_hook=unique)
    except (ValueError, RecursionError):
        return value
    return parsed if isinstance(parsed, dict | list) and not repeated else value


@pytest.fixture
def run(routes) -> Callable[..., runner.Plan]:
    """``run(**config)`` plans the stack ``test`` as if ``Pulumi.test.yaml``'s ``config:``
    held BASE_CONFIG plus ``config`` (keys without a namespace get ``gyrinx-tasks:``;
    ``None`` removes a key; each value as :func:`as_written` reads it). The stack goes
    through the same merge as ``pulumi preview`` (``stack_config.merge``): the
    repository's ``Pulumi.yaml`` supplies its defaults and the CLI's checks apply, so a
    default changed there reaches every test."""

    def _run(stack: str = "test", **overrides: Any) -> runner.Plan:
        config = dict(BASE_CONFIG)
        for key, value in overrides.items():
            full = key.replace("__", ":") if "__" in key else f"gyrinx-tasks:{key}"
            if value is None:
                config.pop(full, None)
            else:
                config[full] = value
        written = {key: as_written(value) for key, value in config.items()}
        return runner.run_plan(stack, config=stack_config.merge(stack, written))

    return _run


def of_type(plan: runner.Plan, suffix: str) -> list:
    """Registrations whose type ends with ``suffix`` (e.g. ``":Topic"``)."""
    return [r for r in plan.registrations if r.type.endswith(suffix)]


def names(registrations: Iterable) -> set[str]:
    """The logical names of ``registrations``."""
    return {r.name for r in registrations}


def refusal(run: Callable[..., runner.Plan], **config: Any) -> InvalidInput:
    """The program's refusal of ``config`` (the test fails if it plans)."""
    with pytest.raises(InvalidInput) as caught:
        run(**config)
    return caught.value


def only_problem(run: Callable[..., runner.Plan], **config: Any) -> str:
    """The one problem the program reports for ``config``."""
    problems = refusal(run, **config).problems
    assert len(problems) == 1, problems
    return problems[0]
