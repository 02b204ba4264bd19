"""Pulumi entrypoint: the task registry becomes this stack's Pub/Sub, Scheduler and IAM.

Thin on purpose: read the settings once, load and check the registry, declare the
components, export. The logic lives in ``infra/``. The offline runner
(``python -m infra plan``) executes this very file under Pulumi's mock runtime.
"""

import pulumi

from infra.monitoring import dead_letter_alert
from infra.program import load
from infra.shared_iam import SharedIam
from infra.task_queue import TaskQueue

settings, tasks = load()  # raises with every problem before anything is declared

shared = SharedIam("shared", settings)
queues = {}
for task in tasks:  # a plain loop, not a comprehension: see TaskQueue's note on call depth
    queues[task.name] = TaskQueue(task, settings, shared)
dead_letter_alert(settings)

pulumi.export("tasks", {name: queue.summary() for name, queue in queues.items()})
pulumi.export("flags", dict(settings.flags))
pulumi.export("pushEndpoint", settings.push_endpoint)
pulumi.export("pushServiceAccount", shared.push_account_email)
