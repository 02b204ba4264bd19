"""A flat script: the program's typed resources with real output references, no structure.

The reference point for "the program's structure costs nothing": the same pulumi_gcp
resources with the same inputs, the dead-letter and IAM references as real outputs,
but declared at module level in one loop, with no components, parents, modules or
validation. Run by the benchmark under the same mocks and runner settings:

    python benchmarks/flat.py      # with BENCH_TASKS=N, like the plan
"""

from __future__ import annotations

import sys
from pathlib import Path

import pulumi
import pulumi_gcp as gcp
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.generated_registry import routes
from infra import monitoring, naming, scheduler
from infra.settings import read_settings
from tools import stack_config
from tools.mocks import GoogleMocks, RecordingMonitor
from tools.runner import cyclic_gc_paused

pulumi.runtime.set_all_config(stack_config.merged_config("dev", ["flags={}"]))
settings = read_settings("dev")
P, REGION, URL, LABELS = settings.project, settings.region, settings.service_url, settings.resource_labels
APP = f"serviceAccount:{settings.app_service_account}"
monitor = RecordingMonitor(GoogleMocks(P, REGION))
pulumi.runtime.set_mocks(monitor.mocks, project="gyrinx-tasks", stack="dev", preview=False, monitor=monitor)

with cyclic_gc_paused():
    agent = gcp.projects.ServiceIdentity("pubsub-service-agent", project=P, service="pubsub.googleapis.com")
    account = gcp.serviceaccount.Account(
        "push-service-account",
        project=P,
        account_id="pubsub-invoker",
        display_name="Pub/Sub push to gyrinx tasks (dev)",
        description="Identity Pub/Sub signs OIDC tokens as when pushing tasks to Cloud Run.",
    )
    gcp.serviceaccount.IAMMember(
        "push-token-creator",
        service_account_id=account.name,
        role="roles/iam.serviceAccountTokenCreator",
        member=agent.member,
    )
    gcp.cloudrunv2.ServiceIamMember(
        "push-run-invoker", project=P, location=REGION, name="gyrinx", role="roles/run.invoker", member=account.member
    )
    for task in routes():
        n, ids = task.name, naming.task_names("dev", task.path)
        topic = gcp.pubsub.Topic(f"{n}-topic", name=ids.topic, project=P, labels=LABELS)
        dlq = gcp.pubsub.Topic(
            f"{n}-dlq", name=ids.dead_letter_topic, project=P, labels=LABELS, message_retention_duration="2678400s"
        )
        sub = gcp.pubsub.Subscription(
            f"{n}-sub",
            name=ids.subscription,
            project=P,
            topic=topic.id,
            ack_deadline_seconds=task.ack_deadline,
            push_config=gcp.pubsub.SubscriptionPushConfigArgs(
                push_endpoint=f"{URL}/tasks/pubsub/",
                oidc_token=gcp.pubsub.SubscriptionPushConfigOidcTokenArgs(
                    service_account_email=account.email, audience=URL
                ),
            ),
            retry_policy=gcp.pubsub.SubscriptionRetryPolicyArgs(
                minimum_backoff=f"{task.min_retry_delay}s", maximum_backoff=f"{task.max_retry_delay}s"
            ),
            dead_letter_policy=gcp.pubsub.SubscriptionDeadLetterPolicyArgs(
                dead_letter_topic=dlq.id, max_delivery_attempts=task.max_delivery_attempts
            ),
            expiration_policy=gcp.pubsub.SubscriptionExpirationPolicyArgs(ttl=""),
            labels=LABELS,
        )
        gcp.pubsub.Subscription(
            f"{n}-dlq-sub",
            name=ids.dead_letter_subscription,
            project=P,
            topic=dlq.id,
            ack_deadline_seconds=60,
            message_retention_duration="604800s",
            expiration_policy=gcp.pubsub.SubscriptionExpirationPolicyArgs(ttl=""),
            labels=LABELS,
        )
        gcp.pubsub.TopicIAMMember(
            f"{n}-dlq-publisher", project=P, topic=dlq.id, role="roles/pubsub.publisher", member=agent.member
        )
        gcp.pubsub.SubscriptionIAMMember(
            f"{n}-sub-subscriber", project=P, subscription=sub.id, role="roles/pubsub.subscriber", member=agent.member
        )
        gcp.pubsub.TopicIAMMember(
            f"{n}-app-publisher", project=P, topic=topic.id, role="roles/pubsub.publisher", member=APP
        )
        if task.schedule:
            gcp.cloudscheduler.Job(
                f"{n}-job",
                name=ids.job,
                project=P,
                region=REGION,
                description=naming.scheduler_description(n, task.schedule, task.schedule_timezone),
                schedule=task.schedule,
                time_zone=scheduler.normalise_time_zone(task.schedule_timezone),
                paused=False,
                pubsub_target=gcp.cloudscheduler.JobPubsubTargetArgs(topic_name=topic.id, data=scheduler.payload(n)),
                retry_config=gcp.cloudscheduler.JobRetryConfigArgs(
                    retry_count=3,
                    min_backoff_duration="5s",
                    max_backoff_duration="300s",
                    max_doublings=5,
                    max_retry_duration="0s",
                ),
                opts=pulumi.ResourceOptions(ignore_changes=["attempt_deadline"]),
            )
    monitoring.dead_letter_alert(settings)
    _sync_await(run_pulumi_func(lambda: None))
print(len(monitor.registrations), "resources")
