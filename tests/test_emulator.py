"""Tasks delivered for real: Google's Pub/Sub emulator, topics and subscriptions made by
the stand-in provider's adapter from the program's own plan, a stand-in of the app's push
handler, messages published as the app publishes them.

Marked ``emulator``: they need gcloud with the Pub/Sub emulator component and Java, and
take seconds to minutes, so ``.ci/run`` runs them once. Facts exercised (Google's
documentation says the same for the service): Pub/Sub push treats only 102/200/201/202/204
as success and retries anything else with the subscription's retry policy
(https://cloud.google.com/pubsub/docs/push, "Receive messages"); after
``maxDeliveryAttempts`` it forwards the message to the dead-letter topic with four
``CloudPubSubDeadLetterSource*`` attributes added
(https://cloud.google.com/pubsub/docs/handling-failures).
"""

from __future__ import annotations

import base64
import itertools
import json
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from infra import naming
from infra.ownership import JOB_TYPE, TASK_COMPONENT
from tests import emulator_support as support
from tests.fake_registry import route
from tools import local_stack, stack_config
from tools.standin.pubsub_emulator import EmulatorPubSub

pytestmark = pytest.mark.emulator

README = stack_config.PROJECT_DIR / "docs" / "operating.md"  # the operator's manual holds the recipe
DEAD_LETTER_ATTRIBUTES = {
    "CloudPubSubDeadLetterSourceDeliveryCount",
    "CloudPubSubDeadLetterSourceSubscription",
    "CloudPubSubDeadLetterSourceSubscriptionProject",
    "CloudPubSubDeadLetterSourceTopicPublishTime",
}
# Test routes: short backoffs and Pub/Sub's fewest delivery attempts (5; the emulator
# refuses 4: "The value for max_delivery_attempts is too small ... the minimum value is 5").
FAST = {"min_retry_delay": 2, "max_retry_delay": 3, "max_delivery_attempts": 5, "ack_deadline": 10}
ENVIRONMENT = "test"
# Generous: Pub/Sub applies backoff and attempts on a best-effort basis.
SETTLE_SECONDS = 90.0


@pytest.fixture(scope="session")
def emulator(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> local_stack.Emulator:
    return support.shared_emulator(request, tmp_path_factory)


@pytest.fixture(scope="session")
def pubsub(emulator: local_stack.Emulator) -> EmulatorPubSub:
    return EmulatorPubSub(emulator.endpoint)


def base_config(service_url: str, **more: str) -> dict[str, str]:
    return {
        "gcp:project": support.PROJECT,
        "gcp:region": "europe-west2",
        "gyrinx-tasks:environment": ENVIRONMENT,
        "gyrinx-tasks:serviceUrl": service_url,
        "gyrinx-tasks:registry": "tests.fake_registry:ROUTES",
        "gyrinx-tasks:pushServiceAccountEmail": f"pubsub-invoker@{support.PROJECT}.iam.gserviceaccount.com",
        "gyrinx-tasks:deadLetterRetentionDays": "7",
        **more,
    }


@dataclass(frozen=True)
class Published:
    """One message published as the app publishes it, and to which task's topic."""

    task: str
    task_id: str
    data: bytes


@dataclass(frozen=True)
class Flow:
    """The module's one run: four test routes deployed from the plan, one message each."""

    handler: support.PushHandler
    plan: Any
    messages: dict[str, Published]
    dead_letters: dict[str, list[dict[str, Any]]]


def _names(task: str) -> naming.TaskNames:
    return naming.task_names(ENVIRONMENT, f"app.tasks.{task}")


def _held(pubsub: EmulatorPubSub, project: str, subscription: str) -> list[dict[str, Any]]:
    """What ``subscription`` holds, pulled and handed back at once (not acknowledged)."""
    received = [dict(item) for item in pubsub.pull(project, subscription)]
    pubsub.modify_ack_deadline(project, subscription, [item["ackId"] for item in received], 0)
    return received


@pytest.fixture(scope="module")
def flow(pubsub: EmulatorPubSub) -> Iterator[Flow]:
    """Deploy four routes (a succeeding task, one that raises, one hitting a full database,
    and one whose message names a task the app does not know), publish one message to each
    and wait until every failing one has been dead-lettered."""
    outcomes = {"succeeds": 200, "raises": 500, "database_full": 429}
    routes = [route(name, **FAST) for name in (*outcomes, "receives_unknown")]
    handler = support.PushHandler(frozenset(), outcomes)
    with support.serving(handler) as url:
        plan = support.local_plan(base_config(url), routes)
        handler.tasks = support.task_names(plan)
        support.deploy(pubsub, plan)
        messages = {}
        for task in outcomes:
            data = support.app_payload(task, args=[42], kwargs={"list_id": "abc"})
            pubsub.publish(support.PROJECT, _names(task).topic, [support.rest_message(data)])
            messages[task] = Published(task, json.loads(data)["task_id"], data)
        unknown = support.app_payload("no_such_task")
        pubsub.publish(support.PROJECT, _names("receives_unknown").topic, [support.rest_message(unknown)])
        messages["receives_unknown"] = Published("receives_unknown", json.loads(unknown)["task_id"], unknown)

        dead_letters: dict[str, list[dict[str, Any]]] = {}
        for task in ("raises", "database_full", "receives_unknown"):
            subscription = _names(task).dead_letter_subscription
            held: list[dict[str, Any]] = []

            def landed(subscription: str = subscription, held: list[dict[str, Any]] = held) -> bool:
                held[:] = _held(pubsub, support.PROJECT, subscription)
                return bool(held)

            handler.wait(landed, SETTLE_SECONDS, f"{task}'s message never reached {subscription}")
            dead_letters[task] = held
        yield Flow(handler, plan, messages, dead_letters)


def test_a_succeeding_task_is_delivered_once_and_acked(flow: Flow, pubsub: EmulatorPubSub):
    deliveries = flow.handler.of(flow.messages["succeeds"].task_id)
    assert [d.status for d in deliveries] == [200]
    assert deliveries[0].data == flow.messages["succeeds"].data
    assert deliveries[0].subscription == naming.subscription_path(support.PROJECT, _names("succeeds").subscription)
    assert _held(pubsub, support.PROJECT, _names("succeeds").dead_letter_subscription) == []


@pytest.mark.parametrize(("task", "status"), [("raises", 500), ("database_full", 429), ("receives_unknown", 400)])
def test_a_failing_delivery_is_retried_max_delivery_attempts_times(flow: Flow, task: str, status: int):
    deliveries = flow.handler.of(flow.messages[task].task_id)
    assert [d.status for d in deliveries] == [status] * FAST["max_delivery_attempts"]
    assert {d.data for d in deliveries} == {flow.messages[task].data}


def test_retries_wait_at_least_the_minimum_backoff(flow: Flow):
    """From the second retry on, the gaps between deliveries of a failing message are the
    route's backoff: never shorter than min_retry_delay (Pub/Sub may wait longer; best
    effort). The emulator (0.8.20) sends the first retry about 1 s after the first
    failure whatever the policy says (measured with backoffs 0-0, 1-1, 5-5, 2-10 and
    10-20 s: the first gap was 1.0-2.1 s, the later ones the backoff plus about 2 s), so
    that first gap says nothing about the policy and is left out."""
    arrivals = [d.at for d in flow.handler.of(flow.messages["raises"].task_id)]
    gaps = [later - earlier for earlier, later in itertools.pairwise(arrivals)]
    assert len(gaps) == FAST["max_delivery_attempts"] - 1
    assert min(gaps[1:]) >= FAST["min_retry_delay"], gaps


@pytest.mark.parametrize("task", ["raises", "database_full", "receives_unknown"])
def test_the_dead_letter_subscription_holds_the_original_message(flow: Flow, task: str):
    [held] = flow.dead_letters[task]
    message = held["message"]
    assert base64.b64decode(message["data"]) == flow.messages[task].data
    assert set(message["attributes"]) == DEAD_LETTER_ATTRIBUTES
    assert message["attributes"]["CloudPubSubDeadLetterSourceSubscription"] == _names(task).subscription
    assert message["attributes"]["CloudPubSubDeadLetterSourceDeliveryCount"] == str(FAST["max_delivery_attempts"])


# --- The README's replay recipe, verbatim ---------------------------------------------------

_RECIPE_INTRO = "To replay one after fixing the cause"


def readme_recipe() -> str:
    """The shell block after the README's replay paragraph, as a reader copies it."""
    text = README.read_text()
    after = text[text.index(_RECIPE_INTRO) :]
    match = re.search(r"```sh\n(.*?)```", after, re.DOTALL)
    assert match, "the README's replay section has no sh block"
    return match.group(1)


def _recipe_subscription(recipe: str) -> str:
    match = re.match(r"SUB=(\S+) ", recipe)
    assert match, recipe
    return match.group(1)


def test_the_readme_recipe_is_the_alerts_recipe():
    """One recipe: the README's block is the alert documentation's, for the prod project."""
    from infra.monitoring import SUBSCRIPTION_VARIABLE, replay_recipe

    recipe = readme_recipe()
    assert recipe == replay_recipe("gyrinx-prod").replace(SUBSCRIPTION_VARIABLE, _recipe_subscription(recipe))


@dataclass(frozen=True)
class Replay:
    handler: support.PushHandler
    published: list[bytes]
    attributes: dict[str, str]
    run: subprocess.CompletedProcess[str]
    left: list[dict[str, Any]]


@pytest.fixture(scope="module")
def replay(
    pubsub: EmulatorPubSub, emulator: local_stack.Emulator, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Replay]:
    """The README's task (its recipe names prod's refresh_list_facts) as a fast test
    route of the prod environment: two of its messages fail until dead-lettered, the
    cause is "fixed" (the handler answers 200), and the recipe runs once, verbatim."""
    recipe = readme_recipe()
    subscription = _recipe_subscription(recipe)
    project = re.search(r"--project=(\S+) ", recipe).group(1)  # type: ignore[union-attr]
    path = subscription.removeprefix("prod--gyrinx.tasks--").removesuffix("-dlq-sub")
    names = naming.task_names("prod", path)
    assert names.dead_letter_subscription == subscription
    module, _, task = path.rpartition(".")
    handler = support.PushHandler(frozenset(), {task: 500})
    with support.serving(handler) as url:
        config = base_config(url, **{"gcp:project": project, "gyrinx-tasks:environment": "prod"})
        plan = support.local_plan(config, [route(task, module, **FAST)])
        handler.tasks = support.task_names(plan)
        support.deploy(pubsub, plan)
        # The app adds no attributes; one message carries one, so the test can see the
        # original attributes come back and the added ones do not.
        attributes = {"origin": "naïve/✓ = +&"}
        published = [support.app_payload(task, args=[n]) for n in (1, 2)]
        # One at a time: with two failing messages in flight on one push subscription,
        # emulator 0.8.20 stopped pushing both after 3-4 attempts and dead-lettered
        # neither (observed for 150 s); one at a time, each is dead-lettered.
        for number, (data, extra) in enumerate(zip(published, (attributes, None), strict=True), start=1):
            pubsub.publish(project, names.topic, [support.rest_message(data, extra)])
            handler.wait(
                lambda number=number: len(_held(pubsub, project, subscription)) == number,
                SETTLE_SECONDS,
                f"message {number} dead-lettered",
            )
        handler.outcomes[task] = 200  # the cause is fixed
        workdir = tmp_path_factory.mktemp("replay")
        env = support.gcloud_env(emulator, workdir / "gcloud-config")
        run = subprocess.run(["bash", "-c", recipe], cwd=workdir, env=env, capture_output=True, text=True, check=False)
        handler.wait(lambda: any(d.status == 200 for d in handler.deliveries), 30, "the replayed message delivered")
        yield Replay(handler, published, attributes, run, _held(pubsub, project, subscription))


def test_the_recipe_runs_to_the_end(replay: Replay):
    assert replay.run.returncode == 0, replay.run.stderr


def test_the_replay_delivers_the_original_data_and_attributes_only(replay: Replay):
    [delivered] = [d for d in replay.handler.deliveries if d.status == 200]
    assert delivered.data in replay.published
    original = replay.attributes if delivered.data == replay.published[0] else {}
    assert dict(delivered.attributes) == original


def test_the_replay_acks_only_the_replayed_message(replay: Replay):
    [delivered] = [d for d in replay.handler.deliveries if d.status == 200]
    [left] = replay.left
    assert base64.b64decode(left["message"]["data"]) in replay.published
    assert base64.b64decode(left["message"]["data"]) != delivered.data


# --- A scheduled run ---------------------------------------------------------------------------


def test_a_scheduler_jobs_payload_is_accepted_as_the_apps_scheduled_run(pubsub: EmulatorPubSub):
    """Cloud Scheduler publishes a Pub/Sub-target job's ``data`` (and ``attributes``) to
    its ``topicName`` (https://cloud.google.com/scheduler/docs/reference/rest/v1/projects.locations.jobs#pubsubtarget):
    the example stack's first job, from its plan, published so, reaches the handler as the
    app's scheduled run and is answered 200."""
    handler = support.PushHandler(frozenset())
    with support.serving(handler) as url:
        plan = support.local_plan(support.stack_as_local("example", url))
        handler.tasks = support.task_names(plan)
        job = next(r for r in plan.registrations if r.type == JOB_TYPE)
        task = job.parent.rpartition(f"{TASK_COMPONENT}::")[2]
        support.deploy(pubsub, plan, [task])
        target = job.inputs["pubsubTarget"]
        project, _, topic = target["topicName"].removeprefix("projects/").partition("/topics/")
        message = {"data": target["data"], **({"attributes": target["attributes"]} if target.get("attributes") else {})}
        pubsub.publish(project, topic, [message])
        handler.wait(lambda: bool(handler.deliveries), SETTLE_SECONDS, "the scheduled run delivered")
    [delivery] = handler.deliveries
    assert delivery.status == 200
    assert json.loads(delivery.data) == {
        "task_id": f"scheduled-{task}",
        "task_name": task,
        "args": [],
        "kwargs": {},
    }
