"""The errors of bad input. One base class, so the command line catches them once."""

from __future__ import annotations

from collections.abc import Iterable

import pulumi


class GyrinxTasksError(Exception):
    """A user's mistake: its message names the config key, task or file, and is shown
    as it is (exit 2, no traceback). Everything else is a bug and keeps its traceback."""


class InvalidInput(GyrinxTasksError, pulumi.RunError):
    """Bad settings or routes, found before any resource is declared.

    Also a ``pulumi.RunError``, so the Pulumi CLI prints the message without a traceback.
    ``problems`` holds one line per problem, each naming the task or config key.
    """

    def __init__(self, problems: Iterable[str]):
        self.problems = list(problems)
        count = len(self.problems)
        header = f"{count} problem{'s' if count != 1 else ''} in the task configuration; nothing was declared:"
        super().__init__("\n".join([header, *(f"  - {p}" for p in self.problems)]))


class InputFileError(GyrinxTasksError):
    """An input file that cannot be used: one line, ``LABEL: reason``.

    ``content`` is True when the file was read but its text is not a usable document
    (a caller may add how to write a good one)."""

    def __init__(self, label: str, reason: str, *, content: bool = False, missing: bool = False):
        super().__init__(f"{label}: {reason}")
        self.label = label
        self.reason = reason
        self.content = content
        self.missing = missing  # no file at that path
