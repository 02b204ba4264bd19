"""Task routes: how each background task is delivered, retried and scheduled."""

from gyrinx.tasks.route import TaskRoute

__all__ = ["TaskRoute"]
