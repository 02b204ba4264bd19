"""Every check on the registry's tasks, run before anything is declared.

Each problem is one line naming the task, the value and what is allowed; all of them
are returned together so one run shows everything that needs fixing. Also here: the
dead-letter arithmetic (how many delivery attempts keep a task retrying through an
outage), which both the program and the reports use.
"""

from __future__ import annotations

import difflib
import keyword
import re
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfoNotFoundError

from croniter import CroniterBadDateError, croniter

from infra import naming, ownership, time_zones
from infra.registry import RawRoute, Schedule, Task

ACK_DEADLINE = (10, 600)
BACKOFF = (0, 600)
DELIVERY_ATTEMPTS = (5, 100)
DESCRIPTION_MAX = 500

_KILL_SWITCH = re.compile(r"[A-Z][A-Z0-9_]*")
CRON_EXAMPLES = "e.g. '0 3 * * *' daily at 03:00, '*/15 * * * *' every 15 minutes"


# --- Dead-letter arithmetic --------------------------------------------------------
#
# The app answers 429 (concurrency exhausted) or 500 (the task raised) during an
# outage, and both are meant to be retried; a dead-letter policy that gives up after
# a few minutes turns a short outage into dead letters. So when a route does not say
# how many delivery attempts it gets, it gets enough to keep retrying through
# RETRY_WINDOW seconds of failure.
#
# The model (stated, since Google documents the policy but not the formula): Pub/Sub
# waits minimumBackoff after the first failed delivery and "for each consecutive
# failure on that message, more time is added to the delay, up to a maximum backoff
# time" (https://cloud.google.com/pubsub/docs/handling-failures); RetryPolicy is
# "exponential based on provided minimum and maximum backoffs"
# (https://cloud.google.com/pubsub/docs/reference/rest/v1/projects.subscriptions#retrypolicy).
# Modelled as doubling: delays min, 2*min, 4*min, ... each capped at max. Every
# delivery is counted as failing at once (a 429 or 500 answered immediately, not an
# ack deadline running out), so N attempts span the N-1 delays between them: the
# shortest time in which a message can be dead-lettered, hence a conservative count.
# Pub/Sub applies both the backoff and the attempt count on a best-effort basis
# (DeadLetterPolicy: "This field will be honored on a best effort basis").
RETRY_WINDOW = 3600


def retry_window(min_retry_delay: int, max_retry_delay: int, attempts: int) -> int:
    """Seconds from a message's first delivery to its dead-lettering when every one of
    its ``attempts`` deliveries fails at once: the ``attempts - 1`` backoff delays
    ``min, 2*min, 4*min, ...``, each capped at ``max``."""
    return sum(min(min_retry_delay * 2**retry, max_retry_delay) for retry in range(attempts - 1))


def default_delivery_attempts(min_retry_delay: int, max_retry_delay: int) -> int:
    """The fewest delivery attempts Pub/Sub allows (5-100) that keep a task with this
    backoff retrying through :data:`RETRY_WINDOW` seconds of failure; 100 when even
    that is too few (see :func:`retry_warnings`)."""
    low, high = DELIVERY_ATTEMPTS
    for attempts in range(low, high + 1):
        if retry_window(min_retry_delay, max_retry_delay, attempts) >= RETRY_WINDOW:
            return attempts
    return high


def gives_up_after(task: Task) -> str:
    """How long ``task`` keeps retrying a failing message before dead-lettering it,
    in words ("about 60 minutes"), by the model above."""
    return describe_seconds(retry_window(task.min_retry_delay, task.max_retry_delay, task.max_delivery_attempts))


def describe_seconds(seconds: int) -> str:
    """A retry window in words: whole minutes (rounded down), or seconds under two minutes."""
    return f"about {seconds} seconds" if seconds < 120 else f"about {seconds // 60} minutes"


def retry_warnings(tasks: Iterable[Task]) -> list[str]:
    """Tasks that give up on a failing message within :data:`RETRY_WINDOW` seconds: those
    whose backoff cannot ride out that long even with Pub/Sub's maximum of 100 delivery
    attempts, and those whose ``max_delivery_attempts`` (set by the route) is too few for
    their backoff. A default count is always enough when any count is."""
    high = DELIVERY_ATTEMPTS[1]
    warnings = []
    for task in tasks:
        longest = retry_window(task.min_retry_delay, task.max_retry_delay, high)
        given = retry_window(task.min_retry_delay, task.max_retry_delay, task.max_delivery_attempts)
        if longest >= RETRY_WINDOW and given < RETRY_WINDOW:
            enough = default_delivery_attempts(task.min_retry_delay, task.max_retry_delay)
            warnings.append(
                f"task {task.name}: max_delivery_attempts {task.max_delivery_attempts} with min_retry_delay "
                f"{task.min_retry_delay} and max_retry_delay {task.max_retry_delay} gives up after "
                f"{describe_seconds(given)} of failures, less than the {RETRY_WINDOW // 60} minutes an outage may "
                f"last; raise it to {enough} (or leave it unset, which picks that)"
            )
        elif longest < RETRY_WINDOW:
            warnings.append(
                f"task {task.name}: with min_retry_delay {task.min_retry_delay} and max_retry_delay "
                f"{task.max_retry_delay}, even {high} delivery attempts give up after {describe_seconds(longest)} "
                f"of failures, less than the {RETRY_WINDOW // 60} minutes an outage may last; raise "
                + ("min_retry_delay (a zero delay never grows)" if task.min_retry_delay == 0 else "max_retry_delay")
            )
    return warnings


# --- Schedules -------------------------------------------------------------------
#
# What Cloud Scheduler reads, as a positive grammar rather than a list of croniter's
# extensions to refuse (croniter also takes R, L, W, #, ?, H, 'a/n' and wrapping
# ranges, none of which Cloud Scheduler has). From
# https://cloud.google.com/scheduler/docs/configuring/cron-job-schedules: five fields;
# minute 0-59, hour 0-23, day of month 1-31, month 1-12 or JAN-DEC, day of week 0-6
# or SUN-SAT, or 7 for Sunday (names: the first three letters, in uppercase); a field
# is "*" ("first-last"), a value, or a range "a-b" (inclusive), a range or "*" may be
# followed by "/NUMBER" ("skips of the number's value through the range"), and a list
# joins these with commas.


@dataclass(frozen=True)
class CronField:
    """One field of a unix-cron schedule: what it is called, its range, its names."""

    name: str
    low: int
    high: int
    names: Mapping[str, int] = field(default_factory=dict)

    def value(self, token: str) -> int | None:
        """``token`` (digits or an uppercase name) as a number in range, or None."""
        number = int(token) if token.isdigit() else self.names.get(token)
        return number if number is not None and self.low <= number <= self.high else None

    def allowed(self) -> str:
        """The values the field takes, in words."""
        names = list(self.names)
        return f"{self.low}-{self.high}" + (f" or {names[0]}-{names[-1]}" if names else "")


_MONTHS = {
    name: number
    for number, name in enumerate(
        ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"], 1
    )
}
_WEEKDAYS = {name: number for number, name in enumerate(["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"])}
CRON_FIELDS = (
    CronField("minute", 0, 59),
    CronField("hour", 0, 23),
    CronField("day of month", 1, 31),
    CronField("month", 1, 12, _MONTHS),
    CronField("day of week", 0, 7, _WEEKDAYS),  # 0 and 7 are both Sunday
)
_ELEMENT = re.compile(
    r"(?:(?P<star>\*)|(?P<first>[0-9]+|[A-Za-z]+)(?:-(?P<last>[0-9]+|[A-Za-z]+))?)(?:/(?P<step>[0-9]+))?"
)
# The longest gap between two runs of a schedule that fires at all: a run on 29
# February waits 8 years across a century that is not a leap year (2096 to 2104).
NEVER_FIRES_YEARS = 8
_NEVER_FIRES_FROM = datetime(2001, 1, 1)  # fixed, so the verdict never depends on the clock


def _element_problem(cron_field: CronField, element: str) -> str | None:
    match = _ELEMENT.fullmatch(element)
    if not match:
        return f"{cron_field.name} has {element!r}, which is not *, a value, a range a-b, or one of those with /step"
    if match["step"] is not None and match["star"] is None and match["last"] is None:
        return f"{cron_field.name} has {element!r}: a /step follows only * or a range (a-b/step)"
    values = []
    for token in (match["first"], match["last"]):
        if token is None:
            continue
        value = cron_field.value(token)
        if value is None:
            return f"{cron_field.name} has {token!r}, which is not {cron_field.allowed()}"
        values.append(value)
    if len(values) == 2 and values[0] > values[1]:
        return f"{cron_field.name} has the range {element!r}, which runs backwards"
    if match["step"] is not None and not 1 <= int(match["step"]) <= cron_field.high:
        return f"{cron_field.name} has the step /{match['step']}; a step is 1-{cron_field.high}"
    return None


def cron_problem(schedule: Any) -> str | None:
    """Why ``schedule`` is not a unix-cron expression Cloud Scheduler reads and fires, or None."""
    if not isinstance(schedule, str):
        return f"schedule {schedule!r} must be a string, not {type(schedule).__name__}"
    fields = schedule.split()
    if len(fields) != len(CRON_FIELDS):
        return (
            f"schedule {schedule!r} has {len(fields)} field{'' if len(fields) == 1 else 's'}; unix-cron needs 5 "
            f"(minute hour day-of-month month day-of-week; {CRON_EXAMPLES})"
        )
    for cron_field, text in zip(CRON_FIELDS, fields, strict=True):
        for element in text.split(","):
            problem = _element_problem(cron_field, element)
            if problem:
                return (
                    f"schedule {schedule!r} is not unix-cron as Cloud Scheduler reads it: {problem} ({CRON_EXAMPLES})"
                )
    if not croniter.is_valid(schedule):  # the reports read it with croniter too
        return f"schedule {schedule!r} is not unix-cron ({CRON_EXAMPLES})"
    try:
        croniter(schedule, _NEVER_FIRES_FROM, max_years_between_matches=NEVER_FIRES_YEARS).get_next(datetime)
    except CroniterBadDateError:
        return f"schedule {schedule!r} never fires: no date has that day of month in those months"
    return None


def timezone_problem(time_zone: Any) -> str | None:
    """Why ``time_zone`` is not a tz database name in the pinned ``tzdata``, or None."""
    if not isinstance(time_zone, str):
        return f"schedule_timezone {time_zone!r} must be a string, not {type(time_zone).__name__}"
    try:
        time_zones.zone(time_zone)
    except ZoneInfoNotFoundError:
        return f"schedule_timezone {time_zone!r} is not a tz database name (e.g. 'UTC', 'Europe/London')"
    return None


# --- One task ----------------------------------------------------------------------


def _label(name: str) -> str:
    """How a problem names its task: bare when the name is well formed, quoted when not."""
    return f"task {name}" if name_problem(name) is None else f"task {name!r}"


def name_problem(name: str) -> str | None:
    """Why ``name`` is not a task name, or None.

    A task's name is its function's ``__name__`` (the push handler routes by it), so it
    is a Python identifier that is not a keyword: ``def class():`` cannot exist, so a
    keyword names no task the app can run (soft keywords such as ``match`` can be
    function names and are allowed). Identifiers hold no ``-``, which keeps every
    child's logical name ``{task}{suffix}`` unambiguous (:mod:`infra.ownership`).
    """
    if not name:
        return "name is empty; a task's name is its function's name"
    if not name.isidentifier() or keyword.iskeyword(name):
        return (
            f"name {name!r} is not a Python function name (letters, digits and _, not starting with a "
            "digit, not a keyword); the push handler routes by the function's name"
        )
    return None


def path_problem(name: str, path: str) -> str | None:
    """Why ``path`` is not the app's ``f"{func.__module__}.{func.__name__}"`` for a task
    called ``name``, or None. Every resource id is built from it, and ids built from
    dotted identifiers can neither collide across kinds (a path ending ``-dlq``) nor when
    a job id turns its dots into hyphens."""
    module, dot, function = path.rpartition(".")
    if not dot or function != name or not all(part.isidentifier() for part in module.split(".")):
        return f"path {path!r} must be module.{name}: the module that defines the function, then its name"
    return None


def _integer_problem(key: str, value: Any, bounds: tuple[int, int], unit: str) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int):
        return f"{key} {value!r} must be an integer, not {type(value).__name__}"
    low, high = bounds
    if not low <= value <= high:
        return f"{key} {value} is outside {low}-{high}{unit}"
    return None


def _task_problems(task: RawRoute, environment: str) -> Iterator[str]:
    for problem in (name_problem(task.name), path_problem(task.name, task.path)):
        if problem:
            yield problem
    problem = _integer_problem("ack_deadline", task.ack_deadline, ACK_DEADLINE, " seconds")
    if problem:
        yield problem
    backoffs_valid = True
    for key in ("min_retry_delay", "max_retry_delay"):
        problem = _integer_problem(key, getattr(task, key), BACKOFF, " seconds (Pub/Sub's backoff range)")
        if problem:
            backoffs_valid = False
            yield problem
    if backoffs_valid and task.min_retry_delay > task.max_retry_delay:
        yield f"min_retry_delay {task.min_retry_delay} is above max_retry_delay {task.max_retry_delay}"
    if task.max_delivery_attempts is not None:
        problem = _integer_problem(
            "max_delivery_attempts", task.max_delivery_attempts, DELIVERY_ATTEMPTS, " (Pub/Sub's dead-letter range)"
        )
        if problem:
            yield problem
    if task.kill_switch is not None:
        if not isinstance(task.kill_switch, str):
            yield f"kill_switch {task.kill_switch!r} must be a string, not {type(task.kill_switch).__name__}"
        elif not _KILL_SWITCH.fullmatch(task.kill_switch):
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


# --- Across tasks ------------------------------------------------------------------


@dataclass(frozen=True)
class _Claim:
    """One identifier a task takes in a namespace where it must be unique."""

    namespace: str  # ids are unique per namespace: topics, subscriptions, jobs, URNs
    key: str
    what: str  # as the problem names it: "topic id", "dead-letter topic id", ...


def _claims(task: RawRoute, environment: str) -> Iterator[_Claim]:
    """Everything ``task`` would name: its Google ids (topics and dead-letter topics
    share the project's topic namespace, subscriptions likewise) and the URN of every
    resource it declares. A URN is ``{parent type}${type}::{logical name}``; a task's
    children are children of its ``TaskQueue``, so they can only meet another task's
    (the stack's shared resources have other parent types or none)."""
    names = naming.task_names(environment, task.path)
    yield _Claim("topic", names.topic, "topic id")
    yield _Claim("topic", names.dead_letter_topic, "dead-letter topic id")
    yield _Claim("subscription", names.subscription, "subscription id")
    yield _Claim("subscription", names.dead_letter_subscription, "dead-letter subscription id")
    if task.schedule is not None:
        yield _Claim("job", names.job, "scheduler job id")
    for child in ownership.CHILDREN:
        if child is not ownership.JOB or task.schedule is not None:
            urn = f"{ownership.TASK_COMPONENT}${child.type}::{child.logical_name(task.name)}"
            yield _Claim("urn", urn, f"resource {child.logical_name(task.name)} ({child.type})")


_UNIQUE_IN = {
    "topic": "topic ids (dead-letter topics' too) are unique per project",
    "subscription": "subscription ids (dead-letter subscriptions' too) are unique per project",
    "job": "job ids are unique per project and region, and a job id turns the path's dots into hyphens",
}


def collision_problems(tasks: Sequence[RawRoute], environment: str) -> dict[int, list[str]]:
    """By task index, every id or URN that task shares with an earlier task.

    Tasks of one name are left to the duplicate-name problem (a route registered twice
    shares everything, and one line says so)."""
    owner: dict[tuple[str, str], tuple[RawRoute, _Claim]] = {}
    problems: dict[int, list[str]] = defaultdict(list)
    for index, task in enumerate(tasks):
        for claim in _claims(task, environment):
            earlier = owner.setdefault((claim.namespace, claim.key), (task, claim))
            other, other_claim = earlier
            if other is task or other.name == task.name:
                continue
            if claim.namespace == "urn":
                problems[index].append(
                    f"declares {claim.what}, as {_label(other.name)} does: Pulumi needs every resource URN unique"
                )
            else:
                why = _UNIQUE_IN[claim.namespace]
                problems[index].append(
                    f"{claim.what} {claim.key!r} is also {_label(other.name)}'s {other_claim.what}; {why}"
                )
    return problems


def _checked(route: RawRoute) -> Task:
    """``route`` as a typed record; only for a route with no problems."""
    attempts = route.max_delivery_attempts
    return Task(
        name=route.name,
        path=route.path,
        ack_deadline=route.ack_deadline,
        min_retry_delay=route.min_retry_delay,
        max_retry_delay=route.max_retry_delay,
        max_delivery_attempts=(
            default_delivery_attempts(route.min_retry_delay, route.max_retry_delay) if attempts is None else attempts
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
                f"{_label(name)}: registered {len(paths)} times ({', '.join(paths)}); task names must be "
                "unique because the push handler routes by bare name"
            )

    collisions = collision_problems(tasks, environment)
    for index, task in enumerate(tasks):
        own = [*_task_problems(task, environment), *collisions.get(index, [])]
        problems.extend(f"{_label(task.name)}: {problem}" for problem in own)
    return problems


def flag_problems(routes: Iterable[RawRoute | Task], stack: str, flags: Mapping[str, bool]) -> list[str]:
    """This stack's flags that no route names as its ``kill_switch``.

    The deploy writes each flag into the Cloud Run service's environment
    (.github/scripts/cloud_run_flags.py), so a flag that switches no task would set, or
    on its removal delete, any variable of the app: SECRET_KEY, GOOGLE_CLOUD_PROJECT
    (issue 15). So a flag may only name a route's kill switch; a typo is told the kill
    switch it most resembles."""
    switches = sorted({route.kill_switch for route in routes if isinstance(route.kill_switch, str)})
    problems = []
    for flag in sorted(flags):
        if flag in switches:
            continue
        close = difflib.get_close_matches(flag, switches, n=1, cutoff=0.8)
        hint = f"did you mean {close[0]}? " if close else ""
        problems.append(
            f"config gyrinx-tasks:flags: flag {flag} in stack {stack} is not the kill_switch of any task; a flag may "
            f"only name a task's kill switch, since the deploy writes it into the app's environment ({hint}known "
            f"kill switches: {', '.join(switches) or 'none'})"
        )
    return problems
