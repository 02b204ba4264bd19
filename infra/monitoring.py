"""The stack's dead-letter alert: any task's dead-letter subscription holding messages."""

from __future__ import annotations

import pulumi
import pulumi_gcp as gcp

from infra import naming
from infra.project_apis import ProjectApis
from infra.settings import Settings

UNDELIVERED = "pubsub.googleapis.com/subscription/num_undelivered_messages"


def dead_letter_filter(environment: str) -> str:
    """The metric filter: every dead-letter subscription of ``environment``.

    A name pattern, not a list of ids: a filter naming a thousand subscriptions would
    exceed Monitoring's filter length, and new tasks are covered without an update.
    """
    example = naming.task_names(environment, "PATH")
    prefix, suffix = example.dead_letter_subscription.split("PATH")
    pattern = f"{_regex_escape(prefix)}.+{_regex_escape(suffix)}"
    return (
        f'resource.type = "pubsub_subscription" AND metric.type = "{UNDELIVERED}" AND '
        f'resource.label.subscription_id = monitoring.regex.full_match("{pattern}")'
    )


def _regex_escape(text: str) -> str:
    # RE2 inside a Monitoring filter string: escape regex metacharacters, then the
    # backslashes themselves for the filter's string literal.
    escaped = "".join(f"\\{c}" if c in ".+*?()[]{}|^$\\" else c for c in text)
    return escaped.replace("\\", "\\\\")


def documentation(settings: Settings) -> str:
    """What the on-call person reads in the alert: how to inspect and replay."""
    return f"""A task's dead-letter subscription holds messages: a message reached its \
route's max delivery attempts and Pub/Sub stopped retrying it.

Subscription: `${{resource.label.subscription_id}}` (project {settings.project}).
Its task topic is the same name without the `-dlq-sub` suffix.

Inspect, without acknowledging:

    gcloud pubsub subscriptions pull ${{resource.label.subscription_id}} --project={settings.project} --limit=10 --format=json

Replay one message after fixing the cause: publish its `data` back to the task topic,
then acknowledge it here:

    gcloud pubsub topics publish TASK_TOPIC --project={settings.project} --message="$DATA"
    gcloud pubsub subscriptions pull ${{resource.label.subscription_id}} --project={settings.project} --auto-ack --limit=1

Dead letters are kept 31 days in the subscription and on the dead-letter topic.
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
            "alert_notification_channels", list(settings.alert_notification_channels)
        ),
        documentation=gcp.monitoring.AlertPolicyDocumentationArgs(
            content=documentation(settings), mime_type="text/markdown"
        ),
        alert_strategy=gcp.monitoring.AlertPolicyAlertStrategyArgs(auto_close="604800s"),
        user_labels=settings.secret_if("labels", settings.resource_labels),
        opts=pulumi.ResourceOptions(depends_on=apis.needs("monitoring.googleapis.com")),
    )
