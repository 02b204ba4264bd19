"""The stack's dead-letter alert: any task's dead-letter subscription holding messages."""

from __future__ import annotations

import pulumi
import pulumi_gcp as gcp

from infra import naming
from infra.project_apis import ProjectApis
from infra.settings import ALERT_NOTIFICATION_CHANNELS, LABELS, Settings

UNDELIVERED = "pubsub.googleapis.com/subscription/num_undelivered_messages"


def dead_letter_filter(environment: str) -> str:
    """The metric filter: every dead-letter subscription of ``environment``.

    A name pattern, not a list of ids: a filter naming a thousand subscriptions would
    exceed Monitoring's filter length, and new tasks are covered without an update. The
    pattern is a prefix and a suffix, matched with the filter language's
    ``starts_with`` and ``ends_with`` (https://cloud.google.com/monitoring/api/v3/filters,
    "Filter syntax"), not a regular expression: an id's dots would need escaping twice
    (for RE2 and for the filter's string literal), and a plain string needs none. Task
    paths are dotted identifiers (:func:`infra.validation.path_problem`), so only a
    dead-letter subscription's id ends with ``-dlq-sub``.
    """
    example = naming.task_names(environment, "PATH")
    prefix, suffix = example.dead_letter_subscription.split("PATH")
    return (
        f'resource.type = "pubsub_subscription" AND metric.type = "{UNDELIVERED}" AND '
        f'resource.label.subscription_id = starts_with("{prefix}") AND '
        f'resource.label.subscription_id = ends_with("{suffix}")'
    )


# Turns the JSON `gcloud pubsub subscriptions pull --format=json` prints into the body
# of the REST publish call. gcloud prints a list of ReceivedMessage objects,
# {ackId, deliveryAttempt, message: {attributes, data, messageId, orderingKey,
# publishTime}}, unset fields left out, with `data` in URL-safe base64 (apitools'
# BytesField codec, _SafeEncodeBytes in apitools/base/py/encoding_helper.py, as
# google-cloud-sdk 578 ships it). topics.publish takes a PubsubMessage whose `data` is
# standard base64, and whose messageId and publishTime the publisher must not set
# (https://cloud.google.com/pubsub/docs/reference/rest/v1/PubsubMessage). `gcloud
# pubsub topics publish --message` sends text, so it cannot restore arbitrary bytes.
# The attributes Pub/Sub adds when it dead-letters a message are left out: the four
# CloudPubSubDeadLetterSource* ones (DeliveryCount, Subscription, SubscriptionProject,
# TopicPublishTime; https://cloud.google.com/pubsub/docs/handling-failures, "Track
# delivery attempts" / dead-letter topics; Google's emulator adds the same four). A
# replay that copied them would hand the task stale values about an earlier delivery.
# One line of Python without single quotes, so the recipe can quote it for the shell.
DEAD_LETTER_ATTRIBUTE_PREFIX = "CloudPubSubDeadLetterSource"
REPLAY_BODY_PROGRAM = (
    "import base64, json, sys; "
    "received = json.load(sys.stdin); "
    'len(received) == 1 or sys.exit(str(len(received)) + " messages pulled; replay them one at a time"); '
    'message = received[0]["message"]; '
    'attributes = {key: value for key, value in message.get("attributes", {}).items() '
    f'if not key.startswith("{DEAD_LETTER_ATTRIBUTE_PREFIX}")}}; '
    'body = {key: value for key, value in (("attributes", attributes), ("orderingKey", message.get("orderingKey"))) if value}; '
    'body["data"] = base64.b64encode(base64.urlsafe_b64decode(message.get("data", ""))).decode(); '
    'print(json.dumps({"messages": [body]}))'
)
ACK_ID_PROGRAM = 'import json, sys; print(json.load(sys.stdin)[0]["ackId"])'
# Where Monitoring puts the alerting subscription's id in the documentation it sends
# (https://cloud.google.com/monitoring/alerts/doc-variables). Monitoring reads any
# "${...}" as one of its variables, so the recipe's shell uses none of its own.
SUBSCRIPTION_VARIABLE = "${resource.label.subscription_id}"
# The publish goes where gcloud's own Pub/Sub calls go: its api_endpoint_overrides/pubsub
# property when set (CLOUDSDK_API_ENDPOINT_OVERRIDES_PUBSUB, e.g. Google's emulator;
# `gcloud config get` prints nothing when it is unset), else Google's endpoint.
PUBSUB_ENDPOINT = "https://pubsub.googleapis.com/"


def replay_recipe(project: str) -> str:
    """Shell lines that replay one dead letter: pull it without acknowledging, publish
    its exact data, attributes and ordering key back to the task topic through the REST
    API, and only then acknowledge that one message by its ack id."""
    # Each line ends in &&, so a step that fails (no message pulled, a refused publish)
    # stops the rest: nothing is acknowledged unless its copy was published.
    return f"""SUB={SUBSCRIPTION_VARIABLE} && TOPIC=$(echo "$SUB" | sed 's/-dlq-sub$//') &&
API=$(gcloud config get api_endpoint_overrides/pubsub 2>/dev/null | grep . || echo {PUBSUB_ENDPOINT}) &&
gcloud pubsub subscriptions pull "$SUB" --project={project} --limit=1 --format=json > dead-letter.json &&
python3 -c '{REPLAY_BODY_PROGRAM}' < dead-letter.json > replay.json &&
curl --fail-with-body -sS -X POST -H "Authorization: Bearer $(gcloud auth print-access-token)" -H "Content-Type: application/json" --data @replay.json "$API"v1/projects/{project}/topics/"$TOPIC":publish &&
gcloud pubsub subscriptions ack "$SUB" --project={project} --ack-ids="$(python3 -c '{ACK_ID_PROGRAM}' < dead-letter.json)"
"""


def documentation(settings: Settings) -> str:
    """What the on-call person reads in the alert: how to inspect and replay."""
    recipe = "".join(f"    {line}\n" for line in replay_recipe(settings.project).splitlines())
    return f"""A task's dead-letter subscription holds messages: a message reached its \
route's max delivery attempts and Pub/Sub stopped retrying it.

Subscription: `{SUBSCRIPTION_VARIABLE}` (project {settings.project}).
Its task topic is the same name without the `-dlq-sub` suffix.

Inspect, without acknowledging (each pulled message comes back after 60 seconds):

    gcloud pubsub subscriptions pull {SUBSCRIPTION_VARIABLE} --project={settings.project} --limit=10 --format=json

Replay one message after fixing the cause: paste these lines as one. They pull one \
message, publish its exact data (bytes), attributes (less the four \
CloudPubSubDeadLetterSource* ones Pub/Sub added) and ordering key to the task \
topic, and acknowledge that message by its ack id only if the publish succeeded. The \
pull leases it for 60 seconds, so its ack id is good that long; paste them again for \
the next message.

{recipe}
Dead letters are kept {settings.dead_letter_retention_days} days in the subscription and on the dead-letter topic.
"""


def dead_letter_alert(settings: Settings, apis: ProjectApis) -> gcp.monitoring.AlertPolicy:
    """Declare the alert policy, with the stack's notification channels (maybe none)."""
    return gcp.monitoring.AlertPolicy(
        "dead-letter-alert",
        project=settings.project,
        display_name=f"gyrinx tasks ({settings.environment}): dead-lettered messages",
        combiner="OR",
        severity="ERROR",
        conditions=[
            gcp.monitoring.AlertPolicyConditionArgs(
                display_name="A dead-letter subscription holds undelivered messages",
                condition_threshold=gcp.monitoring.AlertPolicyConditionConditionThresholdArgs(
                    filter=dead_letter_filter(settings.environment),
                    comparison="COMPARISON_GT",
                    threshold_value=0,
                    duration="60s",
                    aggregations=[
                        gcp.monitoring.AlertPolicyConditionConditionThresholdAggregationArgs(
                            alignment_period="300s", per_series_aligner="ALIGN_MAX"
                        )
                    ],
                    trigger=gcp.monitoring.AlertPolicyConditionConditionThresholdTriggerArgs(count=1),
                ),
            )
        ],
        notification_channels=settings.secret_if(
            ALERT_NOTIFICATION_CHANNELS, list(settings.alert_notification_channels)
        ),
        documentation=gcp.monitoring.AlertPolicyDocumentationArgs(
            content=documentation(settings), mime_type="text/markdown"
        ),
        alert_strategy=gcp.monitoring.AlertPolicyAlertStrategyArgs(auto_close="604800s"),
        user_labels=settings.secret_if(LABELS, settings.resource_labels),
        opts=pulumi.ResourceOptions(depends_on=apis.needs("monitoring.googleapis.com")),
    )
