"""``python -m tools import-file``: adopt what the app's runtime provisioning created.

The app's ``provision_tasks`` created each task's topic, push subscription and (for a
scheduled task) scheduler job, and used a push service account made by hand. This
builds the ``pulumi import --file`` document for those, under the logical names and
parents the program declares, so the first ``pulumi up`` after the import updates them
in place instead of creating duplicates or replacing them.

``pulumi import`` is one deployment: one id that does not exist aborts all of it ("resource
'...' does not exist", pulumi/pulumi ``pkg/resource/deploy/step.go``, ImportStep). The
app's provisioning logged and skipped a task that failed, and a task added since the app
last booted has nothing yet, so the document must hold only what exists. The inventory
says what exists: the JSON each ``gcloud ... list --format=json`` prints (:data:`KINDS`).

- With an inventory, the document holds each adoptable resource whose id the inventory
  lists; every other declared resource is reported as "will be created". An inventory
  must cover every kind the document would hold (topics and subscriptions; jobs when the
  stack schedules a task; service accounts when the stack creates the push account,
  unless ``--new-push-account`` says it does not exist): a kind left out is refused, not
  guessed, since guessing "exists" can abort the import and guessing "absent" makes
  ``pulumi up`` fail to create what exists.
- Without one, every adoptable resource is in the document (the old behaviour), with a
  warning and the commands that list what exists.

It also reports, from the inventory, what the first ``pulumi up`` would replace rather
than update (a subscription attached to another topic, or to ``_deleted-topic_``), and
the environment's orphans: resources with this stack's id prefix that it does not declare.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from infra import naming, ownership
from infra.settings import Settings
from tools import runner
from tools.arguments import add_stack_arguments, caller_path
from tools.errors import ToolError, read_json
from tools.mocks import Registration
from tools.runner import Plan

TOPIC = ownership.TOPIC_TYPE
SUBSCRIPTION = ownership.SUBSCRIPTION_TYPE
JOB = ownership.JOB_TYPE
# The push service account: a shared resource (SharedIam's child, shared_iam.py), not a
# task's, declared only when the stack creates it.
ACCOUNT = ownership.SERVICE_ACCOUNT_TYPE
# What Pub/Sub reports as a subscription's topic once that topic was deleted (Subscription
# REST reference, field "topic"; google-cloud-sdk generated_clients/apis/pubsub/v1/pubsub_v1_messages.py).
DELETED_TOPIC = "_deleted-topic_"


@dataclass(frozen=True)
class StackPlace:
    """Where a stack's resources live: what the inventory must come from, and the id
    prefixes of its environment (the app's naming, :mod:`infra.naming`)."""

    stack: str
    project: str
    region: str
    environment: str

    @classmethod
    def of(cls, settings: Settings) -> StackPlace:
        """The place of the stack ``settings`` were read for."""
        return cls(settings.stack, settings.project, settings.region, settings.environment)


@dataclass(frozen=True)
class Kind:
    """One kind of resource an inventory file lists, and the gcloud command that lists it.

    ``name`` matches each entry's ``name`` (the REST resource name, which is also the
    Pulumi import id; ``form`` says it for people); ``prefix`` gives the environment's id prefix of the app's
    resources of this kind (None: the kind has no orphans).
    """

    type: str
    option: str
    noun: str
    name: re.Pattern[str]
    form: str
    command: str
    prefix: Callable[[str], str] | None = None

    @property
    def dest(self) -> str:
        """The argparse attribute of :attr:`option`."""
        return self.option.replace("-", "_")

    def list_command(self, place: StackPlace) -> str:
        """The gcloud command that writes this kind's inventory file for ``place``."""
        return self.command.format(project=place.project, region=place.region, file=f"{self.option}.json")


# The list commands and their resources' names, from the gcloud 578.0.0 sources: surface/pubsub/
# topics/list.py and subscriptions/list.py (Pub/Sub v1 Topic, Subscription); surface/scheduler/jobs/list.yaml
# (Cloud Scheduler v1 Job; --location is needed unless an App Engine app gives a default,
# command_lib/scheduler/resources.yaml); surface/iam/service_accounts/list.py (IAM v1 ServiceAccount).
KINDS: tuple[Kind, ...] = (
    Kind(
        TOPIC,
        "topics",
        "topic",
        re.compile(r"projects/(?P<project>[^/]+)/topics/(?P<id>[^/]+)"),
        "projects/PROJECT/topics/ID",
        "gcloud pubsub topics list --project={project} --format=json > {file}",
        lambda environment: naming.topic_id(environment, ""),
    ),
    Kind(
        SUBSCRIPTION,
        "subscriptions",
        "subscription",
        re.compile(r"projects/(?P<project>[^/]+)/subscriptions/(?P<id>[^/]+)"),
        "projects/PROJECT/subscriptions/ID",
        "gcloud pubsub subscriptions list --project={project} --format=json > {file}",
        # A task's subscription id is its topic id plus "-sub" (naming.task_names).
        lambda environment: naming.topic_id(environment, ""),
    ),
    Kind(
        JOB,
        "jobs",
        "job",
        re.compile(r"projects/(?P<project>[^/]+)/locations/(?P<location>[^/]+)/jobs/(?P<id>[^/]+)"),
        "projects/PROJECT/locations/REGION/jobs/ID",
        "gcloud scheduler jobs list --project={project} --location={region} --format=json > {file}",
        lambda environment: naming.scheduler_job_id(environment, ""),
    ),
    Kind(
        ACCOUNT,
        "service-accounts",
        "service account",
        re.compile(r"projects/(?P<project>[^/]+)/serviceAccounts/(?P<id>[^/]+@[^/]+)"),
        "projects/PROJECT/serviceAccounts/EMAIL",
        "gcloud iam service-accounts list --project={project} --format=json > {file}",
    ),
)
KIND_OF = {kind.type: kind for kind in KINDS}

# Fields a subscription cannot change in place (the catalogue's immutable inputs), less
# those in its import id and ``tags`` (input only: Google never lists them back), with the
# value Google leaves out when unset. A topic's, job's and account's immutable fields
# (name, region, accountId; a topic's tags are input only too) are all in the import id,
# so an imported one always matches.
_UNSET = {"enableMessageOrdering": False}
_IMMUTABLE = {
    SUBSCRIPTION: tuple(
        (field, _UNSET.get(field, ""))
        for field in sorted(ownership.SUBSCRIPTION_KIND.immutable - {"name", "project", "tags"})
    )
}


def import_id(registration: Registration) -> str:
    """Google's import id (the REST resource name, the catalogue's id) of a resource of a
    type the catalogue marks adopted."""
    kind = ownership.KIND_OF.get(registration.type)
    if kind is None or not kind.adopted or kind.google_id is None:
        raise ValueError(f"{registration.type} has no Google import id here")
    return kind.google_id(registration.inputs)


def is_adoptable(registration: Registration) -> bool:
    """Whether the app's provisioning made it: a task's child that :mod:`infra.ownership`
    marks ``adopted``, or a shared resource of a kind the catalogue marks adopted (the
    push service account)."""
    owned = ownership.child_of(registration.type, registration.name)
    if owned is not None:
        return owned[1].adopted
    kind = ownership.KIND_OF.get(registration.type)
    return kind is not None and kind.adopted


@dataclass(frozen=True)
class Inventory:
    """What exists, as the gcloud list commands printed it: for each kind given (by
    resource type), every resource by its REST name (which is its import id)."""

    listed: Mapping[str, Mapping[str, Mapping[str, Any]]]

    def given(self, type_: str) -> bool:
        """Whether the inventory lists resources of ``type_`` at all."""
        return type_ in self.listed

    def get(self, type_: str, resource_id: str) -> Mapping[str, Any] | None:
        """The listed resource of ``type_`` named ``resource_id``, or None."""
        return self.listed.get(type_, {}).get(resource_id)


def _entry_problem(kind: Kind, entry: Any, place: StackPlace) -> str | None:
    name = entry.get("name") if isinstance(entry, dict) else None
    if not isinstance(name, str):
        return f'has no "name" (a {kind.noun} name is {kind.form})'
    match = kind.name.fullmatch(name)
    if match is None:
        return f"is {name!r}, not a {kind.noun} name ({kind.form})"
    if match["project"] != place.project:
        return f"lists {name}, from project {match['project']}, not the stack's project {place.project}"
    if "location" in kind.name.groupindex and match["location"] != place.region:
        return f"lists {name}, from location {match['location']}, not the stack's region {place.region}"
    return None


def read_inventory_file(kind: Kind, path: Path, place: StackPlace) -> dict[str, Mapping[str, Any]]:
    """The resources in one inventory file, by name; ToolError (one line naming the file)
    when it is not what ``kind``'s list command prints for ``place``."""
    label = f"--{kind.option} {path}"
    hint = f"write it with: {kind.list_command(place)}"
    document = read_json(path, label, hint)
    if not isinstance(document, list):
        raise ToolError(f"{label}: not a JSON list of {kind.noun}s; {hint}")
    listed: dict[str, Mapping[str, Any]] = {}
    for position, entry in enumerate(document, start=1):
        problem = _entry_problem(kind, entry, place)
        if problem:
            raise ToolError(f"{label}: entry {position} {problem}; {hint}")
        listed[entry["name"]] = entry
    return listed


def read_inventory(files: Mapping[str, Path], place: StackPlace) -> Inventory:
    """The inventory from ``files`` (resource type -> file)."""
    return Inventory({type_: read_inventory_file(KIND_OF[type_], path, place) for type_, path in files.items()})


@dataclass(frozen=True)
class Adoption:
    """The import document, and what the migration should know about the rest.

    ``created``: declared resources the import leaves to ``pulumi up`` (first those the app
    should have made but the inventory lacks); ``warnings``: what needs a decision before
    the import; ``orphans``: "orphan: NOUN NAME" for each resource with the environment's
    prefix that the stack does not declare (None without an inventory: unknown).
    """

    document: dict[str, Any]
    created: tuple[str, ...]
    warnings: tuple[str, ...]
    orphans: tuple[str, ...] | None

    def entries(self) -> list[dict[str, Any]]:
        """The entries of real resources (not the placeholder components)."""
        return [entry for entry in self.document["resources"] if not entry.get("component")]

    def report(self) -> list[str]:
        """The lines for stderr: warnings, creations, orphans, and a summary."""
        imported = len(self.entries())
        components = len(self.document["resources"]) - imported
        orphans = "orphans unknown (no inventory)" if self.orphans is None else f"{len(self.orphans)} orphans"
        summary = f"{imported} to import (with {components} parent components), {len(self.created)} will be created, {orphans}"
        if not imported:
            summary += "; nothing to import: skip `pulumi import`"
        return [*self.warnings, *self.created, *(self.orphans or ()), summary]


def _requirements_problem(
    needed: Iterable[str], inventory: Inventory, place: StackPlace, adopt_push_account: bool
) -> str | None:
    wanted = set(needed)
    missing = [kind for kind in KINDS if kind.type in wanted and not inventory.given(kind.type)]
    if not missing:
        return None
    parts = []
    for kind in missing:
        part = f"--{kind.option} ({kind.list_command(place)})"
        if kind.type == ACCOUNT and adopt_push_account:
            part += " or --new-push-account if the push account does not exist yet"
        parts.append(part)
    return (
        f"stack {place.stack}: an inventory must list every kind of resource the import may adopt; missing "
        + ", ".join(parts)
    )


def _replacements(registration: Registration, listed: Mapping[str, Any], resource_id: str) -> list[str]:
    lines = []
    for field, unset in _IMMUTABLE.get(registration.type, ()):
        actual, declared = listed.get(field, unset), registration.inputs.get(field, unset)
        if actual == declared:
            continue
        why = f"its {field} is {json.dumps(actual)}"
        if field == "topic" and actual == DELETED_TOPIC:
            why += " (the topic it was made for was deleted)"
        lines.append(
            f"warning: the first `pulumi up` will replace, not update, {registration.type} {registration.name} "
            f"({resource_id}): {why} and the stack declares {json.dumps(declared)}; the replacement deletes it "
            "with every message it holds: drain it, delete it, list the subscriptions again and rerun import-file, "
            "so it is created instead"
        )
    return lines


# What follows the environment in each id the app makes (infra.naming): a topic or
# subscription id is "{env}--gyrinx.tasks--{path}" (plus "-sub", "-dlq", "-dlq-sub"), a
# job id "{env}--gyrinx-scheduler--{path with dots as hyphens}".
_TOPIC_MARK = naming.topic_id("", "")
_JOB_MARK = naming.scheduler_job_id("", "")


def _other_environments(inventory: Inventory, declared: list[Registration], environment: str) -> dict[str, list[str]]:
    """Ids in the inventory that name this stack's own tasks under another environment
    prefix, by that prefix: the sign of a mistyped ``gyrinx-tasks:environment``."""
    own_topic, own_job = naming.topic_id(environment, ""), naming.scheduler_job_id(environment, "")
    wanted: dict[str, set[str]] = {TOPIC: set(), SUBSCRIPTION: set(), JOB: set()}
    for registration in declared:
        name = str(registration.inputs.get("name", ""))
        if registration.type in (TOPIC, SUBSCRIPTION) and name.startswith(own_topic):
            wanted[registration.type].add(name.removeprefix(own_topic))
        elif registration.type == JOB and name.startswith(own_job):
            wanted[JOB].add(name.removeprefix(own_job))
    found: dict[str, list[str]] = {}
    for type_, rests in wanted.items():
        mark = _JOB_MARK if type_ == JOB else _TOPIC_MARK
        for resource_name in sorted(inventory.listed.get(type_, {})):
            prefix, sep, rest = resource_name.rsplit("/", 1)[1].partition(mark)
            if sep and prefix and prefix != environment and rest in rests:
                found.setdefault(prefix, []).append(resource_name)
    return found


def _environment_warnings(found: Mapping[str, list[str]], adopted_tasks: int, place: StackPlace) -> list[str]:
    """A warning per other prefix holding more of the stack's tasks than its own prefix
    does (most likely a mistyped environment); a note when the stack's own prefix holds
    more (most likely another environment sharing the project)."""
    lines = []
    for prefix, names in sorted(found.items(), key=lambda item: (-len(item[1]), item[0])):
        held = f"the inventory holds {len(names)} of this stack's task resources under environment prefix {prefix!r} (e.g. {names[0]})"
        if len(names) <= adopted_tasks:
            lines.append(
                f"note: {held}, fewer than the {adopted_tasks} under this stack's environment {place.environment!r}: "
                "another environment in the same project, which this stack leaves alone"
            )
            continue
        mine = f"only {adopted_tasks}" if adopted_tasks else "none"
        lines.append(
            f"warning: {held} and {mine} under this stack's environment {place.environment!r}. If the app's "
            f"TASKS_ENVIRONMENT is {prefix!r}, set gyrinx-tasks:environment to {prefix!r} (stack {place.stack}) and "
            "rerun: otherwise the first `pulumi up` creates a second set of topics, subscriptions and jobs beside "
            "the app's, and the app keeps using its own"
        )
    return lines


def _orphans(inventory: Inventory, declared_ids: set[str], environment: str) -> list[str]:
    lines = []
    for kind in KINDS:
        if kind.prefix is None or not inventory.given(kind.type):
            continue
        prefix = kind.prefix(environment)
        for name in sorted(inventory.listed[kind.type]):
            if name.rsplit("/", 1)[1].startswith(prefix) and name not in declared_ids:
                lines.append(f"orphan: {kind.noun} {name}")
    return lines


def _document(adopted: list[Registration], components: Mapping[str, Registration]) -> dict[str, Any]:
    """Adopted resources, each naming its parent component, and each such component as an
    empty ``component`` entry, so imported URNs match the program's.

    The file format (pulumi/pulumi pkg/cmd/pulumi/operations/import.go, importSpec): a
    ``parent`` names another entry by ``name``, which must be unambiguous there; the URN
    uses ``logicalName`` (``name`` when unset; pulumi/pulumi#14745). A task may share a
    name with a shared component (a task called ``shared``), so such entries get a
    distinct ``name`` and keep the logical one in ``logicalName``.
    """
    parents = sorted({r.parent for r in adopted if r.parent in components}, key=lambda urn: components[urn].name)
    rows = [(components[urn], True) for urn in parents] + [(r, False) for r in adopted]
    counts = Counter(registration.name for registration, _ in rows)
    # The name other entries refer to each by.
    reference = {r.urn: r.name if counts[r.name] == 1 else f"{r.name} ({r.type})" for r, _ in rows}
    entries: list[dict[str, Any]] = []
    for registration, component in rows:
        entry: dict[str, Any] = {"type": registration.type, "name": reference[registration.urn]}
        if reference[registration.urn] != registration.name:
            entry["logicalName"] = registration.name
        if component:
            entry["component"] = True
        else:
            entry["id"] = import_id(registration)
            if registration.parent in components:
                entry["parent"] = reference[registration.parent]
        entries.append(entry)
    return {"resources": entries}


def build(
    plan: Plan, place: StackPlace, inventory: Inventory | None = None, adopt_push_account: bool = True
) -> Adoption:
    """The import document for ``plan``: with ``inventory``, only what it lists.

    Raises ToolError when the inventory leaves out a kind the document needs.
    """
    components = {r.urn: r for r in plan.registrations if not r.custom}
    declared = sorted((r for r in plan.registrations if r.custom), key=lambda r: (r.type, r.name))
    adoptable = {r.urn: r for r in declared if is_adoptable(r) and (r.type != ACCOUNT or adopt_push_account)}
    if inventory is not None:
        problem = _requirements_problem((r.type for r in adoptable.values()), inventory, place, adopt_push_account)
        if problem:
            raise ToolError(problem)

    adopted: list[Registration] = []
    missing: list[str] = []  # what the app should have made: listed first, as it is the surprise
    created: list[str] = []
    warnings: list[str] = []
    for registration in declared:
        resource_id = import_id(registration) if registration.type in KIND_OF else None
        listed = inventory.get(registration.type, resource_id) if inventory and resource_id else None
        if registration.urn in adoptable and (inventory is None or listed is not None):
            adopted.append(registration)
            if listed is not None and resource_id is not None:
                warnings.extend(_replacements(registration, listed, resource_id))
            continue
        if listed is not None:
            warnings.append(
                f"note: {registration.type} {registration.name} ({resource_id}) exists but is not imported (the "
                "app never creates one): unless the stack already holds it, `pulumi up` fails to create it"
            )
            continue
        suffix = f" ({resource_id})" if resource_id else ""
        line = f"will be created: {registration.type} {registration.name}{suffix}"
        (missing if registration.urn in adoptable else created).append(line)

    orphans: tuple[str, ...] | None = None
    if inventory is not None:
        declared_ids = {import_id(r) for r in declared if r.type in KIND_OF}
        orphans = tuple(_orphans(inventory, declared_ids, place.environment))
        adopted_tasks = sum(1 for r in adopted if r.type != ACCOUNT)
        found = _other_environments(inventory, declared, place.environment)
        warnings = [*_environment_warnings(found, adopted_tasks, place), *warnings]
    return Adoption(_document(adopted, components), (*missing, *created), tuple(warnings), orphans)


def no_inventory_warning(plan: Plan, place: StackPlace, adopt_push_account: bool) -> str:
    """What to do instead of importing blind: the list commands and the command line."""
    types = {r.type for r in plan.registrations if r.custom and is_adoptable(r)}
    if not adopt_push_account:
        types.discard(ACCOUNT)
    kinds = [kind for kind in KINDS if kind.type in types or kind.prefix is not None]
    options = " ".join(f"--{kind.option} {kind.option}.json" for kind in kinds)
    flag = "" if adopt_push_account else " --new-push-account"
    return "\n".join(
        [
            "warning: no inventory given, so a document could only list every resource the app's provisioning "
            "should have made. `pulumi import` is one deployment: if one of those ids does not exist (a task added "
            "since the app last booted, or one whose provisioning failed), the whole import fails and imports "
            "nothing. List what exists and pass it:",
            *(f"  {kind.list_command(place)}" for kind in kinds),
            f"  ./dev import-file --stack {place.stack} {options}{flag} > import.json",
        ]
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``import-file``."""
    add_stack_arguments(parser)
    for kind in KINDS:
        parser.add_argument(
            f"--{kind.option}",
            type=caller_path,
            metavar="FILE",
            help=f"the {kind.noun}s that exist: what `{kind.command.split(' >')[0].format(project='PROJECT', region='REGION')}` prints",
        )
    parser.add_argument(
        "--unchecked",
        action="store_true",
        help="without any inventory, list every id the old provisioning should have made (one that does not "
        "exist aborts the whole `pulumi import`)",
    )
    parser.add_argument(
        "--new-push-account",
        action="store_true",
        help="the push service account does not exist yet: create it instead of adopting it "
        "(without --service-accounts)",
    )


def run(args: argparse.Namespace) -> int:
    """Print the import document; what will be created, warnings and orphans go to stderr."""
    files = {kind.type: getattr(args, kind.dest) for kind in KINDS if getattr(args, kind.dest) is not None}
    if args.unchecked and files:
        raise ToolError("--unchecked is for a run without any inventory file: drop it, or drop the inventory")
    if args.new_push_account and ACCOUNT in files:
        raise ToolError(
            "--new-push-account and --service-accounts: pass one (the inventory already says whether it exists)"
        )
    plan = runner.run_plan(args.stack, args.config)  # one run: its settings and its resources
    if plan.settings is None:
        raise ToolError(f"the program declared stack {args.stack} without settings")
    place = StackPlace.of(plan.settings)
    inventory = read_inventory(files, place) if files else None
    adopt_push_account = not args.new_push_account
    if inventory is None and not args.unchecked:
        print(no_inventory_warning(plan, place, adopt_push_account), file=sys.stderr)
        raise ToolError(
            "import-file needs the cloud's inventory (the list commands above) so that it imports only what exists; "
            "pass --unchecked to list every declared id anyway"
        )
    adoption = build(plan, place, inventory, adopt_push_account)
    sys.stdout.write(json.dumps(adoption.document, indent=2) + "\n")
    if inventory is None:
        print(no_inventory_warning(plan, place, adopt_push_account), file=sys.stderr)
    for line in adoption.report():
        print(line, file=sys.stderr)
    return 0
