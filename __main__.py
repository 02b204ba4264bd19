"""Pulumi entrypoint: the task registry becomes this stack's Pub/Sub, Scheduler and IAM.

Thin on purpose: read the settings once, load and check the registry, declare the
components, export. The program lives in ``infra/``; the offline tools in ``tools/``
run this very file under Pulumi's mock runtime. Why it declares in an async entrypoint
and sets the collector's thresholds: benchmarks/README.md ("What the program does").
"""

import asyncio

import pulumi

from infra.collector import collect_old_objects_rarely
from infra.monitoring import dead_letter_alert
from infra.program import load
from infra.project_apis import ProjectApis, ProjectApisArgs
from infra.settings import SERVICE_URL
from infra.shared_iam import SharedIam, SharedIamArgs
from infra.task_queue import TaskQueue, TaskQueueArgs

collect_old_objects_rarely()  # why: infra/collector.py

settings, tasks = load()  # raises with every problem before anything is declared


async def declare() -> None:
    """Declare every component and the stack's outputs.

    Run by the SDK after this module (``pulumi.run``), directly under its event loop:
    fewer frames above each resource than module level under ``runpy``, and the SDK
    converts every one of them into the resource's stack trace. Tasks are declared in
    a plain loop for the same reason (no comprehension frame).
    """
    apis = ProjectApis("apis", ProjectApisArgs(settings))
    shared = SharedIam("shared", SharedIamArgs(settings, apis))
    queues = {}
    for task in tasks:
        queues[task.name] = TaskQueue(task.name, TaskQueueArgs(task, settings, shared, apis))
    dead_letter_alert(settings, apis)

    pulumi.export("tasks", {name: queue.summary() for name, queue in queues.items()})
    pulumi.export("flags", dict(settings.flags))
    pulumi.export("pushEndpoint", settings.secret_if(SERVICE_URL, settings.push_endpoint))
    pulumi.export("pushServiceAccount", shared.push_account_email)
    # Let every registration start before the SDK waits for them. It first awaits the
    # RPCs it has seen start (rpc_manager.do_rpc records one when its task first runs),
    # then every pending Output with asyncio.wait(FIRST_COMPLETED), re-scanning all of
    # them each round (pulumi/runtime/stack.py, wait_for_rpcs). Returning without yielding
    # skips the first loop and makes the second one quadratic: 38.6 s instead of 20.4 s
    # at 1,000 tasks.
    await asyncio.sleep(0)


pulumi.run(declare)
