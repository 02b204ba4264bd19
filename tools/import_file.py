"""``python -m tools import-file``: adopt what the app's runtime provisioning created.

The app's ``provision_tasks`` created each task's topic, push subscription and (for a
scheduled task) scheduler job, and used a push service account made by hand. This
builds the ``pulumi import --file`` document for exactly those, under the logical names
and parents the program declares, so the first ``pulumi up`` after the import updates
them in place instead of creating duplicates or replacing them.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable
from typing import Any

from infra import naming
from tools import runner
from tools.arguments import add_stack_arguments
from tools.mocks import Registration
from tools.runner import Plan

TOPIC = "gcp:pubsub/topic:Topic"
SUBSCRIPTION = "gcp:pubsub/subscription:Subscription"
JOB = "gcp:cloudscheduler/job:Job"
ACCOUNT = "gcp:serviceaccount/account:Account"
# The children of a TaskQueue that provision_tasks created, by logical-name suffix
# (task_queue.py): the task topic, the push subscription, the scheduler job.
_ADOPTED_SUFFIXES = {TOPIC: "-topic", SUBSCRIPTION: "-sub", JOB: "-job"}


def import_id(registration: Registration) -> str:
    """Google's import id of a topic, subscription, job or service account."""
    inputs = registration.inputs
    if registration.type == TOPIC:
        return f"projects/{inputs['project']}/topics/{inputs['name']}"
    if registration.type == SUBSCRIPTION:
        return f"projects/{inputs['project']}/subscriptions/{inputs['name']}"
    if registration.type == JOB:
        return f"projects/{inputs['project']}/locations/{inputs['region']}/jobs/{inputs['name']}"
    if registration.type == ACCOUNT:
        email = naming.service_account_email(inputs["accountId"], inputs["project"])
        return f"projects/{inputs['project']}/serviceAccounts/{email}"
    raise ValueError(f"{registration.type} is not adopted from the runtime provisioning")


def _adopted(registration: Registration, adopt_push_account: bool) -> bool:
    if registration.type == ACCOUNT:
        return adopt_push_account
    suffix = _ADOPTED_SUFFIXES.get(registration.type)
    return suffix is not None and registration.name.endswith(suffix) and not registration.name.endswith("-dlq-sub")


def build(plan: Plan, adopt_push_account: bool = True) -> tuple[dict[str, Any], list[str]]:
    """The import document, and a line for each resource that will be created instead.

    Each adopted resource names its parent component, and each such component is in
    the document as an empty ``component`` entry, so imported URNs match the program's.
    """
    components = {r.urn: r for r in plan.registrations if not r.custom}
    adopted: list[Registration] = []
    created: list[str] = []
    for registration in sorted(plan.registrations, key=lambda r: (r.type, r.name)):
        if not registration.custom:
            continue
        if _adopted(registration, adopt_push_account):
            adopted.append(registration)
        else:
            created.append(f"will be created: {registration.type} {registration.name}")

    entries: list[dict[str, Any]] = []
    parents = sorted({r.parent for r in adopted if r.parent in components}, key=lambda urn: components[urn].name)
    for urn in parents:
        entries.append({"type": components[urn].type, "name": components[urn].name, "component": True})
    for registration in adopted:
        entry = {"type": registration.type, "name": registration.name, "id": import_id(registration)}
        if registration.parent in components:
            entry["parent"] = components[registration.parent].name
        entries.append(entry)
    return {"resources": entries}, created


def adopted_entries(document: dict[str, Any]) -> Iterable[dict[str, Any]]:
    """The entries of real resources (not the placeholder components)."""
    return (entry for entry in document["resources"] if not entry.get("component"))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``import-file``."""
    add_stack_arguments(parser)
    parser.add_argument(
        "--new-push-account",
        action="store_true",
        help="the push service account does not exist yet: create it instead of adopting it",
    )


def run(args: argparse.Namespace) -> int:
    """Print the import document; what will be created instead goes to stderr."""
    plan = runner.run_plan(args.stack, args.config)
    document, created = build(plan, adopt_push_account=not args.new_push_account)
    sys.stdout.write(json.dumps(document, indent=2) + "\n")
    for line in created:
        print(line, file=sys.stderr)
    return 0
