"""Resource ids the running app expects, and Google's rules for them.

The ids are the contract with the app (gyrinx-app/gyrinx, ``gyrinx/tasks``: its
``TaskRoute.topic_name`` and scheduler provisioning): the app publishes to ``{env}--gyrinx.tasks--{path}`` and the push handler routes by task name,
so these formats must not change.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Pub/Sub topic and subscription ids: 3-255 chars, a letter first, then [A-Za-z0-9-_.~+%].
_PUBSUB_ID = re.compile(r"[A-Za-z][A-Za-z0-9\-_.~+%]{2,254}")
# Cloud Scheduler job ids: [A-Za-z0-9_-], at most 500 chars.
_JOB_ID = re.compile(r"[A-Za-z0-9_-]{1,500}")


@dataclass(frozen=True)
class TaskNames:
    """The Google resource ids of one task in one environment."""

    topic: str
    subscription: str
    dead_letter_topic: str
    dead_letter_subscription: str
    job: str


def topic_id(environment: str, path: str) -> str:
    """The task topic id the app publishes to."""
    return f"{environment}--gyrinx.tasks--{path}"


def scheduler_job_id(environment: str, path: str) -> str:
    """The scheduler job id; job ids allow no dots, so they become hyphens."""
    return f"{environment}--gyrinx-scheduler--{path.replace('.', '-')}"


def scheduler_description(name: str, schedule: str, time_zone: str) -> str:
    """The job description the app has always used (kept, so adopting a job shows no diff)."""
    return f"Scheduled task: {name} ({schedule} {time_zone})"


def task_names(environment: str, path: str) -> TaskNames:
    """Every resource id of the task at ``path`` (job id included, scheduled or not)."""
    topic = topic_id(environment, path)
    return TaskNames(
        topic=topic,
        subscription=f"{topic}-sub",
        dead_letter_topic=f"{topic}-dlq",
        dead_letter_subscription=f"{topic}-dlq-sub",
        job=scheduler_job_id(environment, path),
    )


def service_account_email(account_id: str, project: str) -> str:
    """The email Google gives a service account created in ``project``."""
    return f"{account_id}@{project}.iam.gserviceaccount.com"


def pubsub_id_problem(resource_id: str) -> str | None:
    """Why ``resource_id`` is not a valid topic or subscription id, or None."""
    if not 3 <= len(resource_id) <= 255:
        return f"is {len(resource_id)} characters long (Pub/Sub allows 3-255)"
    if resource_id.lower().startswith("goog"):
        return 'starts with "goog", which Pub/Sub reserves'
    if not _PUBSUB_ID.fullmatch(resource_id):
        return "must start with a letter and use only letters, digits and - _ . ~ + %"
    return None


def job_id_problem(job_id: str) -> str | None:
    """Why ``job_id`` is not a valid Cloud Scheduler job id, or None."""
    if len(job_id) > 500:
        return f"is {len(job_id)} characters long (Cloud Scheduler allows at most 500)"
    if not _JOB_ID.fullmatch(job_id):
        return "may use only letters, digits, - and _"
    return None


# Google's full resource names (the REST resources' ``name``, and Pulumi's import ids):
# Pub/Sub https://cloud.google.com/pubsub/docs/reference/rest/v1/projects.topics and
# .subscriptions, Cloud Scheduler .../scheduler/docs/reference/rest/v1/projects.locations.jobs,
# IAM .../iam/docs/reference/rest/v1/projects.serviceAccounts.
def topic_path(project: str, topic: str) -> str:
    """``projects/{project}/topics/{topic}``."""
    return f"projects/{project}/topics/{topic}"


def subscription_path(project: str, subscription: str) -> str:
    """``projects/{project}/subscriptions/{subscription}``."""
    return f"projects/{project}/subscriptions/{subscription}"


def job_path(project: str, region: str, job: str) -> str:
    """``projects/{project}/locations/{region}/jobs/{job}``."""
    return f"projects/{project}/locations/{region}/jobs/{job}"


def service_account_path(project: str, email: str) -> str:
    """``projects/{project}/serviceAccounts/{email}``."""
    return f"projects/{project}/serviceAccounts/{email}"


def cloud_run_service_path(project: str, region: str, service: str) -> str:
    """``projects/{project}/locations/{region}/services/{service}`` (Cloud Run Admin API v2)."""
    return f"projects/{project}/locations/{region}/services/{service}"


def project_service_id(project: str, service: str) -> str:
    """``{project}/{service}``: the provider's id of an enabled API (terraform-provider-google
    resource_google_project_service.go; ``pulumi import ... your-project-id/iam.googleapis.com``)."""
    return f"{project}/{service}"


def service_identity_path(project: str, service: str) -> str:
    """``projects/{project}/services/{service}``: the provider's id of a service identity."""
    return f"projects/{project}/services/{service}"
