"""The api app's task and its route."""

from django.tasks import task

from gyrinx.tasks import TaskRoute


@task
def trigger_discord_issue_action(issue_id: int) -> None:
    """Stand-in for the app's task of the same name."""


task_routes = [TaskRoute(trigger_discord_issue_action)]
