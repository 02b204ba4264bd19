"""``./dev drain-check``: stop a deploy that would delete a subscription still holding messages.

A subscription that is deleted (a task removed) or replaced (a task moved to another
module: new ids) loses every message it holds: queued, waiting for a retry, or
dead-lettered. For each subscription a ``pulumi preview --json`` deletes or replaces
(read by :mod:`tools.deletion_guard`, the same reading the guard does), this reports how
many messages it holds, and exits 1 when any holds some, or cannot be counted, unless
the task is approved for dropping them (``--allow-drop TASK``).

Where the count comes from:

- the ``local`` stack (Google's Pub/Sub emulator, ``GYRINX_PUBSUB_EMULATOR``): pulls
  that are never acknowledged, each message handed back at once (ack deadline 0), with
  a push subscription's pushes paused meanwhile (:func:`count_in_emulator`). The
  emulator has no metrics. A pull is a delivery: on a subscription with a dead-letter
  policy it counts towards ``maxDeliveryAttempts``;
- every other stack: Cloud Monitoring's ``pubsub.googleapis.com/subscription/num_undelivered_messages``
  (https://cloud.google.com/monitoring/api/metrics_gcp_p_z#gcp-pubsub: "Number of
  unacknowledged messages (a.k.a. backlog messages) in a subscription. Sampled every 60
  seconds. After sampling, data is not visible for up to 120 seconds"), its latest point
  in the last :data:`LOOKBACK_SECONDS`, through ``projects.timeSeries.list``
  (https://cloud.google.com/monitoring/api/ref_v3/rest/v3/projects.timeSeries/list). No
  point in that window means the count is unknown, which stops the deploy like a backlog.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from infra.ownership import SUBSCRIPTION_TYPE
from infra.settings import LOCAL_STACK
from tools import deletion_guard
from tools.arguments import caller_path
from tools.errors import ToolError, read_json
from tools.standin.pubsub_emulator import EmulatorPubSub

EMULATOR_ENV = "GYRINX_PUBSUB_EMULATOR"
EXIT_BACKLOG = 1
METRIC = "pubsub.googleapis.com/subscription/num_undelivered_messages"
MONITORING_API = "https://monitoring.googleapis.com/v3"
# Sampled every 60 s and visible up to 120 s later: ten minutes holds several samples.
LOOKBACK_SECONDS = 600
# Pulls repeat until one brings nothing new: a pull returns "up to" maxMessages
# (https://cloud.google.com/pubsub/docs/reference/rest/v1/projects.subscriptions/pull).
PULL_BATCH = 1000
MAX_PULLS = 1000
# How long a push subscription is pulled in the emulator (see count_in_emulator).
EMULATOR_WINDOW_SECONDS = 15.0


@dataclass(frozen=True)
class Doomed:
    """A subscription the preview deletes or replaces."""

    op: str
    urn: str
    task: str | None
    project: str
    subscription: str


@dataclass(frozen=True)
class Count:
    """What a subscription holds: ``messages`` None when it could not be counted (``why``)."""

    doomed: Doomed
    messages: int | None
    why: str = ""


def _subscription_path(step: Mapping[str, Any]) -> tuple[str, str] | None:
    """(project, subscription id) of the resource a step removes, from its old state."""
    state = step.get("oldState")
    if not isinstance(state, Mapping):
        return None
    resource_id = state.get("id")
    if isinstance(resource_id, str) and resource_id.startswith("projects/") and "/subscriptions/" in resource_id:
        project, _, subscription = resource_id.removeprefix("projects/").partition("/subscriptions/")
        return project, subscription
    for key in ("outputs", "inputs"):
        values = state.get(key)
        if (
            isinstance(values, Mapping)
            and isinstance(values.get("name"), str)
            and isinstance(values.get("project"), str)
        ):
            return values["project"], values["name"].rsplit("/", 1)[-1]
    return None


def doomed_subscriptions(document: Mapping[str, Any], stack: str, label: str) -> list[Doomed]:
    """The subscriptions the preview ``document`` deletes or replaces, read and checked
    by :func:`tools.deletion_guard.read`; each one's id from the old state of its steps."""
    if "steps" not in document:
        raise ToolError(f"{label}: drain-check reads `pulumi preview --json` output (steps with the old state)")
    change = deletion_guard.read(document, label)
    prefix = f"urn:pulumi:{stack}::"
    wrong = [r.urn for r in change.removals if not r.urn.startswith(prefix)]
    if wrong:
        raise ToolError(f"{label}: a preview of another stack than {stack} ({wrong[0]})")
    found: list[Doomed] = []
    for removal in change.removals:
        if removal.type != SUBSCRIPTION_TYPE:
            continue
        paths = {
            path
            for step in document["steps"]
            if isinstance(step, Mapping) and step.get("urn") == removal.urn
            for path in [_subscription_path(step)]
            if path is not None
        }
        if len(paths) != 1:
            raise ToolError(f"{label}: cannot tell which subscription {removal.urn} is: no old state with its id")
        project, subscription = paths.pop()
        found.append(Doomed(removal.op, removal.urn, removal.task, project, subscription))
    return found


# --- Counting ------------------------------------------------------------------------------


def count_in_emulator(pubsub: EmulatorPubSub, doomed: Doomed, window: float = EMULATOR_WINDOW_SECONDS) -> Count:
    """Pull without acknowledging, handing each message back at once, and count the
    distinct messages seen.

    A push subscription's messages are held by the emulator's push loop while they wait
    out a retry backoff, and a pull does not see them (measured: none of two messages
    pushed to a dead endpoint came back to pulls on the push subscription). So pushes are
    paused for the count (``modifyPushConfig`` to an empty config makes it a pull
    subscription) and restored after, and pulls go on for ``window`` seconds: a message
    whose backoff outlasts the window is missed, so for a push subscription the count is
    a lower bound ("at least"). A pull subscription's nacked messages come back at once,
    so it is pulled until a pull brings nothing new."""
    current = pubsub.read_subscription(doomed.project, doomed.subscription)
    if current is None:
        return Count(doomed, 0, "already gone from the emulator")
    push = dict(current.get("pushConfig") or {})
    pushing = bool(push.get("pushEndpoint"))
    if pushing:
        pubsub.modify_push_config(doomed.project, doomed.subscription, {})
    seen: set[str] = set()
    deadline = time.monotonic() + window
    try:
        for _ in range(MAX_PULLS):
            received = pubsub.pull(doomed.project, doomed.subscription, PULL_BATCH)
            pubsub.modify_ack_deadline(doomed.project, doomed.subscription, [r["ackId"] for r in received], 0)
            new = {str(r["message"]["messageId"]) for r in received} - seen
            seen |= new
            if pushing and time.monotonic() < deadline:
                time.sleep(0.5)
            elif not new:
                break
    finally:
        if pushing:
            pubsub.modify_push_config(doomed.project, doomed.subscription, push)
    why = f"at least: pushes paused for {window:.0f} s to pull" if pushing else ""
    return Count(doomed, len(seen), why)


Fetch = Callable[[str], Mapping[str, Any]]


def monitoring_url(doomed: Doomed, now: datetime) -> str:
    """The ``projects.timeSeries.list`` call for one subscription's backlog metric."""
    query = {
        "filter": (
            f'metric.type = "{METRIC}" AND resource.type = "pubsub_subscription" AND '
            f'resource.label.subscription_id = "{doomed.subscription}"'
        ),
        "interval.startTime": (now - timedelta(seconds=LOOKBACK_SECONDS)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "interval.endTime": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "view": "FULL",
    }
    return f"{MONITORING_API}/projects/{doomed.project}/timeSeries?{urllib.parse.urlencode(query)}"


def latest_backlog(response: Mapping[str, Any], subscription: str) -> int | None:
    """The newest point of ``subscription``'s series in a ``ListTimeSeriesResponse``, or
    None when it has none. Points come newest first ("returned in reverse time order",
    TimeSeries reference); an INT64 value is a JSON string (proto3 JSON mapping)."""
    latest: tuple[str, int] | None = None
    for series in response.get("timeSeries", []):
        if series.get("resource", {}).get("labels", {}).get("subscription_id") != subscription:
            continue
        for point in series.get("points", []):
            end = str(point.get("interval", {}).get("endTime", ""))
            value = point.get("value", {}).get("int64Value")
            if value is not None and (latest is None or end > latest[0]):
                latest = (end, int(value))
    return None if latest is None else latest[1]


def count_in_cloud(fetch: Fetch, doomed: Doomed, now: datetime) -> Count:
    """The subscription's backlog from Cloud Monitoring (None when it reported no point)."""
    try:
        response = fetch(monitoring_url(doomed, now))
    except ToolError as exc:
        return Count(doomed, None, str(exc))
    messages = latest_backlog(response, doomed.subscription)
    if messages is None:
        return Count(
            doomed, None, f"Cloud Monitoring has no {METRIC} point in the last {LOOKBACK_SECONDS // 60} minutes"
        )
    return Count(doomed, messages)


def google_fetch(url: str) -> Mapping[str, Any]:
    """GET ``url`` with the caller's gcloud access token (the deploy's identity needs
    ``monitoring.timeSeries.list``, e.g. roles/monitoring.viewer)."""
    try:
        token = subprocess.run(
            ["gcloud", "auth", "print-access-token"], capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError) as exc:
        raise ToolError(f"no access token from `gcloud auth print-access-token`: {exc}") from None
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})  # noqa: S310 - https
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310
            result: Mapping[str, Any] = json.load(answer)
            return result
    except urllib.error.HTTPError as exc:
        raise ToolError(f"Cloud Monitoring answered HTTP {exc.code}: {exc.read()[:300]!r}") from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise ToolError(f"cannot read Cloud Monitoring: {exc}") from None


# --- Verdict -------------------------------------------------------------------------------


def blocking(counts: Sequence[Count], allowed: set[str]) -> list[Count]:
    """The counts that stop the deploy: a backlog, or no count, of a task not approved."""
    return [
        count
        for count in counts
        if (count.messages is None or count.messages > 0)
        and not ({count.doomed.task, count.doomed.subscription} & allowed)
    ]


def report(counts: Sequence[Count], stopped: Sequence[Count], allowed: set[str]) -> str:
    """One line per doomed subscription, then the verdict."""
    lines = []
    for count in counts:
        owner = f"task {count.doomed.task}" if count.doomed.task else count.doomed.urn
        held = (
            f"holds {count.messages} message{'s' if count.messages != 1 else ''}"
            + (f" ({count.why})" if count.why else "")
            if count.messages is not None
            else f"cannot be counted ({count.why})"
        )
        approved = " (approved: --allow-drop)" if count not in stopped and count.messages != 0 else ""
        lines.append(f"  {count.doomed.op:<8} {count.doomed.subscription} ({owner}): {held}{approved}")
    if not counts:
        lines.append("  the preview deletes or replaces no subscription")
    if stopped:
        tasks = sorted({c.doomed.task or c.doomed.subscription for c in stopped})
        lines.append(
            f"STOP: {len(stopped)} subscription(s) would be deleted with messages in them, or uncounted; drain "
            f"them first (README: 'Messages on removal and on a module move'), or approve the loss with "
            + " ".join(f"--allow-drop {task}" for task in tasks)
        )
    else:
        lines.append(
            "OK: no subscription is deleted with messages in it" + (" that is not approved" if allowed else "")
        )
    return "\n".join(lines) + "\n"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``--stack``, ``--preview`` and the approvals."""
    parser.add_argument("--stack", required=True, help="the stack the preview is of (local: the emulator)")
    parser.add_argument("--preview", required=True, type=caller_path, help="what `pulumi preview --json` printed")
    parser.add_argument(
        "--allow-drop",
        action="append",
        default=[],
        metavar="TASK",
        help="approve losing the messages of this task's subscriptions (a task name or a subscription id); repeatable",
    )


def check(
    document: Mapping[str, Any],
    stack: str,
    allowed: set[str],
    *,
    label: str = "the preview",
    emulator: str | None = None,
    fetch: Fetch | None = None,
    now: datetime | None = None,
) -> tuple[list[Count], list[Count]]:
    """Every doomed subscription's count, and those that stop the deploy."""
    doomed = doomed_subscriptions(document, stack, label)
    if stack == LOCAL_STACK:
        if not emulator:
            raise ToolError(
                f"the {LOCAL_STACK} stack lives in the Pub/Sub emulator: set {EMULATOR_ENV} (./dev local up prints it)"
            )
        pubsub = EmulatorPubSub(emulator)
        counts = [count_in_emulator(pubsub, d) for d in doomed]
    else:
        moment = now or datetime.now(UTC)
        counts = [count_in_cloud(fetch or google_fetch, d, moment) for d in doomed]
    return counts, blocking(counts, allowed)


def run(args: argparse.Namespace) -> int:
    """Report the doomed subscriptions' backlogs; exit 1 when one would be lost unapproved."""
    label = str(args.preview)
    document = read_json(args.preview, label, "write it with `pulumi preview --json > FILE`")
    if not isinstance(document, Mapping):
        raise ToolError(f"{label}: not `pulumi preview --json` output")
    allowed = set(args.allow_drop)
    counts, stopped = check(document, args.stack, allowed, label=label, emulator=os.environ.get(EMULATOR_ENV))
    sys.stdout.write(report(counts, stopped, allowed))
    return EXIT_BACKLOG if stopped else 0
