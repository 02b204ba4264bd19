"""The edition's tasks and their routes: defaults, a long ack deadline, a schedule."""

from django.tasks import task
from gyrinx.tasks import TaskRoute


@task
def hello_world() -> None:
    """A task with every default."""


@task
def backfill_pins() -> None:
    """A long batch: the longest ack deadline and a slower backoff."""


@task
def cleanup_expired(days: int = 30) -> None:
    """A nightly task, scheduled in London time."""


task_routes = [
    TaskRoute(hello_world),
    TaskRoute(backfill_pins, ack_deadline=600, min_retry_delay=60, max_retry_delay=600),
    TaskRoute(cleanup_expired, ack_deadline=120, schedule="0 3 * * *", schedule_timezone="Europe/London"),
]
