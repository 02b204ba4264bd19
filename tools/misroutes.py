"""Changes that lose or misroute a task's work without deleting anything.

The deletion guard counts what a change deletes or replaces; these are the in-place
updates that are as dangerous and look harmless in a preview ("0 deleted"):

- a push subscription's endpoint or OIDC audience changes, appears or goes: every push
  goes elsewhere, stops, or fails its token check (the app wants the audience to be exactly its
  ``CLOUD_RUN_SERVICE_URL``);
- the push service account changes: the app checks the token's email;
- message retention is lowered: what is queued longer than the new bound is dropped;
- a dead-letter policy is removed, its topic changed or its delivery attempts lowered:
  failing work is retried forever, lands elsewhere, or is dead-lettered by a shorter outage;
- the push envelope changes (the app reads the standard wrapper);
- a scheduler job's topic or message changes: the scheduled run goes elsewhere or is not
  the task the app expects.

Paths are pulumi-gcp's input names (``pushConfig.pushEndpoint``; the Subscription and
Topic resources of pulumi-gcp's schema, from GoogleCloudPlatform/magic-modules
``mmv1/products/pubsub/Subscription.yaml`` and ``Topic.yaml``). Each rule reads the old
and the new inputs of one resource; a value the preview masks (``[secret]``, as
``MassageSecrets`` in pulumi/pulumi pkg/backend/display/json.go prints every secret) is
compared through the preview's ``diffReasons``: when its key changed, the guard cannot
tell how, so it counts as a change (fail closed).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from infra.ownership import JOB_TYPE, SUBSCRIPTION_TYPE, TOPIC_TYPE

# How the preview prints a secret value (pkg/backend/display/json.go, massagePropertyValue).
MASKED = "[secret]"
# How the preview prints a value known only after the update (UnknownStringValue in
# pulumi/pulumi sdk/go/common/resource/plugin/rpc.go; the Python SDK's rpc.UNKNOWN).
UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"
# Pub/Sub's defaults when the field is unset (Subscription and Topic REST references):
# a subscription keeps unacked messages 7 days; a topic keeps nothing.
_DEFAULT_RETENTION_SECONDS = {SUBSCRIPTION_TYPE: 7 * 24 * 3600.0, TOPIC_TYPE: 0.0}
# google.protobuf.Duration in JSON: decimal seconds with an "s" suffix.
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)s$")


@dataclass(frozen=True)
class Rule:
    """One watched input: its resource type, its path, and what change of it is dangerous."""

    type: str
    path: tuple[str, ...]
    kind: str  # "changed", "lowered" or "removed"
    what: str


RULES: tuple[Rule, ...] = (
    Rule(SUBSCRIPTION_TYPE, ("pushConfig", "pushEndpoint"), "changed", "push endpoint"),
    Rule(SUBSCRIPTION_TYPE, ("pushConfig", "oidcToken", "audience"), "changed", "OIDC audience"),
    Rule(SUBSCRIPTION_TYPE, ("pushConfig", "oidcToken", "serviceAccountEmail"), "changed", "push service account"),
    Rule(SUBSCRIPTION_TYPE, ("messageRetentionDuration",), "lowered", "message retention"),
    Rule(SUBSCRIPTION_TYPE, ("deadLetterPolicy",), "removed", "dead-letter policy"),
    Rule(SUBSCRIPTION_TYPE, ("deadLetterPolicy", "maxDeliveryAttempts"), "lowered", "dead-letter delivery attempts"),
    Rule(SUBSCRIPTION_TYPE, ("deadLetterPolicy", "deadLetterTopic"), "changed", "dead-letter topic"),
    Rule(SUBSCRIPTION_TYPE, ("pushConfig", "noWrapper"), "changed", "push envelope (the app reads the wrapper)"),
    Rule(TOPIC_TYPE, ("messageRetentionDuration",), "lowered", "message retention"),
    Rule(JOB_TYPE, ("pubsubTarget", "topicName"), "changed", "scheduler job's topic"),
    Rule(JOB_TYPE, ("pubsubTarget", "data"), "changed", "scheduler job's message"),
)
WATCHED_TYPES = frozenset(rule.type for rule in RULES)


@dataclass(frozen=True)
class Misroute:
    """A change to one resource that can lose or misroute work; ``task`` is None for a shared one."""

    type: str
    name: str
    urn: str
    task: str | None
    what: str  # e.g. "push endpoint: https://a/tasks/pubsub/ -> https://b/tasks/pubsub/"


_ABSENT = object()


def _at(inputs: Mapping[str, Any] | None, path: tuple[str, ...]) -> Any:
    """The value at ``path``, ``MASKED`` when a part of the path is masked, else ``_ABSENT``."""
    value: Any = inputs if inputs is not None else {}
    for key in path:
        if value == MASKED:
            return MASKED
        if not isinstance(value, Mapping) or key not in value:
            return _ABSENT
        value = value[key]
    return value


def _seconds(rule: Rule, value: Any) -> float | None:
    """A retention as seconds (the default when unset), or None when it is not a duration."""
    if value is _ABSENT or value is None or value == "":
        return _DEFAULT_RETENTION_SECONDS.get(rule.type)
    match = _DURATION.match(value) if isinstance(value, str) else None
    return float(match.group(1)) if match else None


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _shown(value: Any) -> str:
    if value is _ABSENT:
        return "(unset)"
    return "(known only after the update)" if value == UNKNOWN else str(value)


def _finding(rule: Rule, old: Any, new: Any, changed_keys: Collection[str] | None) -> str | None:
    """What is dangerous about ``old`` -> ``new`` under ``rule``, or None."""
    if MASKED in (old, new):
        # The preview hides the values; its diffReasons (top-level keys) say whether they changed.
        if changed_keys is None or rule.path[0] in changed_keys:
            return f"{rule.what} may change (the value is secret, so the guard cannot tell how)"
        return None
    if rule.kind == "removed":
        return f"{rule.what} removed" if old is not _ABSENT and new is _ABSENT else None
    if old == new:
        return None
    if rule.kind == "changed":
        return f"{rule.what}: {_shown(old)} -> {_shown(new)}"
    if rule.path[-1] == "messageRetentionDuration":
        before, after = _seconds(rule, old), _seconds(rule, new)
    else:
        if new is _ABSENT:  # the policy itself went; the "removed" rule says so
            return None
        before, after = _number(old), _number(new)
    if before is None or after is None:
        return f"{rule.what}: {_shown(old)} -> {_shown(new)} (not a value the guard can compare)"
    return f"{rule.what} lowered: {_shown(old)} -> {_shown(new)}" if after < before else None


def findings(
    type_: str,
    old_inputs: Mapping[str, Any] | None,
    new_inputs: Mapping[str, Any] | None,
    changed_keys: Collection[str] | None = None,
) -> list[str]:
    """What is dangerous in an in-place update of a resource of ``type_``.

    ``changed_keys`` are the top-level inputs the engine says changed (a preview step's
    ``diffReasons``), or None when it does not say.
    """
    if old_inputs is None or new_inputs is None:
        return []
    found = []
    for rule in RULES:
        if rule.type == type_:
            finding = _finding(rule, _at(old_inputs, rule.path), _at(new_inputs, rule.path), changed_keys)
            if finding:
                found.append(finding)
    return found
