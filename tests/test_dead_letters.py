"""How long a task keeps retrying before its messages are dead-lettered.

The model (infra/validation.py): Pub/Sub's backoff doubles from min_retry_delay up to
max_retry_delay between deliveries, and every delivery fails at once.
"""

from __future__ import annotations

import json

import pytest

from infra.registry import load_snapshot
from infra.validation import (
    DELIVERY_ATTEMPTS,
    RETRY_WINDOW,
    default_delivery_attempts,
    describe_seconds,
    retry_warnings,
    retry_window,
)
from tests.fake_registry import route
from tests.stack_plans import stack_plan
from tools import runner
from tools.stack_config import stack_config

SUBSCRIPTION = "gcp:pubsub/subscription:Subscription"


def test_the_window_is_the_sum_of_the_doubling_delays_between_attempts():
    """Issue 10's example: 5 attempts 10 s apart at first give up after 2.5 minutes."""
    assert retry_window(10, 600, 5) == 10 + 20 + 40 + 80


def test_the_window_caps_each_delay_at_the_maximum_backoff():
    assert retry_window(10, 30, 6) == 10 + 20 + 30 + 30 + 30


def registry_backoffs(stack: str) -> set[tuple[int, int]]:
    """The (min, max) backoffs of the stack's registry snapshot."""
    reference = stack_config(stack)["gyrinx-tasks:registry"].removeprefix("file:")
    return {(task.min_retry_delay, task.max_retry_delay) for task in load_snapshot(reference)}


@pytest.mark.parametrize("backoff", sorted(registry_backoffs("prod") | {(1, 600), (30, 600), (600, 600)}))
def test_the_default_is_the_fewest_attempts_that_last_the_window(backoff):
    attempts = default_delivery_attempts(*backoff)
    assert DELIVERY_ATTEMPTS[0] <= attempts <= DELIVERY_ATTEMPTS[1]
    window = retry_window(*backoff, attempts)
    assert window >= RETRY_WINDOW, (
        f"backoff {backoff[0]}-{backoff[1]} s with the default {attempts} attempts retries for only {window} s, "
        f"less than the {RETRY_WINDOW} s an outage may last"
    )
    fewer = retry_window(*backoff, attempts - 1)
    assert attempts == DELIVERY_ATTEMPTS[0] or fewer < RETRY_WINDOW, (
        f"backoff {backoff[0]}-{backoff[1]} s: {attempts - 1} attempts already retry for {fewer} s, "
        f"so the default {attempts} is not the fewest that reach {RETRY_WINDOW} s"
    )


@pytest.mark.parametrize("backoff", [(0, 600), (10, 30)])
def test_a_backoff_that_cannot_last_the_window_gets_the_maximum_and_a_warning(routes, backoff):
    routes.append(route("t", min_retry_delay=backoff[0], max_retry_delay=backoff[1], max_delivery_attempts=None))
    _, tasks = runner.load_stack("example", ["registry=tests.fake_registry:ROUTES", "flags={}"])
    assert default_delivery_attempts(*backoff) == DELIVERY_ATTEMPTS[1]
    [warning] = retry_warnings(tasks)
    assert warning.startswith(f"task t: with min_retry_delay {backoff[0]} and max_retry_delay {backoff[1]}, even 100")


def test_routes_that_do_not_say_get_the_default_for_their_backoff():
    """The real registry's routes never set max_delivery_attempts."""
    plan = stack_plan("prod")
    reference = stack_config("prod")["gyrinx-tasks:registry"].removeprefix("file:")
    for task in load_snapshot(reference):
        sub = plan.by_name(SUBSCRIPTION, f"{task.name}-sub")
        expected = default_delivery_attempts(task.min_retry_delay, task.max_retry_delay)
        assert sub.inputs["deadLetterPolicy"]["maxDeliveryAttempts"] == expected


def test_a_route_that_says_keeps_its_attempts(run, routes):
    routes.append(route("t", max_delivery_attempts=7))
    assert run().by_name(SUBSCRIPTION, "t-sub").inputs["deadLetterPolicy"]["maxDeliveryAttempts"] == 7


def test_the_plan_table_says_when_each_task_gives_up():
    plan = stack_plan("prod")
    table = runner.render_table(plan)
    for sub in (r for r in plan.registrations if r.type == SUBSCRIPTION and "pushConfig" in r.inputs):
        backoff = [int(sub.inputs["retryPolicy"][key][:-1]) for key in ("minimumBackoff", "maximumBackoff")]
        attempts = sub.inputs["deadLetterPolicy"]["maxDeliveryAttempts"]
        window = describe_seconds(retry_window(*backoff, attempts))
        assert f"dead-letter after {attempts} attempts: gives up after {window} of failures]" in table


@pytest.mark.parametrize(
    "seconds,words", [(90, "about 90 seconds"), (150, "about 2 minutes"), (3630, "about 60 minutes")]
)
def test_a_window_is_told_in_minutes_or_seconds(seconds, words):
    assert describe_seconds(seconds) == words


def test_the_snapshot_routes_set_no_attempts():
    """What the default is for: the app's TaskRoute has no max_delivery_attempts."""
    reference = stack_config("prod")["gyrinx-tasks:registry"].removeprefix("file:")
    routes = json.loads((runner.stack_config.PROJECT_DIR / reference).read_text())["routes"]
    assert all("max_delivery_attempts" not in entry for entry in routes)
