"""The dead-letter alert, and the recipe it gives for replaying a dead letter."""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from infra import naming
from infra.monitoring import (
    REPLAY_BODY_PROGRAM,
    SUBSCRIPTION_VARIABLE,
    UNDELIVERED,
    dead_letter_filter,
    replay_recipe,
)
from tests.fake_registry import route
from tests.stack_plans import stack_plan

ALERT = "gcp:monitoring/alertPolicy:AlertPolicy"
# Documentation.content: "may not exceed 8,192 Unicode characters"
# (https://cloud.google.com/monitoring/api/ref_v3/rest/v3/projects.alertPolicies#documentation).
DOCUMENTATION_MAX = 8192


def alert_content(stack: str) -> str:
    return stack_plan(stack).by_name(ALERT, "dead-letter-alert").inputs["documentation"]["content"]


def matches(filter_text: str, series: dict[str, str]) -> bool:
    """``filter_text`` evaluated on one time series' labels: a conjunction of
    ``key = "value"``, ``key = starts_with("prefix")`` and ``key = ends_with("suffix")``,
    the forms of https://cloud.google.com/monitoring/api/v3/filters ("Filter syntax")
    this filter may use; anything else fails the test."""
    for comparison in filter_text.split(" AND "):
        match = re.fullmatch(r'([\w.]+) = (?:(starts_with|ends_with)\()?"([^"\\]*)"\)?', comparison)
        assert match, f"not a comparison this filter should use: {comparison}"
        key, function, value = match.groups()
        actual = series[key]
        if not {None: actual == value, "starts_with": actual.startswith(value), "ends_with": actual.endswith(value)}[
            function
        ]:
            return False
    return True


def series(subscription_id: str) -> dict[str, str]:
    return {
        "resource.type": "pubsub_subscription",
        "metric.type": UNDELIVERED,
        "resource.label.subscription_id": subscription_id,
    }


def planned_filter(stack: str) -> str:
    """The filter of the stack's alert as the plan declares it."""
    alert = stack_plan(stack).by_name(ALERT, "dead-letter-alert")
    return str(alert.inputs["conditions"][0]["conditionThreshold"]["filter"])


def test_the_alert_fires_on_any_undelivered_dead_letter():
    alert = stack_plan("example").by_name(ALERT, "dead-letter-alert")
    threshold = alert.inputs["conditions"][0]["conditionThreshold"]
    assert (threshold["comparison"], threshold["thresholdValue"]) == ("COMPARISON_GT", 0)


@pytest.mark.parametrize("stack", ["dev", "example"])
def test_the_planned_alert_filter_matches_each_dead_letter_subscription_of_the_stack(stack):
    outputs = stack_plan(stack).outputs["tasks"]
    assert outputs
    for task in outputs.values():
        assert matches(planned_filter(stack), series(task["deadLetterSubscription"].rsplit("/", 1)[1]))
        assert not matches(planned_filter(stack), series(task["subscription"].rsplit("/", 1)[1]))


def test_the_alert_filter_matches_no_push_subscription_and_no_other_stacks():
    names = naming.task_names("dev", "app.tasks.send_email")
    assert not matches(dead_letter_filter("dev"), series(names.subscription))
    assert not matches(
        dead_letter_filter("dev"), series(naming.task_names("prod", "app.tasks.x").dead_letter_subscription)
    )
    assert not matches(
        dead_letter_filter("dev"), series(naming.task_names("dev2", "app.tasks.x").dead_letter_subscription)
    )


def test_the_alert_filter_needs_no_regular_expression_escapes():
    """Plain prefix and suffix strings: a dotted id in an RE2 pattern inside a filter's
    string literal needs its escapes escaped, which is easy to get wrong unseen."""
    assert "\\" not in dead_letter_filter("dev") and "regex" not in dead_letter_filter("dev")


def test_the_alert_has_no_channels_unless_configured(run, routes):
    routes.append(route("t"))
    assert run().by_name(ALERT, "dead-letter-alert").inputs.get("notificationChannels", []) == []
    channels = '["projects/proj/notificationChannels/123"]'
    alert = run(alertNotificationChannels=channels).by_name(ALERT, "dead-letter-alert")
    assert alert.inputs["notificationChannels"] == ["projects/proj/notificationChannels/123"]


def test_the_alert_documentation_holds_the_replay_recipe_for_its_project():
    content = alert_content("prod")
    project = stack_plan("prod").by_name(ALERT, "dead-letter-alert").inputs["project"]
    assert "".join(f"    {line}\n" for line in replay_recipe(project).splitlines()) in content
    assert len(content) <= DOCUMENTATION_MAX


def test_the_documentation_uses_no_dollar_brace_but_monitorings_variable():
    """Monitoring replaces every ``${...}`` in the documentation with a variable's value
    (https://cloud.google.com/monitoring/alerts/doc-variables), so the recipe's shell
    must not write one of its own."""
    assert set(re.findall(r"\$\{[^}]*\}", alert_content("prod"))) == {SUBSCRIPTION_VARIABLE}


# A message the way `gcloud pubsub subscriptions pull --format=json` prints it: a list
# of ReceivedMessage {ackId, deliveryAttempt, message {attributes, data, messageId,
# orderingKey, publishTime}} with unset fields left out and `data` in URL-safe base64
# (google-cloud-sdk 578: surface/pubsub/subscriptions/pull.py returns the response's
# receivedMessages; apitools/base/py/encoding_helper.py encodes BytesField with
# base64.urlsafe_b64encode; the JSON printer indents and sorts keys).
DATA = bytes([0xFB, 0xFF, 0xBF, 0x00, 0x3E, 0x3F]) + "naïve ✓".encode() + b"\xff\xfe"
ATTRIBUTES = {"task_id": "abc-123", "origin": "naïve/✓ = +&"}
ACK_ID = "RkhRNxkIaFEOT14jPzUgKEUSBAgUBXx9dkFXdV9UGwdoUREJ"


def pulled(data: bytes = DATA, ordering_key: str | None = "lists/42") -> list[dict[str, object]]:
    message: dict[str, object] = {
        "attributes": ATTRIBUTES,
        "data": base64.urlsafe_b64encode(data).decode(),
        "messageId": "12345678901234",
        "publishTime": "2026-11-29T12:00:00.123Z",
    }
    if ordering_key:
        message["orderingKey"] = ordering_key
    return [{"ackId": ACK_ID, "deliveryAttempt": 12, "message": message}]


def gcloud_json(value: object) -> str:
    return json.dumps(value, indent=2, sort_keys=True) + "\n"


def test_the_fixture_needs_the_url_safe_alphabet():
    """The data has bytes whose base64 differs between the two alphabets, so a recipe
    that skipped the conversion would fail the round trip below."""
    assert base64.urlsafe_b64encode(DATA) != base64.b64encode(DATA)


@pytest.mark.parametrize("ordering_key", ["lists/42", None])
def test_the_replay_body_restores_the_exact_message(ordering_key):
    """The publish body (https://cloud.google.com/pubsub/docs/reference/rest/v1/projects.topics/publish)
    holds the same bytes in standard base64, the same attributes and ordering key, and
    none of the fields the server sets."""
    result = subprocess.run(
        [sys.executable, "-c", REPLAY_BODY_PROGRAM],
        input=gcloud_json(pulled(ordering_key=ordering_key)),
        capture_output=True,
        text=True,
        check=True,
    )
    [body] = json.loads(result.stdout)["messages"]
    assert base64.b64decode(body.pop("data"), validate=True) == DATA
    assert body == {"attributes": ATTRIBUTES, **({"orderingKey": ordering_key} if ordering_key else {})}


def test_the_replay_body_refuses_anything_but_one_message():
    result = subprocess.run(
        [sys.executable, "-c", REPLAY_BODY_PROGRAM], input="[]\n", capture_output=True, text=True, check=False
    )
    assert result.returncode != 0 and "0 messages pulled" in result.stderr


FAKE_GCLOUD = """#!/bin/sh
if [ "$1 $2 $3" = "pubsub subscriptions pull" ]; then echo "$*" >> "$LOG/pull"; cat "$PULLED"
elif [ "$1 $2" = "auth print-access-token" ]; then echo token-123
elif [ "$1 $2 $3" = "pubsub subscriptions ack" ]; then echo "$*" >> "$LOG/ack"
else echo "unexpected: gcloud $*" >&2; exit 2
fi
"""
FAKE_CURL = """#!/bin/sh
printf '%s\\n' "$@" > "$LOG/curl"
while [ $# -gt 0 ]; do
  if [ "$1" = "--data" ]; then cat "${2#@}" > "$LOG/published"; fi
  shift
done
exit "${CURL_EXIT:-0}"
"""


def run_recipe(tmp_path: Path, received: list[dict[str, object]], curl_exit: int = 0) -> Path:
    """Run the documentation's recipe in bash, as Monitoring sends it (its variable
    replaced), against stand-ins for gcloud and curl that log what they are given."""
    bin_dir, log = tmp_path / "bin", tmp_path / "log"
    bin_dir.mkdir()
    log.mkdir()
    for name, script in (("gcloud", FAKE_GCLOUD), ("curl", FAKE_CURL)):
        (bin_dir / name).write_text(script)
        (bin_dir / name).chmod(0o755)
    (bin_dir / "python3").symlink_to(sys.executable)
    (tmp_path / "pulled.json").write_text(gcloud_json(received))
    recipe = replay_recipe("gyrinx-prod").replace(SUBSCRIPTION_VARIABLE, SUBSCRIPTION)
    env = {
        "PATH": f"{bin_dir}{os.pathsep}/usr/bin{os.pathsep}/bin",
        "LOG": str(log),
        "PULLED": str(tmp_path / "pulled.json"),
        "CURL_EXIT": str(curl_exit),
    }
    subprocess.run(["bash", "-c", recipe], cwd=tmp_path, env=env, capture_output=True, check=False)
    return log


SUBSCRIPTION = naming.task_names("prod", "app.tasks.t").dead_letter_subscription


def test_the_recipe_publishes_the_message_to_its_task_topic_then_acks_it_by_its_ack_id(tmp_path):
    log = run_recipe(tmp_path, pulled())
    [body] = json.loads((log / "published").read_text())["messages"]
    assert base64.b64decode(body["data"], validate=True) == DATA and body["attributes"] == ATTRIBUTES
    curl = (log / "curl").read_text().splitlines()
    topic = naming.task_names("prod", "app.tasks.t").topic
    assert f"https://pubsub.googleapis.com/v1/projects/gyrinx-prod/topics/{topic}:publish" in curl
    assert "Authorization: Bearer token-123" in curl
    assert (
        log / "ack"
    ).read_text() == f"pubsub subscriptions ack {SUBSCRIPTION} --project=gyrinx-prod --ack-ids={ACK_ID}\n"


def test_the_recipe_acks_nothing_when_the_publish_fails(tmp_path):
    log = run_recipe(tmp_path, pulled(), curl_exit=22)
    assert (log / "published").exists() and not (log / "ack").exists()


def test_the_recipe_publishes_and_acks_nothing_when_nothing_was_pulled(tmp_path):
    log = run_recipe(tmp_path, [])
    assert (log / "pull").exists() and not (log / "curl").exists() and not (log / "ack").exists()
