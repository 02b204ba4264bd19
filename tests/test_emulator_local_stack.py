"""The local stack: plain http only there and only to this machine, dead letters kept as
long as the emulator allows, and ``./dev local``'s emulator lifecycle."""

from __future__ import annotations

import json
import os
import time

import pytest

from infra import settings
from infra.settings import LOCAL_STACK, MAX_RETENTION_DAYS, SECONDS_PER_DAY
from tests import emulator_support as support
from tests.conftest import of_type, only_problem
from tests.fake_registry import route
from tests.stack_plans import stack_plan
from tools import local_stack, stack_config
from tools.standin.pubsub_emulator import EmulatorPubSub, subscription_body

# The emulator's own bound on a subscription's retention (it answers "message_retention_duration
# out of bounds" above it); Google's service allows MAX_RETENTION_DAYS.
EMULATOR_RETENTION_SECONDS = 7 * SECONDS_PER_DAY


# --- Plain http: the local stack only, loopback only ------------------------------------------


@pytest.mark.parametrize("url", ["http://127.0.0.1:8000", "http://localhost:8000", "http://127.0.0.1"])
def test_the_local_stack_may_push_over_http_to_this_machine(url):
    assert settings.local_service_url_problem(url, LOCAL_STACK) is None


@pytest.mark.parametrize("stack", ["dev", "prod", "example", "test"])
def test_no_other_stack_may_push_over_http(stack):
    problem = settings.local_service_url_problem("http://127.0.0.1:8000", stack)
    assert problem is not None and "https://" in problem and LOCAL_STACK in problem


@pytest.mark.parametrize("url", ["http://192.168.1.10:8000", "http://app.example.com", "http://127.0.0.2:8000"])
def test_the_local_stack_may_not_push_over_http_to_another_host(url):
    problem = settings.local_service_url_problem(url, LOCAL_STACK)
    assert problem is not None and "this machine" in problem


@pytest.mark.parametrize("url", ["http://127.0.0.1:8000/", "http://127.0.0.1:8000/tasks", "http://127.0.0.1:0800"])
def test_a_local_http_url_is_as_bare_as_an_https_one(url):
    problem = settings.local_service_url_problem(url, LOCAL_STACK)
    assert problem is not None and "http://HOST[:PORT]" in problem


def test_https_urls_follow_the_https_rules_in_every_stack():
    url = "https://app.example.run.app/"
    assert settings.local_service_url_problem(url, LOCAL_STACK) == settings.service_url_problem(url)


def test_the_program_pushes_the_local_stack_to_its_http_url(run, routes):
    routes.append(route("send"))
    plan = run(stack=LOCAL_STACK, serviceUrl="http://127.0.0.1:8000")
    assert plan.outputs["pushEndpoint"] == "http://127.0.0.1:8000/tasks/pubsub/"


def test_the_program_refuses_http_in_any_other_stack(run, routes):
    routes.append(route("send"))
    problem = only_problem(run, serviceUrl="http://127.0.0.1:8000")
    assert problem.startswith("config gyrinx-tasks:serviceUrl:") and LOCAL_STACK in problem


# --- How long dead letters are kept ------------------------------------------------------------


def _dead_letter_retentions(plan) -> set[str]:
    return {
        r.inputs["messageRetentionDuration"]
        for r in of_type(plan, ":Subscription") + of_type(plan, ":Topic")
        if r.name.endswith(("-dlq", "-dlq-sub"))
    }


def test_dead_letters_are_kept_as_long_as_pubsub_allows_by_default(run, routes):
    routes.append(route("send"))
    assert _dead_letter_retentions(run()) == {f"{MAX_RETENTION_DAYS * SECONDS_PER_DAY}s"}


def test_a_stack_may_keep_dead_letters_fewer_days(run, routes):
    routes.append(route("send"))
    assert _dead_letter_retentions(run(deadLetterRetentionDays="7")) == {f"{7 * SECONDS_PER_DAY}s"}


@pytest.mark.parametrize("value", ["0", str(MAX_RETENTION_DAYS + 1), "-1"])
def test_a_retention_outside_1_to_31_days_is_refused(run, routes, value):
    routes.append(route("send"))
    problem = only_problem(run, deadLetterRetentionDays=value)
    assert problem.startswith("config gyrinx-tasks:deadLetterRetentionDays:") and repr(value) in problem


@pytest.mark.parametrize("value", ["seven", "1.5"])
def test_a_retention_that_is_not_an_integer_is_refused_by_the_clis_type_check(run, routes, value):
    """Pulumi.yaml declares the key an integer, so the CLI refuses it first
    (``validateStackConfigValue``, tools/stack_config.py)."""
    routes.append(route("send"))
    with pytest.raises(
        stack_config.StackConfigError, match="configuration key 'deadLetterRetentionDays' must be of type 'integer'"
    ):
        run(deadLetterRetentionDays=value)


def test_the_alert_tells_how_long_dead_letters_are_kept(run, routes):
    routes.append(route("send"))
    plan = run(deadLetterRetentionDays="7")
    [alert] = of_type(plan, ":AlertPolicy")
    assert "kept 7 days" in alert.inputs["documentation"]["content"]


def test_the_local_stack_keeps_dead_letters_within_the_emulators_bound():
    subscriptions = of_type(stack_plan(LOCAL_STACK), ":Subscription")
    assert subscriptions
    assert all(
        int(s.inputs.get("messageRetentionDuration", "0s").removesuffix("s")) <= EMULATOR_RETENTION_SECONDS
        for s in subscriptions
    )


# --- Translation to the REST wire format -------------------------------------------------------


def test_never_expires_is_sent_as_an_empty_expiration_policy():
    """pulumi-gcp's ``ttl: ""`` is the provider's spelling; the REST API refuses it."""
    [subscription] = [s for s in of_type(stack_plan(LOCAL_STACK), ":Subscription") if "pushConfig" in s.inputs][:1]
    assert subscription.inputs["expirationPolicy"] == {"ttl": ""}
    assert subscription_body(subscription.inputs)["expirationPolicy"] == {}


# --- For real, in the emulator ----------------------------------------------------------------


@pytest.fixture(scope="module")
def pubsub(request, tmp_path_factory) -> EmulatorPubSub:
    return EmulatorPubSub(support.shared_emulator(request, tmp_path_factory).endpoint)


def _subscriptions(plan):
    return of_type(plan, ":Subscription")


@pytest.mark.emulator
def test_the_emulator_accepts_every_topic_and_subscription_of_the_local_stack(pubsub):
    plan = stack_plan(LOCAL_STACK)
    support.deploy(pubsub, plan)
    project = stack_config.merged_config(LOCAL_STACK).values["gcp:project"]
    for subscription in _subscriptions(plan):
        held = pubsub.read_subscription(project, subscription.inputs["name"])
        assert held is not None and held["topic"] == subscription.inputs["topic"]


@pytest.mark.emulator
def test_an_update_changes_a_subscription_in_place(pubsub):
    plan = stack_plan(LOCAL_STACK)
    support.deploy(pubsub, plan)
    push = next(s for s in _subscriptions(plan) if "pushConfig" in s.inputs)
    changed = {**push.inputs, "ackDeadlineSeconds": 42, "retryPolicy": {"minimumBackoff": "1s", "maximumBackoff": "2s"}}
    pubsub.apply_subscription(changed)
    held = pubsub.read_subscription(changed["project"], changed["name"])
    assert held is not None
    assert (held["ackDeadlineSeconds"], held["retryPolicy"]) == (42, changed["retryPolicy"])
    pubsub.apply_subscription(push.inputs)


@pytest.mark.emulator
def test_restore_creates_what_the_state_records_in_a_fresh_emulator(tmp_path):
    plan = stack_plan(LOCAL_STACK)
    state = [{"type": r.type, "inputs": r.inputs} for r in plan.registrations]
    emulator = local_stack.start(support.free_port(), tmp_path / "emulator", "gyrinx-local")
    try:
        fresh = EmulatorPubSub(emulator.endpoint)
        created = local_stack.restore(fresh, json.loads(json.dumps(state)))
        names = {s.inputs["name"] for s in _subscriptions(plan)}
        assert created == len(names) + len(of_type(plan, ":Topic"))
        assert set(fresh.list_subscriptions("gyrinx-local")) == names
    finally:
        local_stack.stop(emulator)


@pytest.mark.emulator
def test_stop_ends_the_emulators_whole_process_group(tmp_path):
    emulator = local_stack.start(support.free_port(), tmp_path / "emulator", "gyrinx-local")
    assert local_stack.running(tmp_path / "emulator") == emulator
    local_stack.stop(emulator)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and local_stack.answers(emulator.endpoint):
        time.sleep(0.1)
    assert not local_stack.answers(emulator.endpoint)
    with pytest.raises(ProcessLookupError):
        os.killpg(emulator.pid, 0)
    assert local_stack.running(tmp_path / "emulator") is None
