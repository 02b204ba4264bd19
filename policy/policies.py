"""The gyrinx-tasks policies: what must never regress in a stack.

Each ``validate_*`` function takes the policy SDK's arguments and a ``report`` callable
(``report_violation``) and is unit-tested directly (tests/test_policies.py).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    ResourceValidationPolicy,
    StackValidationPolicy,
)

# The pack runs in its own virtualenv (PulumiPolicy.yaml) from the repository's policy/
# folder; the catalogue of resource kinds (infra/ownership.py, standard library only) is
# read from the repository root beside it.
_ROOT = str(Path(__file__).resolve().parent.parent)
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

from infra import ownership  # noqa: E402 - needs the repository root on sys.path

Report = Callable[..., None]
SUBSCRIPTION = ownership.SUBSCRIPTION_TYPE
TOPIC = ownership.TOPIC_TYPE
# Types that carry GCP labels in this stack, and the input that holds them.
LABELLED = {kind.token: kind.labels for kind in ownership.KINDS if kind.labels}
PUBLIC_MEMBERS = frozenset({"allUsers", "allAuthenticatedUsers"})
_AUTHORITATIVE_SUFFIXES = ("IAMBinding", "IAMPolicy", "IamBinding", "IamPolicy")


def validate_push_subscription(args: Any, report: Report) -> None:
    """A push subscription authenticates with OIDC, dead-letters, and never expires."""
    if args.resource_type != SUBSCRIPTION or "pushConfig" not in args.props:
        return
    props: Mapping[str, Any] = args.props
    push = props["pushConfig"] or {}
    oidc = push.get("oidcToken") or {}
    if "serviceAccountEmail" not in oidc or not oidc.get("audience"):
        report("push subscription without OIDC auth (pushConfig.oidcToken with a service account and audience)")
    dead_letter = props.get("deadLetterPolicy") or {}
    if "deadLetterTopic" not in dead_letter:
        report("push subscription without a dead-letter policy: a poison message would be retried for 7 days")
    expiration = props.get("expirationPolicy")
    if not expiration or expiration.get("ttl") != "":
        report('push subscription may expire: set expirationPolicy.ttl to "" (never)')


def validate_dead_letter_topics_have_subscriptions(args: Any, report: Report) -> None:
    """Every dead-letter topic has a subscription, or what it receives is dropped.

    Matched through the resources' dependencies, which are known during a preview
    even when the topic's id is not yet.
    """
    subscriptions = [r for r in args.resources if r.resource_type == SUBSCRIPTION]
    subscribed = {topic.urn for s in subscriptions for topic in s.property_dependencies.get("topic", [])}
    for subscription in subscriptions:
        for topic in subscription.property_dependencies.get("deadLetterPolicy", []):
            if topic.resource_type == TOPIC and topic.urn not in subscribed:
                report(f"dead-letter topic {topic.name} of {subscription.name} has no subscription", topic.urn)


def validate_no_public_members(args: Any, report: Report) -> None:
    """No grant to allUsers or allAuthenticatedUsers."""
    members = [args.props[key] for key in ("member",) if key in args.props]
    members += list(args.props.get("members") or [])
    for member in members:
        if member in PUBLIC_MEMBERS:
            report(f"grants {args.props.get('role', 'a role')} to {member}")


def validate_no_authoritative_iam(args: Any, report: Report) -> None:
    """Only additive *IAMMember grants: a Binding or Policy wipes grants made elsewhere."""
    if args.resource_type.endswith(_AUTHORITATIVE_SUFFIXES):
        report(f"{args.resource_type} is authoritative and removes grants made elsewhere; use the *IAMMember resource")


def validate_environment_label(args: Any, report: Report) -> None:
    """Every labelled resource carries the ``environment`` label."""
    key = LABELLED.get(args.resource_type)
    if key is None:
        return
    labels = args.props.get(key) or {}
    if not labels.get("environment"):
        report(f"{args.resource_type} without the environment label ({key}.environment)")


POLICIES = [
    ResourceValidationPolicy(
        name="push-subscription-hardened",
        description="Push subscriptions use OIDC, dead-letter and never expire.",
        validate=validate_push_subscription,
        enforcement_level=EnforcementLevel.MANDATORY,
    ),
    StackValidationPolicy(
        name="dead-letter-topic-subscribed",
        description="Every dead-letter topic has a subscription.",
        validate=validate_dead_letter_topics_have_subscriptions,
        enforcement_level=EnforcementLevel.MANDATORY,
    ),
    ResourceValidationPolicy(
        name="no-public-members",
        description="No IAM grant to allUsers or allAuthenticatedUsers.",
        validate=validate_no_public_members,
        enforcement_level=EnforcementLevel.MANDATORY,
    ),
    ResourceValidationPolicy(
        name="no-authoritative-iam",
        description="No authoritative *IAMBinding or *IAMPolicy resources.",
        validate=validate_no_authoritative_iam,
        enforcement_level=EnforcementLevel.MANDATORY,
    ),
    ResourceValidationPolicy(
        name="environment-label",
        description="Every labelled resource carries the environment label.",
        validate=validate_environment_label,
        enforcement_level=EnforcementLevel.MANDATORY,
    ),
]
