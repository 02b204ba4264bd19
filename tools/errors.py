"""The offline tools' user errors: each is one line naming what is wrong.

They derive from the program's :class:`infra.errors.GyrinxTasksError`, so the command
line catches one base class, once, and exits 2 without a traceback.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from infra import inputs
from infra.errors import GyrinxTasksError, InputFileError


class ToolError(GyrinxTasksError):
    """A file, argument or document a tool cannot use; the message says which and why."""


def read_json(path: Path, label: str, hint: str = "") -> Any:
    """The JSON document in ``path``, read the one bounded way every input is read
    (:func:`infra.inputs.read_json`: a regular file, size and depth limits, no repeated
    key); a :class:`ToolError` starting with ``label`` otherwise (``hint`` says how to
    write a good one, shown when the file was read but is not a usable document)."""
    try:
        return inputs.read_json(path, label)
    except InputFileError as exc:
        raise ToolError(f"{exc}{'; ' + hint if hint and exc.content else ''}") from None


class StackConfigError(ToolError):
    """A stack or project file the CLI would refuse, or a malformed override."""


class StaleError(ToolError):
    """A generated part no longer matches the table of keys."""


class UnreadableRecord(ToolError):
    """A GitHub answer the approval check cannot read."""


class UnreadableInput(ToolError):
    """The preview, the diff or a pull request file cannot be read or is not what it should be."""


class PreviewFailed(ToolError):
    """The preview reports an error, so its steps are not the whole change."""


class EmulatorError(ToolError):
    """The emulator refused a call, or could not be reached; the message says which and why."""


# The app's stderr shown under a failed export: its last lines, each cut to a width.
STDERR_TAIL_LINES = 15
STDERR_LINE_WIDTH = 300


def stderr_tail(stderr: str) -> list[str]:
    """The last lines of the app's stderr, each cut to a readable width."""
    lines = [line.rstrip() for line in stderr.splitlines() if line.strip()]
    return [
        line if len(line) <= STDERR_LINE_WIDTH else line[: STDERR_LINE_WIDTH - 3] + "..."
        for line in lines[-STDERR_TAIL_LINES:]
    ]


class ExportError(ToolError):
    """The export failed: one line saying what failed, then the tail of the app's stderr."""

    def __init__(self, line: str, stderr: str = ""):
        tail = stderr_tail(stderr)
        text = f"export-registry: {line}"
        if tail:
            text += "\n  the app's stderr ended with:\n" + "\n".join(f"  | {entry}" for entry in tail)
        super().__init__(text)
        self.line = line
