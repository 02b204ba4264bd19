"""Pulumi entrypoint: the task registry becomes this stack's Pub/Sub, Scheduler and IAM.

Thin on purpose: read the settings once, load and check the registry, declare the
components, export. The program lives in ``infra/``; the offline tools in ``tools/``
run this very file under Pulumi's mock runtime.
"""

import pulumi

from infra.monitoring import dead_letter_alert
from infra.program import load
from infra.project_apis import ProjectApis, ProjectApisArgs
from infra.shared_iam import SharedIam, SharedIamArgs
from infra.task_queue import TaskQueue, TaskQueueArgs

settings, tasks = load()  # raises with every problem before anything is declared

apis = ProjectApis("apis", ProjectApisArgs(settings))
shared = SharedIam("shared", SharedIamArgs(settings, apis))
queues = {}
for task in tasks:  # a plain loop, not a comprehension: see TaskQueue's note on call depth
    queues[task.name] = TaskQueue(task.name, TaskQueueArgs(task, settings, shared, apis))
dead_letter_alert(settings, apis)

pulumi.export("tasks", {name: queue.summary() for name, queue in queues.items()})
pulumi.export("flags", dict(settings.flags))
pulumi.export("pushEndpoint", settings.secret_if("service_url", settings.push_endpoint))
pulumi.export("pushServiceAccount", shared.push_account_email)
