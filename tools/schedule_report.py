"""``python -m tools schedule``: every scheduled task, its next runs, DST traps and cost.

Cloud Scheduler reads a schedule in its job's time zone (zones come from the pinned
``tzdata`` package, :mod:`infra.time_zones`, so every machine reports the same). Where that zone observes
daylight saving, a run that falls in the hour skipped in spring does not happen, and one
in the hour repeated in autumn happens twice; this report finds them a year ahead.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from cron_descriptor import Options, get_description
from croniter import croniter

from infra import time_zones
from infra.registry import Task
from infra.scheduler import is_paused, normalise_time_zone
from infra.validation import gives_up_after
from tools import runner
from tools.arguments import add_stack_arguments

JOB_PRICE_USD = 0.10  # per job per month, paused jobs included
FREE_JOBS_PER_BILLING_ACCOUNT = 3
HORIZON = timedelta(days=366)


# English words and a 12-hour clock on every machine: by default cron_descriptor picks
# both from locale.getlocale(), which reads C.UTF-8 as en_US on Python 3.11 but as "C"
# from 3.12 on (so "At 01:30 AM" became "At 01:30").
_DESCRIBE = Options()
_DESCRIBE.locale_code = "en_US"
_DESCRIBE.use_24hour_time_format = False


@dataclass(frozen=True)
class DstTrap:
    """A local time the schedule fires at that the zone skips or repeats."""

    local: datetime  # naive wall-clock time in the job's zone
    kind: str  # "skipped" or "repeated"


def _transitions(zone: ZoneInfo, start: datetime, horizon: timedelta) -> list[tuple[datetime, timedelta, timedelta]]:
    """(instant in UTC, offset before, offset after) of each change of ``zone``'s UTC
    offset within ``horizon`` of ``start``; hourly steps, then narrowed to the minute."""
    found = []
    step = timedelta(hours=1)
    moment = start.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    end = moment + horizon

    def offset(instant: datetime) -> timedelta:
        return instant.astimezone(zone).utcoffset() or timedelta(0)

    before = offset(moment)
    while moment < end:
        after_moment = moment + step
        after = offset(after_moment)
        if after != before:
            low, high = moment, after_moment
            while high - low > timedelta(minutes=1):
                middle = low + (high - low) / 2
                if offset(middle) == before:
                    low = middle
                else:
                    high = middle
            found.append((high, before, after))
            before = after
        moment = after_moment
    return found


def dst_traps(schedule: str, time_zone: str, start: datetime, horizon: timedelta = HORIZON) -> list[DstTrap]:
    """Every run of ``schedule`` in ``time_zone`` within ``horizon`` of ``start`` that
    falls in a skipped (spring) or repeated (autumn) local hour."""
    zone = time_zones.zone(normalise_time_zone(time_zone))
    traps = []
    for instant, before, after in _transitions(zone, start, horizon):
        wall = (instant + min(before, after)).replace(tzinfo=None)  # the local time where the odd hour starts
        kind = "skipped" if after > before else "repeated"
        minutes = int(abs(after - before).total_seconds() // 60)
        for minute in range(minutes):
            local = wall + timedelta(minutes=minute)
            if croniter.match(schedule, local):
                traps.append(DstTrap(local, kind))
    return traps


def next_runs(schedule: str, time_zone: str, start: datetime, count: int = 3) -> list[datetime]:
    """The next ``count`` runs after ``start``, as aware datetimes in the job's zone."""
    zone = time_zones.zone(normalise_time_zone(time_zone))
    iterator = croniter(schedule, start.astimezone(zone))
    return [iterator.get_next(datetime) for _ in range(count)]


def monthly_cost(job_count: int) -> float:
    """Cloud Scheduler's list price for ``job_count`` jobs, before the free allowance
    (which is per billing account, so shared with every other project on it)."""
    return round(job_count * JOB_PRICE_USD, 2)


def report(tasks: Sequence[Task], flags: Mapping[str, bool], stack: str, now: datetime) -> str:
    """The text ``python -m tools schedule`` prints."""
    scheduled = [(task, task.schedule) for task in tasks if task.schedule is not None]
    lines = [f"Scheduled tasks of stack {stack} (as of {now.astimezone(UTC):%Y-%m-%d %H:%M} UTC):", ""]
    for task, schedule in scheduled:
        paused = is_paused(task, flags)
        state = f"PAUSED by kill switch {task.kill_switch}=false" if paused else "enabled"
        lines.append(f"{task.name}: {schedule.cron} ({schedule.time_zone}), {state}")
        lines.append(f"  {get_description(schedule.cron, _DESCRIBE)}, {schedule.time_zone} time")
        lines.append(
            f"  a failing run is delivered up to {task.max_delivery_attempts} times: it gives up after "
            f"{gives_up_after(task)} of failures, then is dead-lettered"
        )
        for run in next_runs(schedule.cron, schedule.time_zone, now):
            lines.append(f"  next: {run:%Y-%m-%d %H:%M %Z} = {run.astimezone(UTC):%Y-%m-%d %H:%M} UTC")
        for trap in dst_traps(schedule.cron, schedule.time_zone, now):
            what = (
                "does not exist (clocks go forward): Cloud Scheduler skips that run"
                if trap.kind == "skipped"
                else "happens twice (clocks go back): Cloud Scheduler may run it twice"
            )
            lines.append(f"  WARNING: {trap.local:%Y-%m-%d %H:%M} {schedule.time_zone} {what}; prefer UTC")
        lines.append("")
    if not scheduled:
        lines += ["(no scheduled tasks)", ""]
    paused_count = sum(is_paused(task, flags) for task, _ in scheduled)
    lines.append(
        f"Cost: {len(scheduled)} jobs ({paused_count} paused, billed all the same) x ${JOB_PRICE_USD:.2f} = "
        f"${monthly_cost(len(scheduled)):.2f}/month; the first {FREE_JOBS_PER_BILLING_ACCOUNT} jobs per billing "
        "account are free, shared with every project on it."
    )
    return "\n".join(lines) + "\n"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``schedule``."""
    add_stack_arguments(parser)
    parser.add_argument("--now", type=datetime.fromisoformat, help="report as of this time (default: now)")


def run(args: argparse.Namespace) -> int:
    """Print the report for ``--stack``."""
    settings, tasks = runner.load_stack(args.stack, args.config)
    now = args.now or datetime.now(UTC)
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    sys.stdout.write(report(tasks, settings.flags, args.stack, now))
    return 0
