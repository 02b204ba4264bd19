"""The per-task component: topic, push subscription, dead-lettering and their IAM."""

from __future__ import annotations

import pulumi
import pulumi_gcp as gcp

from infra import naming
from infra.registry import Task
from infra.scheduler import declare_job
from infra.settings import Settings
from infra.shared_iam import SharedIam

# Dead letters are kept as long as Pub/Sub allows: 7 days on the subscription, and 31
# days on the topic so a new subscription can still seek back to them.
DEAD_LETTER_SUBSCRIPTION_RETENTION = "604800s"
DEAD_LETTER_TOPIC_RETENTION = "2678400s"
# Time for a person pulling a dead letter with gcloud to look at it before it is redelivered.
DEAD_LETTER_ACK_DEADLINE = 60
# An empty ttl means "never expires"; unset, Google deletes a subscription after 31
# idle days, and a quiet task would silently lose its delivery.
NEVER_EXPIRES = gcp.pubsub.SubscriptionExpirationPolicyArgs(ttl="")


def _seconds(value: int) -> str:
    # Durations are declared the way Google reports them back ("10s"), so they never diff.
    return f"{value}s"


class TaskQueue(pulumi.ComponentResource):
    """Everything one task needs to be delivered, retried and dead-lettered.

    Children (logical names derive from the task's name, so one task's change never
    renames another's resources):

    - ``{name}-topic``: the topic the app publishes to;
    - ``{name}-sub``: the OIDC push subscription to ``{serviceUrl}/tasks/pubsub/``,
      with the route's ack deadline, backoff and dead-letter policy, never expiring;
    - ``{name}-dlq`` and ``{name}-dlq-sub``: the dead-letter topic and the pull
      subscription that keeps what lands there;
    - ``{name}-dlq-publisher`` and ``{name}-sub-subscriber``: the Pub/Sub service
      agent's grants, without either of which nothing is ever dead-lettered;
    - ``{name}-app-publisher``: the app's runtime account may publish (when configured);
    - ``{name}-job``: the Cloud Scheduler job, for a scheduled task.

    Call depth costs time here: the SDK converts every stack frame above a resource's
    constructor into its stack trace, once per resource. So children are declared
    directly in ``__init__`` and the program declares tasks in a plain loop.
    """

    def __init__(
        self,
        task: Task,
        settings: Settings,
        shared: SharedIam,
        opts: pulumi.ResourceOptions | None = None,
    ):
        super().__init__("gyrinx-tasks:index:TaskQueue", task.name, None, opts)
        name = task.name
        names = naming.task_names(settings.environment, task.path)
        labels = settings.resource_labels
        child = pulumi.ResourceOptions(parent=self)
        agent = shared.pubsub_agent_member

        self.topic = gcp.pubsub.Topic(
            f"{name}-topic", name=names.topic, project=settings.project, labels=labels, opts=child
        )
        self.dead_letter_topic = gcp.pubsub.Topic(
            f"{name}-dlq",
            name=names.dead_letter_topic,
            project=settings.project,
            labels=labels,
            message_retention_duration=DEAD_LETTER_TOPIC_RETENTION,
            opts=child,
        )
        self.subscription = gcp.pubsub.Subscription(
            f"{name}-sub",
            name=names.subscription,
            project=settings.project,
            topic=self.topic.id,
            ack_deadline_seconds=task.ack_deadline,
            push_config=gcp.pubsub.SubscriptionPushConfigArgs(
                push_endpoint=settings.push_endpoint,
                oidc_token=gcp.pubsub.SubscriptionPushConfigOidcTokenArgs(
                    service_account_email=shared.push_account_email,
                    audience=settings.service_url,
                ),
            ),
            retry_policy=gcp.pubsub.SubscriptionRetryPolicyArgs(
                minimum_backoff=_seconds(task.min_retry_delay),
                maximum_backoff=_seconds(task.max_retry_delay),
            ),
            dead_letter_policy=gcp.pubsub.SubscriptionDeadLetterPolicyArgs(
                dead_letter_topic=self.dead_letter_topic.id,
                max_delivery_attempts=task.max_delivery_attempts,
            ),
            expiration_policy=NEVER_EXPIRES,
            labels=labels,
            opts=child,
        )
        self.dead_letter_subscription = gcp.pubsub.Subscription(
            f"{name}-dlq-sub",
            name=names.dead_letter_subscription,
            project=settings.project,
            topic=self.dead_letter_topic.id,
            # Declared from the start: adding ackDeadlineSeconds to an existing
            # subscription later fails with "update_mask must be set" (pulumi-gcp#1162).
            ack_deadline_seconds=DEAD_LETTER_ACK_DEADLINE,
            message_retention_duration=DEAD_LETTER_SUBSCRIPTION_RETENTION,
            expiration_policy=NEVER_EXPIRES,
            labels=labels,
            opts=child,
        )
        self.dead_letter_publisher = gcp.pubsub.TopicIAMMember(
            f"{name}-dlq-publisher",
            project=settings.project,
            topic=self.dead_letter_topic.id,
            role="roles/pubsub.publisher",
            member=agent,
            opts=child,
        )
        self.subscription_subscriber = gcp.pubsub.SubscriptionIAMMember(
            f"{name}-sub-subscriber",
            project=settings.project,
            subscription=self.subscription.id,
            role="roles/pubsub.subscriber",
            member=agent,
            opts=child,
        )
        self.app_publisher: gcp.pubsub.TopicIAMMember | None = None
        if settings.app_service_account:
            self.app_publisher = gcp.pubsub.TopicIAMMember(
                f"{name}-app-publisher",
                project=settings.project,
                topic=self.topic.id,
                role="roles/pubsub.publisher",
                member=f"serviceAccount:{settings.app_service_account}",
                opts=child,
            )
        self.job: gcp.cloudscheduler.Job | None = None
        if task.is_scheduled:
            self.job = declare_job(task, self.topic, settings, parent=self)

        self.register_outputs({})

    def summary(self) -> dict[str, pulumi.Output]:
        """The stack output for this task: its resource ids."""
        out = {
            "topic": self.topic.id,
            "subscription": self.subscription.id,
            "deadLetterTopic": self.dead_letter_topic.id,
            "deadLetterSubscription": self.dead_letter_subscription.id,
        }
        if self.job is not None:
            out["job"] = self.job.id
        return out
