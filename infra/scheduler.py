"""The Cloud Scheduler job of a scheduled task, and the exact payload the app expects."""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping

import pulumi
import pulumi_gcp as gcp

from infra import naming, ownership
from infra.project_apis import ProjectApis
from infra.registry import Schedule, Task
from infra.settings import Settings

# The app's scheduler retry today (gyrinx-app/gyrinx, gyrinx/tasks/provisioning.py:
# retry_count 3, 5 s to 300 s). All five fields are set:
# a partly set retry_config diffs forever against the server's defaults.
RETRY_COUNT = 3
MIN_BACKOFF = "5s"
MAX_BACKOFF = "300s"
MAX_DOUBLINGS = 5
MAX_RETRY_DURATION = "0s"  # 0 = unlimited, as Google reports it back

# UTC in the spelling Cloud Scheduler uses ("Etc/UTC" is its default time zone,
# https://cloud.google.com/scheduler/docs/configuring/cron-job-schedules), for every
# tz database alias of UTC (tzdata's "backward" links). Public reports of a perpetual
# diff between "UTC" and "Etc/UTC" are why one spelling is declared; that Google
# normalises every alias this way is not verified against the live API (no cloud here).
_UTC_ALIASES = frozenset({"UTC", "Etc/UTC", "Etc/UCT", "UCT", "Etc/Universal", "Universal", "Etc/Zulu", "Zulu"})
GOOGLE_UTC = "Etc/UTC"


def normalise_time_zone(time_zone: str) -> str:
    """The spelling Cloud Scheduler reports for ``time_zone``."""
    return GOOGLE_UTC if time_zone in _UTC_ALIASES else time_zone


def payload(task_name: str) -> str:
    """Base64 of the message the push handler expects for a scheduled run."""
    message = json.dumps({"task_id": f"scheduled-{task_name}", "task_name": task_name, "args": [], "kwargs": {}})
    return base64.b64encode(message.encode("utf-8")).decode("ascii")


def is_paused(task: Task, flags: Mapping[str, bool]) -> bool:
    """A job is paused when its kill switch is set to false in this stack's flags."""
    return task.kill_switch is not None and flags.get(task.kill_switch) is False


def declare_job(
    task: Task,
    schedule: Schedule,
    topic: gcp.pubsub.Topic,
    settings: Settings,
    parent: pulumi.Resource,
    apis: ProjectApis,
) -> gcp.cloudscheduler.Job:
    """Declare the job that publishes ``task``'s payload to ``topic`` on ``schedule``."""
    return gcp.cloudscheduler.Job(
        ownership.JOB.logical_name(task.name),
        name=naming.scheduler_job_id(settings.environment, task.path),
        project=settings.project,
        region=settings.region,
        description=naming.scheduler_description(task.name, schedule.cron, schedule.time_zone),
        schedule=schedule.cron,
        time_zone=normalise_time_zone(schedule.time_zone),
        paused=is_paused(task, settings.flags),
        pubsub_target=gcp.cloudscheduler.JobPubsubTargetArgs(topic_name=topic.id, data=payload(task.name)),
        retry_config=gcp.cloudscheduler.JobRetryConfigArgs(
            retry_count=RETRY_COUNT,
            min_backoff_duration=MIN_BACKOFF,
            max_backoff_duration=MAX_BACKOFF,
            max_doublings=MAX_DOUBLINGS,
            max_retry_duration=MAX_RETRY_DURATION,
        ),
        # Pub/Sub-target jobs report attemptDeadline as "180s" whatever is declared
        # (pulumi/pulumi-gcp#3442): without this every preview shows an update.
        opts=pulumi.ResourceOptions(
            parent=parent,
            ignore_changes=["attempt_deadline"],
            depends_on=apis.needs("cloudscheduler.googleapis.com"),
        ),
    )
