"""Command-line arguments several tools share."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

# The directory the user typed the command in: ./dev sets it before it changes to the
# project's root, where the tools run. Without it (python -m tools), the working directory.
CALLER_DIR_ENV = "GYRINX_TASKS_CALLER_DIR"


def caller_path(text: str) -> Path:
    """A path given on the command line, relative to where the user typed the command
    (``--app-source myapp`` from ``~/work`` is ``~/work/myapp``), as an absolute path.

    Usable as an argparse ``type``."""
    caller = Path(os.environ.get(CALLER_DIR_ENV, ""))
    base = caller if caller.is_absolute() else Path.cwd()
    return base / text  # an absolute text replaces base


# The help of --stack where the command reads Pulumi.<stack>.yaml (the name is checked
# there, as the CLI checks it: tools.stack_config.check_stack_name).
STACK_HELP = "stack name, e.g. dev (reads Pulumi.<stack>.yaml)"


def add_stack_arguments(parser: argparse.ArgumentParser) -> None:
    """``--stack NAME`` and repeatable ``--config KEY=VALUE``."""
    parser.add_argument("--stack", required=True, help=STACK_HELP)
    parser.add_argument(
        "--config",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config value as `pulumi preview -c KEY=VALUE` does: VALUE is a plain string "
        "(the program parses JSON where a key holds an object); KEY alone is the empty string",
    )
