"""``./dev plan`` and ``./dev plans``: a stack's offline plan, and the committed review files."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from infra.errors import GyrinxTasksError
from tools import plan_diff, runner, stack_checks, stack_config
from tools.arguments import add_stack_arguments, caller_path
from tools.errors import ToolError, read_json

PLANS_DIR = stack_config.PLANS_DIR
EXIT_STRICT = 1


def add_plan_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``plan``."""
    add_stack_arguments(parser)
    parser.add_argument("--json", action="store_true", help="print sorted JSON instead of a table")
    parser.add_argument(
        "--diff", type=caller_path, metavar="OLD.json", help="print what changes against an earlier --json plan"
    )
    parser.add_argument("--strict", action="store_true", help="exit 1 when the plan has warnings (CI uses this)")


def _read_plan(path: Path) -> dict[str, object]:
    document = read_json(path, f"--diff {path}")
    if not isinstance(document, dict):
        raise ToolError(f"--diff {path}: not an offline plan (write one with ./dev plan --json)")
    return document


def plan(args: argparse.Namespace) -> int:
    """Print the plan (or its diff against ``--diff``); warnings and notes go to stderr."""
    result = runner.run_plan(args.stack, args.config)
    warnings = result.warnings + stack_checks.warnings(args.stack, args.config, result.tasks)
    for note in result.notes:
        print(f"note: {note}", file=sys.stderr)
    for warning in warnings:
        print(f"warning: {warning}", file=sys.stderr)
    if args.diff is None:
        sys.stdout.write(result.to_json() if args.json else runner.render_table(result))
    else:
        old = _read_plan(args.diff)
        if args.json:
            sys.stdout.write(json.dumps(plan_diff.to_document(old, result.document()), indent=2, sort_keys=True) + "\n")
        else:
            changes = plan_diff.diff(old, result.document())
            sys.stdout.write(plan_diff.render(changes, plan_diff.summarise(changes, old), str(args.diff)))
    if args.strict and warnings:
        print(f"error: {len(warnings)} warning(s) under --strict", file=sys.stderr)
        return EXIT_STRICT
    return 0


def add_plans_arguments(parser: argparse.ArgumentParser) -> None:
    """``plans`` takes no arguments."""


def refresh_plans(args: argparse.Namespace) -> int:
    """Rewrite ``plans/<stack>.json`` for every ``Pulumi.<stack>.yaml`` (and drop the
    plans of stacks that no longer exist). Every stack is planned before any file is
    written, so a stack that fails leaves all the review files as they were; each
    plan's warnings are printed as ``plan`` prints them."""
    PLANS_DIR.mkdir(exist_ok=True)
    stacks = stack_config.stack_names()
    documents = {}
    failures = []
    for stack in stacks:
        # Every stack is tried, so one broken stack file (unreadable, a directory, not
        # YAML) is named beside every other failure rather than hiding them.
        try:
            result = runner.run_plan(stack)
            warnings = result.warnings + stack_checks.warnings(stack, tasks=result.tasks)
        except GyrinxTasksError as exc:
            failures.append(f"stack {stack}: {exc}")
            continue
        for note in result.notes:
            print(f"note: {stack}: {note}", file=sys.stderr)
        for warning in warnings:
            print(f"warning: {stack}: {warning}", file=sys.stderr)
        documents[stack] = result.to_json()
    if failures:
        raise ToolError(
            "\n".join([f"{len(failures)} of {len(stacks)} stacks cannot be planned; no plan was written:", *failures])
        )
    for stack, document in documents.items():
        path = PLANS_DIR / f"{stack}.json"
        path.write_text(document)
        print(f"wrote {path.relative_to(stack_config.PROJECT_DIR)}")
    for stale in sorted(PLANS_DIR.glob("*.json")):
        if stale.stem not in stacks:
            stale.unlink()
            print(f"removed {stale.relative_to(stack_config.PROJECT_DIR)} (no Pulumi.{stale.stem}.yaml)")
    return 0
