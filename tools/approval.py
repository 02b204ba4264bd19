"""Who approved a pull request's deletions: read from GitHub's own records, never from a label.

The deletion guard lets a change delete a task's resources, or lose or misroute its work,
only when it is approved. An approval counts when, and only when:

- it is a review whose ``state`` is ``APPROVED`` (a dismissed one reads ``DISMISSED``),
- of the pull request's last commit (the review's ``commit_id`` is the head's ``sha``:
  a push after it leaves it on an older commit, so it no longer counts),
- by a user whose role on the repository is ``admin`` or ``maintain`` (not the author),
- whose text holds the approval, ``allow-task-deletions``, as a line of its own,
- not withdrawn by a later ``CHANGES_REQUESTED`` review of the same user,
- whose text nobody but its author edited (anyone with write access may edit another
  user's review, and the edit keeps its state, commit and time: so an edited review
  counts only when its last editor is its author),
- and, for a merged pull request, submitted before it was merged: the deploy reads the
  approval as it stood at merge.

Such an approval may also name tasks whose queued messages may be dropped, on a line
``drop-messages: TASK [TASK ...]``: ``./dev drain-check`` otherwise stops a deploy that
deletes or replaces a subscription still holding messages.

The inputs are GitHub's REST answers, saved by the workflows with ``gh api``:

- the pull request: ``GET /repos/{owner}/{repo}/pulls/{number}`` (``number``, ``user.login``,
  ``head.sha``, ``base.ref``, ``merged_at``, ``merge_commit_sha``),
- its reviews, oldest first, through GraphQL (``.github/scripts/reviews.graphql``: ``state``,
  ``body``, ``submittedAt``, ``lastEditedAt``, ``author``, ``editor``, ``commit.oid``; the
  REST list does not say who edited a review),
- each approving reviewer's role: ``GET /repos/{owner}/{repo}/collaborators/{login}/permission``
  (``role_name``: ``admin``, ``maintain``, ``write``, ``triage``, ``read`` or a custom role;
  ``permission`` folds maintain into write, so it is not used),
- for a deploy, the pull requests of the deployed commit: ``GET .../commits/{sha}/pulls``.

Sources: docs.github.com/en/rest/pulls/pulls#get-a-pull-request,
docs.github.com/en/graphql/reference/objects#pullrequestreview,
docs.github.com/en/rest/collaborators/collaborators#get-repository-permissions-for-a-user,
docs.github.com/en/rest/commits/commits#list-pull-requests-associated-with-a-commit.

This module runs from the base branch's checkout (the pull request's code never decides
its own approval): see the workflows.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from infra.inputs import read_json
from tools.arguments import caller_path
from tools.errors import UnreadableRecord

APPROVAL = "allow-task-deletions"
DROP_MESSAGES = "drop-messages:"
APPROVING_ROLES = frozenset({"admin", "maintain"})
# The approval is a line of its own, so a quote or a negation ("won't allow-task-deletions")
# inside a sentence never counts.
_APPROVAL_WORD = re.compile(rf"^[ \t]*{re.escape(APPROVAL)}[ \t]*$", re.IGNORECASE | re.MULTILINE)
_DROP_LINE = re.compile(rf"^\s*{re.escape(DROP_MESSAGES)}(.*)$", re.IGNORECASE | re.MULTILINE)
# A task name is a Python identifier (the app's func.__name__): nothing else is taken from
# a review's text, so no shell or path syntax can pass through it.
_TASK_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass(frozen=True)
class Verdict:
    """Whether the deletions are approved, and why (one line)."""

    approved: bool
    reason: str
    drops: tuple[str, ...] = ()  # tasks whose queued messages the approval lets go


def _read(path: Path) -> Any:
    return read_json(path, str(path))  # bounded, one line on any bad input (infra.inputs)


def _get(record: Any, *path: str, label: str) -> Any:
    value = record
    for key in path:
        if not isinstance(value, Mapping) or key not in value:
            raise UnreadableRecord(f"{label}: no {'.'.join(path)}")
        value = value[key]
    return value


def _time(value: Any, label: str) -> datetime:
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError as exc:
        raise UnreadableRecord(f"{label}: {value!r} is not a time") from exc


def reviews_from_graphql(document: Any, label: str = "the reviews") -> list[dict[str, Any]]:
    """The reviews of ``.github/scripts/reviews.graphql``'s answer, oldest first, as
    :func:`decide` reads them: ``user.login``, ``state``, ``commit_id``, ``submitted_at``,
    ``body`` and ``edited_by_other`` (its text was last edited by someone else)."""
    connection = _get(document, "data", "repository", "pullRequest", "reviews", label=label)
    nodes = _get(connection, "nodes", label=label)
    if not isinstance(nodes, list) or not all(isinstance(node, Mapping) for node in nodes):
        raise UnreadableRecord(f"{label}: reviews.nodes is not a list of reviews")
    if _get(connection, "totalCount", label=label) != len(nodes):
        raise UnreadableRecord(
            f"{label}: the pull request has more reviews than one page ({len(nodes)}); approve in a new pull request"
        )
    reviews = []
    for node in nodes:
        author = (node.get("author") or {}).get("login")
        editor = (node.get("editor") or {}).get("login")
        reviews.append(
            {
                "user": {"login": author or "ghost"},
                "state": node.get("state"),
                "commit_id": (node.get("commit") or {}).get("oid"),
                "submitted_at": node.get("submittedAt"),
                "body": node.get("body") or "",
                "edited_by_other": bool(node.get("lastEditedAt")) and (not author or editor != author),
            }
        )
    return reviews


def roles(permissions: Any, label: str = "the permissions") -> dict[str, str]:
    """login -> role name, from a list of ``collaborators/{login}/permission`` answers."""
    if not isinstance(permissions, list):
        raise UnreadableRecord(f"{label}: not a list of permission answers")
    return {
        str(_get(answer, "user", "login", label=label)): str(_get(answer, "role_name", label=label))
        for answer in permissions
    }


def decide(
    pull: Mapping[str, Any],
    reviews: Sequence[Mapping[str, Any]],
    role_of: Mapping[str, str],
    *,
    base: str,
    merged_as: str | None = None,
) -> Verdict:
    """Whether ``pull``'s deletions are approved (see the module's rules)."""
    label = f"pull request #{pull.get('number', '?')}"
    head = _get(pull, "head", "sha", label=label)
    author = _get(pull, "user", "login", label=label)
    if _get(pull, "base", "ref", label=label) != base:
        return Verdict(False, f"{label} is not into {base}")
    merged_at = pull.get("merged_at")
    if merged_as is not None and (not merged_at or pull.get("merge_commit_sha") != merged_as):
        return Verdict(False, f"{label} was not merged as {merged_as}")
    cutoff = _time(merged_at, label) if merged_at else None
    approvers: dict[str, str] = {}
    drops: dict[str, set[str]] = {}
    for review in reviews:
        login = str(_get(review, "user", "login", label=label))
        state = review.get("state")
        when = review.get("submitted_at")
        if cutoff is not None and (when is None or _time(when, label) > cutoff):
            continue  # after the merge: not part of what was merged
        if state == "CHANGES_REQUESTED":
            approvers.pop(login, None)
            drops.pop(login, None)
        elif (
            state == "APPROVED"
            and review.get("commit_id") == head
            and login != author
            and not review.get("edited_by_other")
            and _APPROVAL_WORD.search(str(review.get("body") or ""))
        ):
            approvers[login] = role_of.get(login, "unknown")
            drops[login] = drop_tasks(str(review.get("body") or ""))
    entitled = sorted(login for login, role in approvers.items() if role in APPROVING_ROLES)
    if entitled:
        dropped = tuple(sorted(set().union(*(drops[login] for login in entitled))))
        return Verdict(True, f"{label}: {APPROVAL} approved by {', '.join(entitled)} on {head[:12]}", dropped)
    others = ", ".join(f"{login} ({role})" for login, role in sorted(approvers.items()))
    why = f"only by {others}, without the admin or maintain role" if others else "by no one"
    return Verdict(False, f"{label}: {APPROVAL} approved on its last commit {head[:12]} {why}")


def drop_tasks(body: str) -> set[str]:
    """The task names on a review's ``drop-messages:`` lines (identifiers only)."""
    return {name for line in _DROP_LINE.findall(body) for name in _TASK_NAME.findall(line)}


def merged_pull(pulls: Any, commit: str, base: str) -> int | None:
    """The number of the one pull request into ``base`` merged as ``commit``, or None."""
    if not isinstance(pulls, list):
        raise UnreadableRecord("the commit's pull requests: not a list")
    numbers = [
        _get(pull, "number", label="a pull request")
        for pull in pulls
        if isinstance(pull, Mapping)
        and pull.get("merged_at")
        and pull.get("merge_commit_sha") == commit
        and isinstance(pull.get("base"), Mapping)
        and pull["base"].get("ref") == base
    ]
    if len(numbers) > 1:
        raise UnreadableRecord(
            f"{commit} is the merge of pull requests {', '.join(map(str, numbers))}: a merge queue's batch is not "
            "supported (each pull request's approval would have to be checked); merge pull requests one at a time"
        )
    return int(numbers[0]) if numbers else None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``approval``."""
    parser.add_argument("--base", default="main", help="the branch the pull request must be into (default main)")
    parser.add_argument("--pull", type=caller_path, help="GET /repos/{owner}/{repo}/pulls/{number}, saved as JSON")
    parser.add_argument(
        "--reviews", type=caller_path, help="the answer to .github/scripts/reviews.graphql (gh api graphql)"
    )
    parser.add_argument(
        "--permissions", type=caller_path, help="a JSON list of GET .../collaborators/{login}/permission answers"
    )
    parser.add_argument("--merged-as", metavar="SHA", help="the deployed commit: the pull request must be merged as it")
    parser.add_argument(
        "--drops",
        action="store_true",
        help="print the tasks the approval lets drop queued messages (one a line) instead of true/false",
    )
    parser.add_argument(
        "--pulls-of-commit",
        type=caller_path,
        metavar="FILE",
        help="GET .../commits/{sha}/pulls: print the number of the pull request merged as --merged-as, then stop",
    )


def run(args: argparse.Namespace) -> int:
    """Print ``true`` or ``false`` (or, with --pulls-of-commit, a number or nothing); why on stderr."""
    if args.pulls_of_commit:
        if not args.merged_as:
            raise UnreadableRecord("--pulls-of-commit needs --merged-as SHA")
        number = merged_pull(_read(args.pulls_of_commit), args.merged_as, args.base)
        sys.stdout.write(f"{number}\n" if number is not None else "\n")
        return 0
    missing = [name for name in ("pull", "reviews", "permissions") if getattr(args, name) is None]
    if missing:
        raise UnreadableRecord(f"approval needs --{', --'.join(missing)}")
    pull = _read(args.pull)
    if not isinstance(pull, Mapping):
        raise UnreadableRecord(f"{args.pull}: not a pull request")
    verdict = decide(
        pull,
        reviews_from_graphql(_read(args.reviews), str(args.reviews)),
        roles(_read(args.permissions), str(args.permissions)),
        base=args.base,
        merged_as=args.merged_as,
    )
    sys.stderr.write(verdict.reason + "\n")
    if args.drops:
        sys.stdout.write("".join(f"{task}\n" for task in verdict.drops))
    else:
        sys.stdout.write("true\n" if verdict.approved else "false\n")
    return 0
