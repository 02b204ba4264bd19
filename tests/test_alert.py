"""The dead-letter alert and the dead letters it points at."""

from __future__ import annotations

from datetime import UTC, datetime

from infra.monitoring import dead_letter_filter
from tests.fake_registry import route
from tests.stack_plans import stack_plan

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
ALERT = "gcp:monitoring/alertPolicy:AlertPolicy"


def test_the_alert_watches_every_dead_letter_subscription_of_the_stack():
    alert = stack_plan("example").by_name(ALERT, "dead-letter-alert")
    threshold = alert.inputs["conditions"][0]["conditionThreshold"]
    assert threshold["filter"] == dead_letter_filter("example")
    assert "pubsub.googleapis.com/subscription/num_undelivered_messages" in threshold["filter"]
    assert (threshold["comparison"], threshold["thresholdValue"]) == ("COMPARISON_GT", 0)


def test_the_alert_filter_matches_dead_letter_subscriptions_only():
    import re

    pattern = re.search(r'full_match\("(.*)"\)', dead_letter_filter("dev")).group(1).replace("\\\\", "\\")
    assert re.fullmatch(pattern, "dev--gyrinx.tasks--app.tasks.send_email-dlq-sub")
    assert not re.fullmatch(pattern, "dev--gyrinx.tasks--app.tasks.send_email-sub")
    assert not re.fullmatch(pattern, "prod--gyrinx.tasks--app.tasks.send_email-dlq-sub")


def test_the_alert_has_no_channels_unless_configured(run, routes):
    routes.append(route("t"))
    assert run().by_name(ALERT, "dead-letter-alert").inputs.get("notificationChannels", []) == []
    channels = '["projects/proj/notificationChannels/123"]'
    alert = run(alertNotificationChannels=channels).by_name(ALERT, "dead-letter-alert")
    assert alert.inputs["notificationChannels"] == ["projects/proj/notificationChannels/123"]


def test_the_alert_documentation_names_the_gcloud_commands():
    content = stack_plan("prod").by_name(ALERT, "dead-letter-alert").inputs["documentation"]["content"]
    assert "gcloud pubsub subscriptions pull ${resource.label.subscription_id} --project=gyrinx-prod" in content
    assert "gcloud pubsub topics publish" in content
