"""Loading what ``__main__.py`` declares: the settings and the tasks, all checked.

Nothing is declared until the settings and every task have been checked, so bad input
never produces a half-applied plan.
"""

from __future__ import annotations

import pulumi

from infra import settings as settings_module
from infra import stack_config
from infra.problems import InvalidInput
from infra.registry import Task, load_tasks
from infra.settings import Settings
from infra.validation import kill_switch_warnings, validate_tasks


def load(stack: str | None = None) -> tuple[Settings, list[Task]]:
    """The stack's settings and the registry's tasks, all checked.

    Raises :class:`InvalidInput` with every problem in the settings and the tasks;
    logs a warning (shown by ``pulumi preview`` and the offline plan) for each kill
    switch that cannot switch anything.
    """
    problems: list[str] = []
    settings = None
    try:
        settings = settings_module.read_settings(stack)
    except InvalidInput as exc:
        problems.extend(exc.problems)

    tasks = None
    try:
        tasks = load_tasks(settings.registry if settings else settings_module.registry_reference())
    except InvalidInput as exc:
        problems.extend(exc.problems)

    if tasks is not None:
        environment = settings.environment if settings else settings_module.environment_name(stack)
        allow_empty = settings.allow_empty_registry if settings else False
        problems.extend(validate_tasks(tasks, environment, allow_empty))

    if problems:
        raise InvalidInput(problems)
    for warning in kill_switch_warnings(tasks, settings.stack, settings.flags, stack_config.flags_by_stack()):
        pulumi.log.warn(warning)
    return settings, tasks
