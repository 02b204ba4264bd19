"""Every check on the registry's tasks, run before anything is declared.

Each problem is one line naming the task, the value and what is allowed; all of them
are returned together so one run shows everything that needs fixing.
"""

from __future__ import annotations

import re
import zoneinfo
from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

from croniter import croniter

from infra import naming
from infra.registry import RawRoute, Schedule, Task

ACK_DEADLINE = (10, 600)
BACKOFF = (0, 600)
DELIVERY_ATTEMPTS = (5, 100)
DESCRIPTION_MAX = 500

_KILL_SWITCH = re.compile(r"[A-Z][A-Z0-9_]*")
# croniter accepts extensions that unix-cron (and so Cloud Scheduler) does not:
# L, W, H, # and ?. Month and day names (JUL, WED, THU) contain those letters, hence
# the look-arounds.
_CRON_EXTENSION = re.compile(r"(?<![A-Z])[LWH](?![A-Z])|[#?]")


def _int_in_range(value: Any, bounds: tuple[int, int]) -> bool:
    low, high = bounds
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def cron_problem(schedule: Any) -> str | None:
    """Why ``schedule`` is not a 5-field unix-cron expression, or None."""
    if not isinstance(schedule, str):
        return f"schedule {schedule!r} must be a string"
    fields = schedule.split()
    if len(fields) != 5:
        return f"schedule {schedule!r} has {len(fields)} fields; unix-cron needs 5 (minute hour day-of-month month day-of-week)"
    if _CRON_EXTENSION.search(schedule.upper()) or not croniter.is_valid(schedule):
        return f"schedule {schedule!r} is not valid unix-cron (e.g. '0 3 * * *' daily at 03:00, '*/15 * * * *')"
    return None


def timezone_problem(time_zone: Any) -> str | None:
    """Why ``time_zone`` is not a tz database name, or None."""
    try:
        zoneinfo.ZoneInfo(time_zone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, TypeError):
        return f"schedule_timezone {time_zone!r} is not a tz database name (e.g. 'UTC', 'Europe/London')"
    return None


DEFAULT_DELIVERY_ATTEMPTS = 5


def _task_problems(task: RawRoute, environment: str) -> Iterable[str]:
    if not _int_in_range(task.ack_deadline, ACK_DEADLINE):
        yield f"ack_deadline {task.ack_deadline!r} is outside {ACK_DEADLINE[0]}-{ACK_DEADLINE[1]} seconds"
    backoffs_valid = True
    for key in ("min_retry_delay", "max_retry_delay"):
        value = getattr(task, key)
        if not _int_in_range(value, BACKOFF):
            backoffs_valid = False
            yield f"{key} {value!r} is outside {BACKOFF[0]}-{BACKOFF[1]} seconds (Pub/Sub's backoff range)"
    if backoffs_valid and task.min_retry_delay > task.max_retry_delay:
        yield f"min_retry_delay {task.min_retry_delay} is above max_retry_delay {task.max_retry_delay}"
    if task.max_delivery_attempts is not None and not _int_in_range(task.max_delivery_attempts, DELIVERY_ATTEMPTS):
        yield (
            f"max_delivery_attempts {task.max_delivery_attempts!r} is outside "
            f"{DELIVERY_ATTEMPTS[0]}-{DELIVERY_ATTEMPTS[1]} (Pub/Sub's dead-letter range)"
        )
    if task.kill_switch is not None and not (
        isinstance(task.kill_switch, str) and _KILL_SWITCH.fullmatch(task.kill_switch)
    ):
        yield f"kill_switch {task.kill_switch!r} must be an env flag name like ENABLE_BATCH_JOB"

    names = naming.task_names(environment, task.path)
    for label, resource_id in (
        ("topic id", names.topic),
        ("subscription id", names.subscription),
        ("dead-letter topic id", names.dead_letter_topic),
        ("dead-letter subscription id", names.dead_letter_subscription),
    ):
        problem = naming.pubsub_id_problem(resource_id)
        if problem:
            yield f"{label} {resource_id!r} {problem}"

    if task.schedule is not None:
        for problem in (cron_problem(task.schedule), timezone_problem(task.schedule_timezone)):
            if problem:
                yield problem
        problem = naming.job_id_problem(names.job)
        if problem:
            yield f"scheduler job id {names.job!r} {problem}"
        description = naming.scheduler_description(task.name, task.schedule, task.schedule_timezone)
        if len(description) > DESCRIPTION_MAX:
            yield f"scheduler job description is {len(description)} characters (at most {DESCRIPTION_MAX})"


def _checked(route: RawRoute) -> Task:
    """``route`` as a typed record; only for a route with no problems."""
    return Task(
        name=route.name,
        path=route.path,
        ack_deadline=route.ack_deadline,
        min_retry_delay=route.min_retry_delay,
        max_retry_delay=route.max_retry_delay,
        max_delivery_attempts=(
            DEFAULT_DELIVERY_ATTEMPTS if route.max_delivery_attempts is None else route.max_delivery_attempts
        ),
        schedule=None if route.schedule is None else Schedule(route.schedule, route.schedule_timezone),
        kill_switch=route.kill_switch,
    )


def check_routes(routes: list[RawRoute], environment: str, allow_empty: bool = False) -> tuple[list[Task], list[str]]:
    """The routes as typed tasks, and every problem with them in ``environment`` (the
    tasks are only for declaring when the problems are none)."""
    problems = validate_tasks(routes, environment, allow_empty)
    return ([] if problems else [_checked(route) for route in routes]), problems


def validate_tasks(tasks: list[RawRoute], environment: str, allow_empty: bool = False) -> list[str]:
    """Every problem with ``tasks`` in ``environment``; an empty list when all is well."""
    problems: list[str] = []
    if not tasks and not allow_empty:
        problems.append(
            "the registry returned no tasks: refusing, since an empty registry would delete every "
            "task's infrastructure in this stack (to tear the environment down on purpose, set "
            "config gyrinx-tasks:allowEmptyRegistry to true)"
        )

    paths_by_name: dict[str, list[str]] = defaultdict(list)
    for task in tasks:
        paths_by_name[task.name].append(task.path)
    for name, paths in paths_by_name.items():
        if len(paths) > 1:
            problems.append(
                f"task {name}: registered {len(paths)} times ({', '.join(paths)}); task names must be "
                "unique because the push handler routes by bare name"
            )

    for task in tasks:
        problems.extend(f"task {task.name}: {problem}" for problem in _task_problems(task, environment))
    return problems


def flag_warnings(tasks: list[Task], stack: str, flags: Mapping[str, bool]) -> list[str]:
    """This stack's flags that no route names as its ``kill_switch``: a typo, most likely,
    so the switch the author meant switches nothing. Not an error (a flag may be set
    ahead of its route), so the preview warns."""
    switches = {task.kill_switch: task.name for task in tasks if task.kill_switch}
    return [
        f"config gyrinx-tasks:flags: flag {flag} in stack {stack} is not the kill_switch of any task, so it "
        f"switches nothing (known kill switches: {', '.join(sorted(switches)) or 'none'})"
        for flag in sorted(flags)
        if flag not in switches
    ]
