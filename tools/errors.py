"""The offline tools' user errors: each is one line naming what is wrong.

They derive from the program's :class:`infra.errors.GyrinxTasksError`, so the command
line catches one base class, once, and exits 2 without a traceback.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from infra import inputs
from infra.errors import GyrinxTasksError


class ToolError(GyrinxTasksError):
    """A file, argument or document a tool cannot use; the message says which and why."""


def read_json(path: Path, label: str, hint: str = "") -> Any:
    """The JSON document in ``path``, read the one bounded way every input is read
    (:func:`infra.inputs.read_json`: a regular file, size and depth limits, no repeated
    key); a :class:`ToolError` starting with ``label`` otherwise (``hint`` says how to
    write a good one, shown when the file was read but is not a usable document)."""
    try:
        return inputs.read_json(path, label)
    except inputs.InputFileError as exc:
        raise ToolError(f"{exc}{'; ' + hint if hint and exc.content else ''}") from None
