"""Task routes: how each background task is delivered, retried and scheduled."""

from example_app.tasks.route import TaskRoute

__all__ = ["TaskRoute"]
