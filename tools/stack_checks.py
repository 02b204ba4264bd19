"""Checks across the repository's stacks, which no single ``pulumi up`` can make.

The deployed program sees one stack's config; these read every stack file, so the
offline plan (and CI, through ``--strict``) runs them, never the program.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from infra.registry import Task
from tools import runner, stack_config


def unset_kill_switch_warnings(tasks: Sequence[Task], flags_by_stack: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """Routes whose ``kill_switch`` no stack file sets: nothing can switch them off."""
    warnings = []
    for task in tasks:
        switch = task.kill_switch
        if switch and not any(switch in stack_flags for stack_flags in flags_by_stack.values()):
            warnings.append(
                f"task {task.name}: kill_switch {switch} is not set in any stack file's gyrinx-tasks:flags "
                f"({', '.join(sorted(flags_by_stack)) or 'no stack files'}); set it to true or false per stack"
            )
    return warnings


def warnings(stack: str, overrides: Sequence[str] = ()) -> list[str]:
    """The checks across stacks that concern ``stack``'s plan."""
    _, tasks = runner.load_stack(stack, overrides)
    return unset_kill_switch_warnings(tasks, stack_config.flags_by_stack())
