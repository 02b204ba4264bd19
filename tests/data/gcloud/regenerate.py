"""Write ``topics.json`` and ``subscriptions.json`` from the real ``gcloud pubsub ... list
--format=json``, run against Google's Pub/Sub emulator holding the story README.md tells.

    ./dev py tests/data/gcloud/regenerate.py

It starts a private emulator on a free loopback port (the code ``./dev local up`` uses),
makes in project ``gyrinx-example`` what the app's ``provision_tasks`` makes (gyrinx-app/gyrinx
``gyrinx/tasks/provisioning.py`` at 5cf97c15, ``_provision_task``: ``create_topic``, then
``create_subscription`` with ``push_config`` (endpoint and OIDC token), ``ack_deadline_seconds``
and ``retry_policy``, nothing else), for the example registry's tasks but one, plus the
story's extras, then lists them with gcloud and writes its output byte for byte. So the
fixture and ``import-file`` can never disagree on the shape gcloud prints.

The jobs and service accounts are not Pub/Sub's: the emulator has neither, so
``jobs.json`` and ``service-accounts.json`` stay as they are.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[3]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from infra import naming  # noqa: E402 - after the path is set, as a script
from tools import local_stack, runner, stack_config  # noqa: E402
from tools.standin.pubsub_emulator import EmulatorPubSub  # noqa: E402

HERE = Path(__file__).resolve().parent
STACK = "example"
# The story (README.md): a task added since the app last booted has nothing yet; one
# removed from the registry left its topic and subscription; one task's topic was
# deleted and made again, so its subscription reports "_deleted-topic_"; another
# environment's task and a foreign topic with a pull subscription share the project.
NOT_YET_PROVISIONED = "send_daily_digest"
RETIRED = {"name": "retired_task", "ack_deadline": 60, "min_retry_delay": 10, "max_retry_delay": 600}
TOPIC_RECREATED = "send_notification"
OTHER_ENVIRONMENT = ("dev", "send_email")
FOREIGN_TOPIC = ("gcs-uploads", {"labels": {"team": "data"}, "messageRetentionDuration": "86400s"})
FOREIGN_SUBSCRIPTION = ("gcs-uploads-worker", {"ackDeadlineSeconds": 10})


def _provision(
    pubsub: EmulatorPubSub, project: str, environment: str, route: Mapping[str, Any], url: str, account: str
) -> None:
    """What ``provision_tasks`` creates for one route (its ``_provision_task``)."""
    names = naming.task_names(environment, route["path"])
    pubsub.call("PUT", naming.topic_path(project, names.topic), {})
    body = {
        "topic": naming.topic_path(project, names.topic),
        "pushConfig": {
            "pushEndpoint": f"{url}/tasks/pubsub/",
            "oidcToken": {"serviceAccountEmail": account, "audience": url},
        },
        "ackDeadlineSeconds": route["ack_deadline"],
        "retryPolicy": {
            "minimumBackoff": f"{route['min_retry_delay']}s",
            "maximumBackoff": f"{route['max_retry_delay']}s",
        },
    }
    pubsub.call("PUT", naming.subscription_path(project, names.subscription), body)


def build(pubsub: EmulatorPubSub) -> str:
    """Make the story in the emulator; returns the project."""
    settings, tasks = runner.load_stack(STACK)
    project, url = settings.project, settings.service_url
    account = naming.service_account_email(settings.push_service_account_id, project)
    routes = [
        {
            "name": task.name,
            "path": task.path,
            "ack_deadline": task.ack_deadline,
            "min_retry_delay": task.min_retry_delay,
            "max_retry_delay": task.max_retry_delay,
        }
        for task in tasks
        if task.name != NOT_YET_PROVISIONED
    ]
    module = routes[0]["path"].rpartition(".")[0]
    routes.append({**RETIRED, "path": f"{module}.{RETIRED['name']}"})
    for route in routes:
        _provision(pubsub, project, settings.environment, route, url, account)
    environment, name = OTHER_ENVIRONMENT
    other = next(route for route in routes if route["name"] == name)
    _provision(pubsub, project, environment, other, url, account)
    recreated = naming.task_names(settings.environment, next(r["path"] for r in routes if r["name"] == TOPIC_RECREATED))
    pubsub.call("DELETE", naming.topic_path(project, recreated.topic))
    pubsub.call("PUT", naming.topic_path(project, recreated.topic), {})
    topic, topic_body = FOREIGN_TOPIC
    pubsub.call("PUT", naming.topic_path(project, topic), topic_body)
    subscription, subscription_body = FOREIGN_SUBSCRIPTION
    pubsub.call(
        "PUT",
        naming.subscription_path(project, subscription),
        {"topic": naming.topic_path(project, topic), **subscription_body},
    )
    return project


def gcloud_list(kind: str, project: str, emulator: local_stack.Emulator, config_dir: Path) -> str:
    """What ``gcloud pubsub KIND list --format=json`` prints against the emulator."""
    env = {
        **os.environ,
        "CLOUDSDK_API_ENDPOINT_OVERRIDES_PUBSUB": f"{emulator.endpoint}/",
        "CLOUDSDK_AUTH_DISABLE_CREDENTIALS": "true",
        "CLOUDSDK_CONFIG": str(config_dir),
        "CLOUDSDK_CORE_DISABLE_PROMPTS": "1",
    }
    command = ["gcloud", "pubsub", kind, "list", f"--project={project}", "--format=json"]
    return subprocess.run(command, env=env, capture_output=True, text=True, check=True).stdout


def main() -> int:
    with tempfile.TemporaryDirectory() as scratch:
        directory = Path(scratch)
        emulator = local_stack.start(_free_port(), directory / "emulator", "gyrinx-example")
        try:
            project = build(EmulatorPubSub(emulator.endpoint))
            for kind in ("topics", "subscriptions"):
                path = HERE / f"{kind}.json"
                path.write_text(gcloud_list(kind, project, emulator, directory / "gcloud"))
                print(f"wrote {path.relative_to(stack_config.PROJECT_DIR)}")
        finally:
            local_stack.stop(emulator)
    return 0


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


if __name__ == "__main__":
    sys.exit(main())
