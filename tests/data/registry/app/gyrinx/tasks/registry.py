"""The collected routes, discovered on first use (gyrinx-app/gyrinx gyrinx/tasks/registry.py)."""

from gyrinx.tasks.discovery import discover_task_routes
from gyrinx.tasks.route import TaskRoute

_tasks: list[TaskRoute] | None = None


def get_all_tasks() -> list[TaskRoute]:
    """Every registered route, in discovery order."""
    global _tasks  # noqa: PLW0603 - the app caches its discovery the same way
    if _tasks is None:
        _tasks = discover_task_routes()
    return _tasks
