"""The task registry: every task the app can run, with its route.

Task modules are imported lazily, inside ``_get_tasks``, so importing the registry
never imports the tasks (and, in the app, never imports Django models too early).
"""

from __future__ import annotations

from example_app.tasks.route import TaskRoute


def _get_tasks() -> list[TaskRoute]:
    from example_app.core import tasks

    return [
        TaskRoute(tasks.hello_world),
        TaskRoute(tasks.send_notification),
        TaskRoute(tasks.cleanup_expired_sessions, schedule="0 3 * * *"),
        TaskRoute(
            tasks.send_daily_digest,
            schedule="0 9 * * *",
            schedule_timezone="Europe/London",
        ),
        # Long-running: the longest ack deadline Pub/Sub allows, and the backoff
        # capped at Pub/Sub's 600 s maximum.
        TaskRoute(
            tasks.process_large_file,
            ack_deadline=600,
            min_retry_delay=60,
            max_retry_delay=600,
        ),
        TaskRoute(
            tasks.expensive_batch_job,
            ack_deadline=600,
            schedule="0 2 * * *",
            kill_switch="ENABLE_BATCH_JOB",
        ),
        # An explicit count must still keep retrying through an hour of failure (the
        # plan warns otherwise): 20 with the default backoff rides out about 2 hours.
        TaskRoute(tasks.backfill_user_data, ack_deadline=600, max_delivery_attempts=20),
        TaskRoute(tasks.sync_external_data, schedule="*/15 * * * *", min_retry_delay=30),
        TaskRoute(tasks.send_email, ack_deadline=60, max_delivery_attempts=15),
        TaskRoute(tasks.refresh_list_facts, ack_deadline=120),
    ]


def get_all_tasks() -> list[TaskRoute]:
    """Every registered route, in registration order."""
    return _get_tasks()


def get_task(name: str) -> TaskRoute:
    """The route of the task called ``name``; ``KeyError`` when there is none."""
    for route in _get_tasks():
        if route.name == name:
            return route
    raise KeyError(f"no task named {name!r} in the registry")
