"""Every `./dev` command the README and docs/ show exists, with the flags they show.

A command is taken from an inline code span (`` `./dev ...` ``) or a line of a fenced block
that starts with ``./dev`` (after an optional ``$ ``); continuation lines ending in ``\\``
are joined. Its subcommand must be one of the offline tools' (``tools.cli.COMMANDS``) or
one ``./dev`` runs itself (its ``case`` arms), and every ``--flag`` it shows must be an
option of that subcommand's parser.
"""

from __future__ import annotations

import argparse
import re
import shlex
from pathlib import Path

import pytest

from tools.cli import COMMANDS, parser

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
_INLINE = re.compile(r"`(\./dev [^`]+)`")
_FENCE = re.compile(r"```[a-z]*\n(.*?)```", re.DOTALL)
# The commands ./dev runs itself, from its `case` arms (`  test)`, `  bench) ...`).
DEV_OWN = set(re.findall(r"^  ([a-z]+)\)", (ROOT / "dev").read_text(), flags=re.MULTILINE))


def shown_commands() -> list[tuple[str, str]]:
    """``(document, command)`` for every `./dev` command the documents show."""
    found = []
    for path in DOCS:
        text = path.read_text()
        found += [(path.name, command) for command in _INLINE.findall(text)]
        for block in _FENCE.findall(text):
            joined = re.sub(r"\\\n\s*", " ", block)
            for raw in joined.splitlines():
                line = raw.strip().removeprefix("$ ")
                if line.startswith("./dev "):
                    found.append((path.name, line.split(" #", 1)[0].split(" > ", 1)[0].split(" | ", 1)[0]))
    return found


def subparsers() -> dict[str, argparse.ArgumentParser]:
    action = next(a for a in parser()._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def test_the_documents_show_commands():
    documents = {document for document, _ in shown_commands()}
    assert {"README.md", "deploying.md", "migration.md"} <= documents


@pytest.mark.parametrize(("document", "command"), shown_commands())
def test_each_shown_command_exists_with_its_flags(document, command):
    words = shlex.split(command.replace("…", "..."))
    name = words[1]
    assert name in COMMANDS or name in DEV_OWN or name.startswith("-"), f"{document}: {command}"
    if name not in COMMANDS:
        return
    options = {option for action in subparsers()[name]._actions for option in action.option_strings}
    shown = {word.split("=", 1)[0] for word in words[2:] if word.startswith("--")}
    assert shown <= options, f"{document}: {command}: unknown {sorted(shown - options)}"
