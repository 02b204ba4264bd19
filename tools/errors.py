"""The offline tools' user errors: each is one line naming what is wrong.

They derive from the program's :class:`infra.errors.GyrinxTasksError`, so the command
line catches one base class, once, and exits 2 without a traceback.
"""

from __future__ import annotations

from infra.errors import GyrinxTasksError


class ToolError(GyrinxTasksError):
    """A file, argument or document a tool cannot use; the message says which and why."""
