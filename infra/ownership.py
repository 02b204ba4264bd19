"""What a task owns: the one definition of a ``TaskQueue`` component's children.

The component declares these, and every tool that has to tell a task's resources from
the stack's shared ones (the offline diff, the deletion guard, import-file, the plan
table) reads this module instead of keeping its own list. A child's logical name is
``{task}{suffix}``; task names are Python identifiers, so they never hold a ``-`` and
the first ``-`` of a child's name always ends the task's name.
"""

from __future__ import annotations

from dataclasses import dataclass

PACKAGE = "gyrinx-tasks"
TASK_COMPONENT = f"{PACKAGE}:index:TaskQueue"
SHARED_COMPONENT = f"{PACKAGE}:index:SharedIam"

# Type tokens of the pulumi-gcp resources a task owns (the first argument each class
# passes to CustomResource; tests check the plan's registrations against these).
TOPIC_TYPE = "gcp:pubsub/topic:Topic"
SUBSCRIPTION_TYPE = "gcp:pubsub/subscription:Subscription"
TOPIC_IAM_MEMBER_TYPE = "gcp:pubsub/topicIAMMember:TopicIAMMember"
SUBSCRIPTION_IAM_MEMBER_TYPE = "gcp:pubsub/subscriptionIAMMember:SubscriptionIAMMember"
JOB_TYPE = "gcp:cloudscheduler/job:Job"


@dataclass(frozen=True)
class Child:
    """One kind of resource every (or every scheduled) task owns.

    ``output`` is its key in the stack output ``tasks.{name}`` (None: not exported);
    ``holds_messages`` says deleting or replacing it loses what is queued in it;
    ``adopted`` says the app's old ``provision_tasks`` created it, so a migration
    imports it instead of creating it.
    """

    suffix: str
    type: str
    output: str | None = None
    holds_messages: bool = False
    adopted: bool = False

    def logical_name(self, task: str) -> str:
        """The child's logical name (and so its URN's last part) for ``task``."""
        return f"{task}{self.suffix}"


TOPIC = Child("-topic", TOPIC_TYPE, output="topic", holds_messages=True, adopted=True)
SUBSCRIPTION = Child("-sub", SUBSCRIPTION_TYPE, output="subscription", holds_messages=True, adopted=True)
DEAD_LETTER_TOPIC = Child("-dlq", TOPIC_TYPE, output="deadLetterTopic", holds_messages=True)
DEAD_LETTER_SUBSCRIPTION = Child("-dlq-sub", SUBSCRIPTION_TYPE, output="deadLetterSubscription", holds_messages=True)
DEAD_LETTER_PUBLISHER = Child("-dlq-publisher", TOPIC_IAM_MEMBER_TYPE)
SUBSCRIPTION_SUBSCRIBER = Child("-sub-subscriber", SUBSCRIPTION_IAM_MEMBER_TYPE)
APP_PUBLISHER = Child("-app-publisher", TOPIC_IAM_MEMBER_TYPE)
JOB = Child("-job", JOB_TYPE, output="job", adopted=True)

CHILDREN: tuple[Child, ...] = (
    TOPIC,
    SUBSCRIPTION,
    DEAD_LETTER_TOPIC,
    DEAD_LETTER_SUBSCRIPTION,
    DEAD_LETTER_PUBLISHER,
    SUBSCRIPTION_SUBSCRIBER,
    APP_PUBLISHER,
    JOB,
)
_BY_TYPE_AND_SUFFIX = {(child.type, child.suffix): child for child in CHILDREN}


def child_of(type_: str, name: str) -> tuple[str, Child] | None:
    """``(task name, child kind)`` of a resource declared as a task's child, or None."""
    task, dash, rest = name.partition("-")
    if not dash or not task:
        return None
    child = _BY_TYPE_AND_SUFFIX.get((type_, f"-{rest}"))
    return (task, child) if child else None
