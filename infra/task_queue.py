"""The per-task component: topic, push subscription, dead-lettering and their IAM."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

from infra import naming, ownership
from infra.project_apis import ProjectApis
from infra.registry import Task
from infra.scheduler import declare_job
from infra.settings import LABELS, SERVICE_URL, Settings
from infra.shared_iam import SharedIam

# Dead letters are kept on the subscription and on the topic (so a new subscription can
# still seek back to them) for the stack's Settings.dead_letter_retention: as long as
# Pub/Sub allows, 31 days, unless the stack says less (infra/settings.py).
# Time for a person pulling a dead letter with gcloud to look at it before it is redelivered.
DEAD_LETTER_ACK_DEADLINE = 60
# An empty ttl means "never expires"; unset, Google deletes a subscription after 31
# idle days, and a quiet task would silently lose its delivery.
NEVER_EXPIRES = gcp.pubsub.SubscriptionExpirationPolicyArgs(ttl="")


def _seconds(value: int) -> str:
    # Durations are declared the way Google reports them back ("10s"), so they never diff.
    return f"{value}s"


@dataclass(frozen=True)
class TaskQueueArgs:
    """What one task's component is built from: the checked task, the stack's settings,
    its shared identities and the APIs its resources wait for."""

    task: Task
    settings: Settings
    shared: SharedIam
    apis: ProjectApis


class TaskQueue(pulumi.ComponentResource):
    """Everything one task needs to be delivered, retried and dead-lettered.

    Children (logical names derive from the task's name, so one task's change never
    renames another's resources; their suffixes and types are defined once, in
    :mod:`infra.ownership`):

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

    def __init__(self, name: str, args: TaskQueueArgs, opts: pulumi.ResourceOptions | None = None):
        task, settings, shared = args.task, args.settings, args.shared
        super().__init__(ownership.TASK_COMPONENT, name, None, opts)
        names = naming.task_names(settings.environment, task.path)
        labels = settings.secret_if(LABELS, settings.resource_labels)
        child = pulumi.ResourceOptions(parent=self)
        # Topics are the roots of a task's resources (everything else refers to one), so
        # they alone wait for the Pub/Sub API.
        topic_opts = pulumi.ResourceOptions(parent=self, depends_on=args.apis.needs("pubsub.googleapis.com"))
        agent = shared.pubsub_agent_member

        self.topic = gcp.pubsub.Topic(
            ownership.TOPIC.logical_name(name),
            name=names.topic,
            project=settings.project,
            labels=labels,
            opts=topic_opts,
        )
        self.dead_letter_topic = gcp.pubsub.Topic(
            ownership.DEAD_LETTER_TOPIC.logical_name(name),
            name=names.dead_letter_topic,
            project=settings.project,
            labels=labels,
            message_retention_duration=settings.dead_letter_retention,
            opts=topic_opts,
        )
        self.subscription = gcp.pubsub.Subscription(
            ownership.SUBSCRIPTION.logical_name(name),
            name=names.subscription,
            project=settings.project,
            topic=self.topic.id,
            ack_deadline_seconds=task.ack_deadline,
            push_config=gcp.pubsub.SubscriptionPushConfigArgs(
                push_endpoint=settings.secret_if(SERVICE_URL, settings.push_endpoint),
                oidc_token=gcp.pubsub.SubscriptionPushConfigOidcTokenArgs(
                    service_account_email=shared.push_account_email,
                    audience=settings.input(SERVICE_URL),
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
            # Creating an OIDC push subscription needs actAs on the push account, granted
            # by the shared component when it creates that account.
            opts=pulumi.ResourceOptions(parent=self, depends_on=shared.push_ready),
        )
        self.dead_letter_subscription = gcp.pubsub.Subscription(
            ownership.DEAD_LETTER_SUBSCRIPTION.logical_name(name),
            name=names.dead_letter_subscription,
            project=settings.project,
            topic=self.dead_letter_topic.id,
            # Declared from the start: adding ackDeadlineSeconds to an existing
            # subscription later fails with "update_mask must be set" (pulumi-gcp#1162).
            ack_deadline_seconds=DEAD_LETTER_ACK_DEADLINE,
            message_retention_duration=settings.dead_letter_retention,
            expiration_policy=NEVER_EXPIRES,
            labels=labels,
            opts=child,
        )
        self.dead_letter_publisher = gcp.pubsub.TopicIAMMember(
            ownership.DEAD_LETTER_PUBLISHER.logical_name(name),
            project=settings.project,
            topic=self.dead_letter_topic.id,
            role="roles/pubsub.publisher",
            member=agent,
            opts=child,
        )
        self.subscription_subscriber = gcp.pubsub.SubscriptionIAMMember(
            ownership.SUBSCRIPTION_SUBSCRIBER.logical_name(name),
            project=settings.project,
            subscription=self.subscription.id,
            role="roles/pubsub.subscriber",
            member=agent,
            opts=child,
        )
        self.app_publisher: gcp.pubsub.TopicIAMMember | None = None
        if settings.app_service_account:
            self.app_publisher = gcp.pubsub.TopicIAMMember(
                ownership.APP_PUBLISHER.logical_name(name),
                project=settings.project,
                topic=self.topic.id,
                role="roles/pubsub.publisher",
                member=f"serviceAccount:{settings.app_service_account}",
                opts=child,
            )
        self.job: gcp.cloudscheduler.Job | None = None
        if task.schedule is not None:
            self.job = declare_job(task, task.schedule, self.topic, settings, parent=self, apis=args.apis)

        self.register_outputs({})

    def summary(self) -> dict[str, pulumi.Output[str]]:
        """The stack output for this task: the id of each exported child."""
        declared: dict[ownership.Child, pulumi.CustomResource | None] = {
            ownership.TOPIC: self.topic,
            ownership.SUBSCRIPTION: self.subscription,
            ownership.DEAD_LETTER_TOPIC: self.dead_letter_topic,
            ownership.DEAD_LETTER_SUBSCRIPTION: self.dead_letter_subscription,
            ownership.JOB: self.job,
        }
        return {
            child.output: resource.id for child, resource in declared.items() if child.output and resource is not None
        }
