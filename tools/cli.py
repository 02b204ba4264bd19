"""The offline tools' command line: no cloud, no Pulumi CLI needed.

Each subcommand is one row of :data:`COMMANDS`: its name, a line of help, the function
that adds its arguments and the one that runs it. User mistakes raise
:class:`infra.errors.GyrinxTasksError`, caught once in :func:`main`: one line on
stderr, exit 2, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from infra.errors import GyrinxTasksError
from tools import (
    approval,
    config_docs,
    deletion_guard,
    drain_check,
    export_registry,
    import_file,
    local_stack,
    plan_command,
    schedule_report,
)

EXIT_INVALID = 2
PROG = "./dev"
# ./dev's own commands, which never reach this parser (listed in --help).
DEV_COMMANDS = (
    ("test [PYTEST ARGS]", "the test suite, then ruff and the type checker (what CI runs)"),
    ("lock", "recompile the hash-locked requirements.txt from requirements.in"),
    ("bench [--sizes ...]", "the benchmark (benchmarks/README.md)"),
    ("py ARGS", "python inside the project's virtualenv"),
    ("pulumi ARGS", "the real Pulumi CLI on the local backend .pulumi-local/ (built once; docs/engine.md)"),
    ("preview ARGS", "./dev pulumi preview ARGS, e.g. ./dev preview --stack dev"),
)


@dataclass(frozen=True)
class Command:
    """One subcommand: its help line, how it takes its arguments, and what it runs."""

    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


COMMANDS: dict[str, Command] = {
    "plan": Command(
        "a stack's plan, offline, under Pulumi's mock runtime", plan_command.add_plan_arguments, plan_command.plan
    ),
    "plans": Command(
        "rewrite plans/<stack>.json, the review files, for every Pulumi.<stack>.yaml",
        plan_command.add_plans_arguments,
        plan_command.refresh_plans,
    ),
    "config-docs": Command(
        "rewrite Pulumi.yaml's config: block and docs/configuration.md's key table from infra/settings.py KEYS",
        config_docs.add_arguments,
        config_docs.run,
    ),
    "guard": Command(
        "fail when a preview deletes or replaces more than it should", deletion_guard.add_arguments, deletion_guard.run
    ),
    "approval": Command(
        "whether a maintainer approved a pull request's deletions on its last commit (from GitHub's records)",
        approval.add_arguments,
        approval.run,
    ),
    "import-file": Command(
        "the `pulumi import --file` document adopting what already exists in the cloud",
        import_file.add_arguments,
        import_file.run,
    ),
    "schedule": Command(
        "scheduled tasks: next runs, daylight-saving traps, cost", schedule_report.add_arguments, schedule_report.run
    ),
    "export-registry": Command(
        "the app's task registry as a snapshot (registry/gyrinx.json), read with the app's own Python",
        export_registry.add_arguments,
        export_registry.run,
    ),
    "local": Command(
        "the local stack in Google's Pub/Sub emulator: up (start it, deploy, show how to publish) or down",
        local_stack.add_arguments,
        local_stack.run,
    ),
    "drain-check": Command(
        "stop when a preview deletes or replaces a subscription that still holds messages",
        drain_check.add_arguments,
        drain_check.run,
    ),
}


def parser() -> argparse.ArgumentParser:
    """The parser of every subcommand in :data:`COMMANDS`."""
    epilog = "\n".join(["also, run by ./dev itself:", *(f"  {name:<22}{text}" for name, text in DEV_COMMANDS)])
    root = argparse.ArgumentParser(
        prog=PROG,
        description=__doc__.splitlines()[0],
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = root.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, command in COMMANDS.items():
        command.add_arguments(commands.add_parser(name, help=command.help, description=command.help))
    return root


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    args = parser().parse_args(argv)
    try:
        return COMMANDS[args.command].run(args)
    except GyrinxTasksError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_INVALID
