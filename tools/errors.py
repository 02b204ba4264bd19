"""The offline tools' user errors: each is one line naming what is wrong.

They derive from the program's :class:`infra.errors.GyrinxTasksError`, so the command
line catches one base class, once, and exits 2 without a traceback.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from infra.errors import GyrinxTasksError


class ToolError(GyrinxTasksError):
    """A file, argument or document a tool cannot use; the message says which and why."""


def read_json(path: Path, label: str, hint: str = "") -> Any:
    """The JSON document in ``path``; a :class:`ToolError` starting with ``label`` when the
    file cannot be read or is not JSON (``hint`` says how to write a good one)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else str(exc)
        raise ToolError(f"{label}: cannot read it ({reason})") from None
    try:
        return json.loads(text)
    except ValueError as exc:
        raise ToolError(f"{label}: not JSON ({exc}){'; ' + hint if hint else ''}") from None
