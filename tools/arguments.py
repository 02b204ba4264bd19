"""Command-line arguments several tools share."""

from __future__ import annotations

import argparse


def add_stack_arguments(parser: argparse.ArgumentParser) -> None:
    """``--stack NAME`` and repeatable ``--config KEY=VALUE``."""
    parser.add_argument("--stack", required=True, help="stack name, e.g. dev (reads Pulumi.<stack>.yaml)")
    parser.add_argument(
        "--config",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config value, as `pulumi config set` would (JSON values are parsed)",
    )
