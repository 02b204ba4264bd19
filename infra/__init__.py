"""gyrinx-tasks, the deployed program: the task registry becomes Google Cloud resources.

Everything here is what ``pulumi up`` runs; it reads nothing but its stack config and
the registry that config names, and never imports the offline tools (``tools/``).

- ``settings``: the stack's typed settings, read once from ``pulumi.Config``.
- ``registry``: loading the registry (``file:PATH`` or ``module:attribute``) into ``RawRoute``s.
- ``validation``: every check on the routes, turning them into typed ``Task``s.
- ``naming``: the resource ids the app expects, and Google's full resource names.
- ``ownership``: what a task owns, defined once.
- ``time_zones``: tz database zones from the ``tzdata`` package alone.
- ``errors``: ``GyrinxTasksError`` and ``InvalidInput`` (every problem at once).
- ``program``: ``load()``, everything checked before anything is declared.
- ``task_queue``, ``scheduler``: the per-task component and its scheduler job.
- ``shared_iam``, ``project_apis``, ``monitoring``: the stack's identities and grants,
  its APIs, its dead-letter alert.
"""
