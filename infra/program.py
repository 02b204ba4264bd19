"""Loading what ``__main__.py`` declares: the settings and the tasks, all checked.

Nothing is declared until the settings and every task have been checked, so bad input
never produces a half-applied plan.
"""

from __future__ import annotations

import pulumi

from infra.errors import InvalidInput
from infra.registry import RawRoute, Task, load_tasks
from infra.settings import Settings, read_config
from infra.validation import check_routes, flag_problems, retry_warnings


def load(stack: str | None = None) -> tuple[Settings, list[Task]]:
    """The stack's settings and the registry's tasks, all checked.

    Raises :class:`InvalidInput` with every problem in the settings and the tasks;
    a flag that names no task's kill switch is one of them. Logs a warning (shown by
    ``pulumi preview`` and the offline plan) for each task that gives up on a failing
    message before an outage may end.
    """
    read = read_config(stack)
    problems = list(read.problems)
    routes: list[RawRoute] | None = None
    if read.registry:
        try:
            routes = load_tasks(read.registry, django_settings=read.django_settings_module)
        except InvalidInput as exc:
            problems.extend(exc.problems)
    tasks: list[Task] = []
    if routes is not None:
        tasks, route_problems = check_routes(routes, read.environment, read.allow_empty_registry)
        problems.extend(route_problems)
        problems.extend(flag_problems(routes, stack or pulumi.get_stack(), read.flags))
    if problems or read.settings is None or routes is None:
        raise InvalidInput(problems)
    # Shown by `pulumi preview` (and the offline plan): none stops the deploy.
    for warning in retry_warnings(tasks):
        pulumi.log.warn(warning)
    return read.settings, tasks
