"""A generated registry for the benchmark: ``BENCH_TASKS`` tasks, one in ten scheduled.

Point the program at it with ``--config registry=benchmarks.generated_registry:routes``.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from example_app.tasks import TaskRoute

# `python -m tools` arguments for a plan of this registry. The generated tasks have no
# kill switches, so the dev stack's flags are cleared (they would only warn).
PLAN_ARGUMENTS = ["plan", "--stack", "dev", "--json", "--config", f"registry={__name__}:routes", "--config", "flags={}"]


def _function(index: int) -> Callable[[], None]:
    def func() -> None:
        return None

    func.__name__ = func.__qualname__ = f"task_{index:05d}"
    func.__module__ = f"app.module_{index % 37:02d}.tasks"
    return func


def routes() -> list[TaskRoute]:
    """``BENCH_TASKS`` routes (default 100); every tenth has a schedule."""
    count = int(os.environ.get("BENCH_TASKS", "100"))
    return [
        TaskRoute(
            _function(index),
            ack_deadline=60 + index % 500,
            schedule=f"{index % 60} {index % 24} * * *" if index % 10 == 0 else None,
        )
        for index in range(count)
    ]
