"""Command line: ``python -m infra plan --stack NAME [--json] [--config KEY=VALUE ...]``."""

from __future__ import annotations

import argparse
import sys
from typing import Optional, Sequence

from infra import offline, stack_config
from infra.problems import InvalidInput

EXIT_INVALID = 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m infra", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    plan = commands.add_parser("plan", help="show a stack's plan offline, under Pulumi's mock runtime")
    plan.add_argument("--stack", required=True, help="stack name, e.g. dev (reads Pulumi.<stack>.yaml)")
    plan.add_argument("--json", action="store_true", help="print the plan as sorted JSON")
    plan.add_argument(
        "--config", action="append", default=[], metavar="KEY=VALUE",
        help="override a config value, as `pulumi config set` would (JSON values are parsed)",
    )
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the command line; returns the exit status."""
    args = _parser().parse_args(argv)
    try:
        plan = offline.run_plan(args.stack, args.config)
    except (InvalidInput, stack_config.StackConfigError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_INVALID
    sys.stdout.write(plan.to_json() if args.json else offline.render_table(plan))
    return 0


if __name__ == "__main__":
    sys.exit(main())
