"""The catalogue of every resource kind the program declares, and what a task owns.

Each kind the program declares (a task's children, the shared resources, the
components) is one :class:`Kind` in :data:`KINDS`: its type token, its short label, the
inputs Google cannot change in place, how its Google id is built, whether the app's old
provisioning made it (so a migration imports it) and whether it holds messages. Every
tool reads this module instead of keeping its own list: the offline diff and the
deletion guard (replace or update, messages lost), import-file (import ids, what is
adopted), the mocks and the stand-in provider (ids, ``ForceNew``), the plan table
(labels) and the policy pack (type tokens). A type the program declares that is missing
here is refused by the diff rather than guessed (tests/test_ownership.py checks every
stack's plan against it).

A task's child's logical name is ``{task}{suffix}``; task names are Python identifiers,
so they never hold a ``-`` and the first ``-`` of a child's name always ends the task's
name. This module imports nothing beyond the standard library and :mod:`infra.naming`,
so the policy pack (its own virtualenv, without pulumi-gcp) can read it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from infra import naming

PACKAGE = "gyrinx-tasks"
TASK_COMPONENT = f"{PACKAGE}:index:TaskQueue"
SHARED_COMPONENT = f"{PACKAGE}:index:SharedIam"
PROJECT_APIS_COMPONENT = f"{PACKAGE}:index:ProjectApis"

# Where the immutable inputs were read: hashicorp/terraform-provider-google (the provider
# pulumi-gcp bridges), each field marked ``ForceNew: true`` (for generated resources, the
# magic-modules mmv1/products YAML's ``immutable: true``), in pulumi-gcp's camelCase.
_TPG = "hashicorp/terraform-provider-google google/"
_IAM_MEMBER = _TPG + "tpgiamresource/resource_iam_member.go (role, member, condition; id {resource}/{role}/{member})"
_IAM = ("role", "member", "condition")

IdBuilder = Callable[[Mapping[str, Any]], str]


@dataclass(frozen=True)
class Kind:
    """One resource type the program declares.

    ``immutable``: the inputs whose change makes Google (the provider) replace the
    resource, read from ``source``; ``google_id``: its id from its inputs (``project``
    and, where it has one, ``region`` filled in), None where Google assigns the id or
    the type is a component; ``adopted``: the app's provisioning made resources of this
    type, so import-file may adopt them; ``holds_messages``: deleting or replacing one
    loses what is queued in it; ``component``: this program's own grouping, no cloud
    resource.
    """

    token: str
    label: str
    immutable: frozenset[str] = frozenset()
    source: str = ""
    google_id: IdBuilder | None = None
    adopted: bool = False
    holds_messages: bool = False
    labels: str | None = None
    component: bool = False


def _fields(text: str) -> frozenset[str]:
    return frozenset(text.split())


def _iam_member_id(resource: IdBuilder) -> IdBuilder:
    return lambda inputs: f"{resource(inputs)}/{inputs['role']}/{inputs['member']}"


TOPIC_KIND = Kind(
    "gcp:pubsub/topic:Topic",
    "topic",
    _fields("name project tags"),
    _TPG + "services/pubsub/resource_pubsub_topic.go",
    lambda inputs: naming.topic_path(inputs["project"], inputs["name"]),
    adopted=True,
    holds_messages=True,
    labels="labels",
)
SUBSCRIPTION_KIND = Kind(
    "gcp:pubsub/subscription:Subscription",
    "subscription",
    _fields("name project topic enableMessageOrdering filter tags"),
    _TPG + "services/pubsub/resource_pubsub_subscription.go",
    lambda inputs: naming.subscription_path(inputs["project"], inputs["name"]),
    adopted=True,
    holds_messages=True,
    labels="labels",
)
JOB_KIND = Kind(
    "gcp:cloudscheduler/job:Job",
    "scheduler job",
    _fields("name project region"),
    _TPG + "services/cloudscheduler/resource_cloud_scheduler_job.go",
    lambda inputs: naming.job_path(inputs["project"], inputs["region"], inputs["name"]),
    adopted=True,
)
# The IAM members' resource ids are the ids of what they grant on.
TOPIC_IAM_MEMBER_KIND = Kind(
    "gcp:pubsub/topicIAMMember:TopicIAMMember",
    "topic IAM",
    _fields("topic project") | frozenset(_IAM),
    _TPG + "services/pubsub/iam_pubsub_topic.go (topic, project), " + _IAM_MEMBER,
    _iam_member_id(lambda inputs: str(inputs["topic"])),
)
SUBSCRIPTION_IAM_MEMBER_KIND = Kind(
    "gcp:pubsub/subscriptionIAMMember:SubscriptionIAMMember",
    "subscription IAM",
    _fields("subscription project") | frozenset(_IAM),
    _TPG + "services/pubsub/iam_pubsub_subscription.go (subscription, project), " + _IAM_MEMBER,
    _iam_member_id(lambda inputs: str(inputs["subscription"])),
)
SERVICE_ACCOUNT_IAM_MEMBER_KIND = Kind(
    "gcp:serviceaccount/iAMMember:IAMMember",
    "service account IAM",
    _fields("serviceAccountId") | frozenset(_IAM),
    _TPG + "services/resourcemanager/iam_service_account.go (service_account_id), " + _IAM_MEMBER,
    _iam_member_id(lambda inputs: str(inputs["serviceAccountId"])),
)
CLOUD_RUN_IAM_MEMBER_KIND = Kind(
    "gcp:cloudrunv2/serviceIamMember:ServiceIamMember",
    "Cloud Run IAM",
    _fields("project location name") | frozenset(_IAM),
    _TPG + "services/cloudrunv2/iam_cloud_run_v2_service.go (project, location, name), " + _IAM_MEMBER,
    _iam_member_id(lambda inputs: naming.cloud_run_service_path(inputs["project"], inputs["location"], inputs["name"])),
)
SERVICE_ACCOUNT_KIND = Kind(
    "gcp:serviceaccount/account:Account",
    "service account",
    _fields("accountId project"),
    _TPG + "services/resourcemanager/resource_google_service_account.go",
    lambda inputs: naming.service_account_path(
        inputs["project"], naming.service_account_email(inputs["accountId"], inputs["project"])
    ),
    # The push account the app's setup made by hand (shared_iam.py), when the stack creates it.
    adopted=True,
)
PROJECT_SERVICE_KIND = Kind(
    "gcp:projects/service:Service",
    "API",
    _fields("service project"),
    _TPG + "services/resourcemanager/resource_google_project_service.go (id {project}/{service})",
    lambda inputs: naming.project_service_id(inputs["project"], inputs["service"]),
)
# A beta resource with no update and no import (website/docs/r/project_service_identity.html.markdown):
# every argument forces a new one.
SERVICE_IDENTITY_KIND = Kind(
    "gcp:projects/serviceIdentity:ServiceIdentity",
    "service identity",
    _fields("service project"),
    "hashicorp/terraform-provider-google website/docs/r/project_service_identity.html.markdown",
    lambda inputs: naming.service_identity_path(inputs["project"], inputs["service"]),
)
# Google assigns an alert policy's id (projects/{project}/alertPolicies/{id}) on create.
ALERT_POLICY_KIND = Kind(
    "gcp:monitoring/alertPolicy:AlertPolicy",
    "alert policy",
    _fields("project"),
    _TPG + "services/monitoring/resource_monitoring_alert_policy.go",
    labels="userLabels",
)
TASK_COMPONENT_KIND = Kind(TASK_COMPONENT, "task", component=True)
SHARED_COMPONENT_KIND = Kind(SHARED_COMPONENT, "shared IAM", component=True)
PROJECT_APIS_COMPONENT_KIND = Kind(PROJECT_APIS_COMPONENT, "project APIs", component=True)

KINDS: tuple[Kind, ...] = (
    TOPIC_KIND,
    SUBSCRIPTION_KIND,
    JOB_KIND,
    TOPIC_IAM_MEMBER_KIND,
    SUBSCRIPTION_IAM_MEMBER_KIND,
    SERVICE_ACCOUNT_IAM_MEMBER_KIND,
    CLOUD_RUN_IAM_MEMBER_KIND,
    SERVICE_ACCOUNT_KIND,
    PROJECT_SERVICE_KIND,
    SERVICE_IDENTITY_KIND,
    ALERT_POLICY_KIND,
    TASK_COMPONENT_KIND,
    SHARED_COMPONENT_KIND,
    PROJECT_APIS_COMPONENT_KIND,
)
KIND_OF: Mapping[str, Kind] = {kind.token: kind for kind in KINDS}

# The type tokens, by the name the program's modules use.
TOPIC_TYPE = TOPIC_KIND.token
SUBSCRIPTION_TYPE = SUBSCRIPTION_KIND.token
TOPIC_IAM_MEMBER_TYPE = TOPIC_IAM_MEMBER_KIND.token
SUBSCRIPTION_IAM_MEMBER_TYPE = SUBSCRIPTION_IAM_MEMBER_KIND.token
JOB_TYPE = JOB_KIND.token
SERVICE_ACCOUNT_TYPE = SERVICE_ACCOUNT_KIND.token
ALERT_POLICY_TYPE = ALERT_POLICY_KIND.token


def google_id(type_: str, inputs: Mapping[str, Any]) -> str | None:
    """The Google id of a resource of ``type_`` with these inputs (``project`` and
    ``region`` filled in), or None where Google assigns it or ``type_`` is a component.
    KeyError when ``type_`` is not in the catalogue."""
    builder = KIND_OF[type_].google_id
    return builder(inputs) if builder is not None else None


@dataclass(frozen=True)
class Child:
    """One kind of resource every (or every scheduled) task owns.

    ``output`` is its key in the stack output ``tasks.{name}`` (None: not exported);
    ``adopted`` says the app's old ``provision_tasks`` created it, so a migration
    imports it instead of creating it (its kind must then be ``adopted``).
    """

    suffix: str
    kind: Kind
    output: str | None = None
    adopted: bool = False

    @property
    def type(self) -> str:
        """The child's type token."""
        return self.kind.token

    @property
    def holds_messages(self) -> bool:
        """Deleting or replacing it loses what is queued in it."""
        return self.kind.holds_messages

    def logical_name(self, task: str) -> str:
        """The child's logical name (and so its URN's last part) for ``task``."""
        return f"{task}{self.suffix}"


TOPIC = Child("-topic", TOPIC_KIND, output="topic", adopted=True)
SUBSCRIPTION = Child("-sub", SUBSCRIPTION_KIND, output="subscription", adopted=True)
DEAD_LETTER_TOPIC = Child("-dlq", TOPIC_KIND, output="deadLetterTopic")
DEAD_LETTER_SUBSCRIPTION = Child("-dlq-sub", SUBSCRIPTION_KIND, output="deadLetterSubscription")
DEAD_LETTER_PUBLISHER = Child("-dlq-publisher", TOPIC_IAM_MEMBER_KIND)
SUBSCRIPTION_SUBSCRIBER = Child("-sub-subscriber", SUBSCRIPTION_IAM_MEMBER_KIND)
APP_PUBLISHER = Child("-app-publisher", TOPIC_IAM_MEMBER_KIND)
JOB = Child("-job", JOB_KIND, output="job", adopted=True)

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
