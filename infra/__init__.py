"""gyrinx-tasks: the Pulumi program that turns the task registry into Google Cloud resources.

Modules, one concern each:

- ``settings``: the stack's typed settings, read once from ``pulumi.Config``.
- ``registry``: loading the task registry named by config into plain ``Task`` records.
- ``naming``: resource ids the running app expects, and Google's naming rules.
- ``validation``: every check on the routes, reported together.
- ``problems``: the error that carries all problems at once.
- ``program``: what ``__main__.py`` runs: load, validate, declare, export.
- ``task_queue``: the per-task component (topic, push subscription, dead-lettering, IAM).
- ``scheduler``: the Cloud Scheduler job of a scheduled task.
- ``shared``: per-stack resources (Pub/Sub service identity, push account, shared IAM).
- ``offline``: the offline runner (``python -m infra plan``) under Pulumi's mock runtime.
"""
