"""The single error type for bad input: every problem found, reported at once."""

from __future__ import annotations

from collections.abc import Iterable

import pulumi


class InvalidInput(pulumi.RunError):
    """Bad settings or routes, found before any resource is declared.

    A ``pulumi.RunError`` so the Pulumi CLI prints the message without a traceback.
    ``problems`` holds one line per problem, each naming the task or config key.
    """

    def __init__(self, problems: Iterable[str]):
        self.problems = list(problems)
        count = len(self.problems)
        header = f"{count} problem{'s' if count != 1 else ''} in the task configuration; nothing was declared:"
        super().__init__("\n".join([header, *(f"  - {p}" for p in self.problems)]))
