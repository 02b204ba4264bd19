"""Background tasks: the ``TaskRoute`` apps declare their routes with."""

from gyrinx.tasks.route import TaskRoute

__all__ = ["TaskRoute"]
