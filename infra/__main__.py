"""Command line for the offline tools (no cloud, no Pulumi CLI needed).

python -m infra plan --stack NAME [--json] [--config KEY=VALUE ...] [--diff OLD.json]
python -m infra refresh-plans
python -m infra guard PREVIEW.json [--mentioned-in PR.diff] [--task NAME] [--max-share 0.25] [--allow]
python -m infra import-file --stack NAME [--config KEY=VALUE ...] [--new-push-account]
python -m infra schedule --stack NAME [--config KEY=VALUE ...] [--now ISO-8601]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from infra import deletion_guard, import_file, offline, plan_diff, schedule_report, stack_config
from infra.problems import InvalidInput

EXIT_INVALID = 2
EXIT_GUARD_FAILED = 1
PLANS_DIR = stack_config.PROJECT_DIR / "plans"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m infra", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True)

    plan = commands.add_parser("plan", help="show a stack's plan offline, under Pulumi's mock runtime")
    _stack_arguments(plan)
    plan.add_argument("--json", action="store_true", help="print sorted JSON instead of a table")
    plan.add_argument("--diff", type=Path, metavar="OLD.json", help="print what changes against an earlier --json plan")

    commands.add_parser("refresh-plans", help="rewrite plans/<stack>.json for every Pulumi.<stack>.yaml")

    guard = commands.add_parser("guard", help="fail when a preview deletes more than it should")
    guard.add_argument("preview", type=Path, help="`pulumi preview --json` output, or `plan --diff OLD --json` output")
    guard.add_argument(
        "--mentioned-in",
        type=Path,
        action="append",
        default=[],
        metavar="FILE",
        help="text of the pull request (e.g. its git diff); tasks named in it may be removed",
    )
    guard.add_argument("--task", action="append", default=[], help="a task the change is meant to remove or move")
    guard.add_argument(
        "--max-share",
        type=float,
        default=deletion_guard.DEFAULT_MAX_SHARE,
        help="largest share of task resources one change may delete (default %(default)s)",
    )
    guard.add_argument(
        "--allow", action="store_true", help=f"approve the deletions (or set {deletion_guard.ALLOW_ENV}=true)"
    )

    importer = commands.add_parser(
        "import-file",
        help="print the `pulumi import --file` document for adopting what the app's runtime provisioning created",
    )
    _stack_arguments(importer)
    importer.add_argument(
        "--new-push-account",
        action="store_true",
        help="the push service account does not exist yet: create it instead of adopting it",
    )

    schedule = commands.add_parser("schedule", help="scheduled tasks: next runs, daylight-saving traps, cost")
    _stack_arguments(schedule)
    schedule.add_argument("--now", type=datetime.fromisoformat, help="report as of this time (default: now)")
    return parser


def _stack_arguments(command: argparse.ArgumentParser) -> None:
    command.add_argument("--stack", required=True, help="stack name, e.g. dev (reads Pulumi.<stack>.yaml)")
    command.add_argument(
        "--config",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config value, as `pulumi config set` would (JSON values are parsed)",
    )


def _import_file(args: argparse.Namespace) -> int:
    plan = offline.run_plan(args.stack, args.config)
    document, created = import_file.build(plan, adopt_push_account=not args.new_push_account)
    sys.stdout.write(json.dumps(document, indent=2) + "\n")
    for line in created:
        print(line, file=sys.stderr)
    return 0


def _schedule(args: argparse.Namespace) -> int:
    settings, tasks = offline.load_stack(args.stack, args.config)
    now = args.now or datetime.now(UTC)
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    sys.stdout.write(schedule_report.report(tasks, settings.flags, args.stack, now))
    return 0


def _plan(args: argparse.Namespace) -> int:
    plan = offline.run_plan(args.stack, args.config)
    for warning in plan.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    if args.diff is None:
        sys.stdout.write(plan.to_json() if args.json else offline.render_table(plan))
        return 0
    try:
        old = json.loads(args.diff.read_text())
    except (OSError, ValueError) as exc:
        raise stack_config.StackConfigError(f"--diff {args.diff}: cannot read an earlier plan ({exc})") from None
    new = plan.document()
    if args.json:
        sys.stdout.write(json.dumps(plan_diff.to_document(old, new), indent=2, sort_keys=True) + "\n")
    else:
        changes = plan_diff.diff(old, new)
        sys.stdout.write(plan_diff.render(changes, plan_diff.summary(changes, old), str(args.diff)))
    return 0


def _refresh_plans() -> int:
    PLANS_DIR.mkdir(exist_ok=True)
    for stack in stack_config.stack_names():
        path = PLANS_DIR / f"{stack}.json"
        path.write_text(offline.run_plan(stack).to_json())
        print(f"wrote {path.relative_to(stack_config.PROJECT_DIR)}")
    return 0


def _guard(args: argparse.Namespace) -> int:
    try:
        change = deletion_guard.read(json.loads(args.preview.read_text()))
        text = "\n".join(path.read_text() for path in args.mentioned_in)
    except (OSError, ValueError, KeyError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_INVALID
    mentioned = None
    if args.mentioned_in or args.task:
        tasks = {removal.task for removal in change.removals if removal.task}
        mentioned = deletion_guard.mentioned_tasks(text, tasks) | set(args.task)
    problems = deletion_guard.violations(change, args.max_share, mentioned)
    allowed = args.allow or os.environ.get(deletion_guard.ALLOW_ENV, "").lower() in ("1", "true", "yes")
    sys.stdout.write(deletion_guard.report(change, problems, allowed))
    return EXIT_GUARD_FAILED if problems and not allowed else 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    args = _parser().parse_args(argv)
    try:
        if args.command == "plan":
            return _plan(args)
        if args.command == "refresh-plans":
            return _refresh_plans()
        if args.command == "import-file":
            return _import_file(args)
        if args.command == "schedule":
            return _schedule(args)
        return _guard(args)
    except (InvalidInput, stack_config.StackConfigError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_INVALID


if __name__ == "__main__":
    sys.exit(main())
