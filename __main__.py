"""Pulumi entrypoint: the task registry becomes this stack's Pub/Sub, Scheduler and IAM.

Kept thin on purpose; the logic lives in ``infra/``. The offline runner
(``python -m infra plan``) executes this very file under Pulumi's mock runtime.
"""

import pulumi

from infra.program import declare, load

settings, tasks = load()
for key, value in declare(settings, tasks).items():
    pulumi.export(key, value)
