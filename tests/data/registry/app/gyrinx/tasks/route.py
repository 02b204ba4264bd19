"""``TaskRoute``, with exactly the fields of gyrinx-app/gyrinx gyrinx/tasks/route.py."""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings


@dataclass
class TaskRoute:
    """A registered task and its delivery settings (no max_delivery_attempts, no kill_switch)."""

    func: Callable[..., Any]
    ack_deadline: int = 300
    min_retry_delay: int = 10
    max_retry_delay: int = 600
    schedule: str | None = None
    schedule_timezone: str = "UTC"

    @property
    def _underlying_func(self) -> Callable[..., Any]:
        # Django's @task wraps the function in a Task whose .func is the function.
        return getattr(self.func, "func", self.func)

    @property
    def name(self) -> str:
        """The function's name (e.g. ``send_welcome_email``)."""
        return self._underlying_func.__name__

    @property
    def path(self) -> str:
        """``module.function`` of the task."""
        func = self._underlying_func
        return f"{func.__module__}.{func.__name__}"

    @property
    def topic_name(self) -> str:
        """The Pub/Sub topic the app publishes to: ``{env}--gyrinx.tasks--{path}``."""
        env = getattr(settings, "TASKS_ENVIRONMENT", "dev")
        return f"{env}--gyrinx.tasks--{self.path}"
