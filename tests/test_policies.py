"""The policy pack's validate functions, called directly (a PolicyPack never returns)."""

from __future__ import annotations

import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "policy"))
import policies

from infra import ownership
from tests.stack_plans import stack_plan
from tools import stack_config

GOOD_PUSH = {
    "pushConfig": {
        "pushEndpoint": "https://x/tasks/pubsub/",
        "oidcToken": {"serviceAccountEmail": "a@b", "audience": "https://x"},
    },
    "deadLetterPolicy": {"deadLetterTopic": "projects/p/topics/t-dlq", "maxDeliveryAttempts": 5},
    "expirationPolicy": {"ttl": ""},
    "labels": {"environment": "dev"},
}


def violations(validate, resource_type: str, props: dict) -> list[str]:
    found: list[str] = []
    args = SimpleNamespace(resource_type=resource_type, props=props, urn=f"urn:{resource_type}", name="r")
    validate(args, lambda message, urn=None: found.append(message))
    return found


def without(props: dict, key: str) -> dict:
    return {k: v for k, v in props.items() if k != key}


def test_a_hardened_push_subscription_passes():
    assert violations(policies.validate_push_subscription, policies.SUBSCRIPTION, GOOD_PUSH) == []


@pytest.mark.parametrize(
    "props,fragment",
    [
        ({**GOOD_PUSH, "pushConfig": {"pushEndpoint": "https://x/tasks/pubsub/"}}, "without OIDC"),
        (without(GOOD_PUSH, "deadLetterPolicy"), "without a dead-letter policy"),
        (without(GOOD_PUSH, "expirationPolicy"), "may expire"),
        ({**GOOD_PUSH, "expirationPolicy": {"ttl": "2678400s"}}, "may expire"),
    ],
)
def test_a_weakened_push_subscription_fails(props, fragment):
    [message] = violations(policies.validate_push_subscription, policies.SUBSCRIPTION, props)
    assert fragment in message


def test_pull_subscriptions_are_not_push_checked():
    assert violations(policies.validate_push_subscription, policies.SUBSCRIPTION, {"topic": "t"}) == []


def test_public_members_fail_and_others_pass():
    bad = {"role": "roles/pubsub.publisher", "member": "allUsers"}
    assert violations(policies.validate_no_public_members, ownership.TOPIC_IAM_MEMBER_TYPE, bad) == [
        "grants roles/pubsub.publisher to allUsers"
    ]
    ok = {"role": "roles/pubsub.publisher", "member": "serviceAccount:a@b"}
    assert violations(policies.validate_no_public_members, ownership.TOPIC_IAM_MEMBER_TYPE, ok) == []


def test_public_members_in_a_binding_list_fail():
    props = {"role": "r", "members": ["user:a@b", "allAuthenticatedUsers"]}
    assert violations(policies.validate_no_public_members, "gcp:pubsub/topicIAMBinding:TopicIAMBinding", props)


@pytest.mark.parametrize(
    "resource_type,count",
    [
        ("gcp:pubsub/topicIAMBinding:TopicIAMBinding", 1),
        ("gcp:pubsub/subscriptionIAMPolicy:SubscriptionIAMPolicy", 1),
        ("gcp:cloudrunv2/serviceIamBinding:ServiceIamBinding", 1),
        (ownership.TOPIC_IAM_MEMBER_TYPE, 0),
    ],
)
def test_authoritative_iam_fails_and_members_pass(resource_type, count):
    assert len(violations(policies.validate_no_authoritative_iam, resource_type, {})) == count


def test_environment_label_is_required_on_labelled_resources():
    assert violations(policies.validate_environment_label, policies.TOPIC, {"labels": {"environment": "dev"}}) == []
    assert violations(policies.validate_environment_label, policies.TOPIC, {"labels": {"team": "x"}})
    assert violations(policies.validate_environment_label, policies.SUBSCRIPTION, {})
    assert violations(policies.validate_environment_label, ownership.JOB_TYPE, {}) == []


def stack_resources(registrations) -> list[SimpleNamespace]:
    by_urn = {
        r.urn: SimpleNamespace(resource_type=r.type, props=r.inputs, urn=r.urn, name=r.name, property_dependencies={})
        for r in registrations
    }
    for r in registrations:
        by_urn[r.urn].property_dependencies = {
            key: [by_urn[urn] for urn in urns if urn in by_urn] for key, urns in r.property_dependencies.items()
        }
    return list(by_urn.values())


def stack_violations(resources) -> list[str]:
    found: list[str] = []
    policies.validate_dead_letter_topics_have_subscriptions(
        SimpleNamespace(resources=resources), lambda message, urn=None: found.append(message)
    )
    return found


def test_a_dead_letter_topic_without_a_subscription_fails():
    resources = stack_resources(stack_plan("example").registrations)
    assert stack_violations(resources) == []
    orphaned = [r for r in resources if r.name != "send_email-dlq-sub"]
    assert stack_violations(orphaned) == ["dead-letter topic send_email-dlq of send_email-sub has no subscription"]


@pytest.mark.parametrize("stack", stack_config.stack_names())
def test_every_planned_resource_passes_every_resource_policy(stack):
    found = []
    for registration in stack_plan(stack).registrations:
        for validate in (
            policies.validate_push_subscription,
            policies.validate_no_public_members,
            policies.validate_no_authoritative_iam,
            policies.validate_environment_label,
        ):
            found += violations(validate, registration.type, registration.inputs)
    assert found == []


def test_the_pack_declares_every_policy_once():
    assert sorted(p.name for p in policies.POLICIES) == [
        "dead-letter-topic-subscribed",
        "environment-label",
        "no-authoritative-iam",
        "no-public-members",
        "push-subscription-hardened",
    ]
