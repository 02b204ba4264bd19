"""The ``TaskRoute`` a task is registered with.

Constructing a route never raises for a bad value: the infrastructure program
validates every route at once and reports all problems together, naming each task.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class TaskRoute:
    """One registered task and its delivery settings.

    Args:
        func: the task function, or an object wrapping it in ``.func`` (a Django ``Task``).
        ack_deadline: seconds Pub/Sub waits for the push handler before redelivering (10-600).
        min_retry_delay: minimum redelivery backoff in seconds (0-600).
        max_retry_delay: maximum redelivery backoff in seconds (0-600, at least the minimum).
        schedule: optional 5-field unix-cron expression; the task then gets a scheduler job.
        schedule_timezone: tz database name the schedule is read in.
        max_delivery_attempts: deliveries before a message goes to the dead-letter topic (5-100);
            None lets the program choose enough to keep retrying through an hour of failure.
        kill_switch: name of an env flag (e.g. ``"ENABLE_BATCH_JOB"``); a stack whose
            ``flags`` set it to false pauses the task's scheduler job.
    """

    func: Callable[..., Any]
    ack_deadline: int = 300
    min_retry_delay: int = 10
    max_retry_delay: int = 600
    schedule: str | None = None
    schedule_timezone: str = "UTC"
    max_delivery_attempts: int | None = None
    kill_switch: str | None = None

    @property
    def _underlying_func(self) -> Callable[..., Any]:
        # A Django Task keeps the original function in .func.
        return getattr(self.func, "func", self.func)

    @property
    def name(self) -> str:
        """The function's bare name; the push handler routes by it."""
        return self._underlying_func.__name__

    @property
    def path(self) -> str:
        """``module.function`` of the module that defines the function."""
        func = self._underlying_func
        return f"{func.__module__}.{func.__name__}"

    @property
    def is_scheduled(self) -> bool:
        """True when the task runs on a cron schedule."""
        return self.schedule is not None
