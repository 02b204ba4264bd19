"""What the emulator tests share: Google's Pub/Sub emulator for the session, a stand-in of
the app's push handler, publishing as the app publishes, and the program's own plan.

The emulator is started once per test session (``shared_emulator``) on a free loopback
port with :func:`tools.local_stack.start` (the same code ``./dev local up`` runs) and
stopped, its whole process group, when the session ends.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from infra.ownership import SUBSCRIPTION_TYPE, TASK_COMPONENT, TOPIC_TYPE
from tests import fake_registry
from tools import local_stack, runner, stack_config
from tools.standin.pubsub_emulator import EmulatorPubSub

PROJECT = "gyrinx-local"
PUSH_PATH = "/tasks/pubsub/"


def free_port() -> int:
    """A TCP port nothing listens on at the moment, on 127.0.0.1."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# --- The emulator, once per session --------------------------------------------------------

_SHARED: dict[str, local_stack.Emulator] = {}
COLD_START: dict[str, float] = {}


def shared_emulator(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> local_stack.Emulator:
    """The session's emulator: started on first use, stopped when the session ends."""
    if "emulator" not in _SHARED:
        began = time.monotonic()
        emulator = local_stack.start(free_port(), tmp_path_factory.mktemp("emulator"), PROJECT)
        COLD_START["seconds"] = time.monotonic() - began
        _SHARED["emulator"] = emulator

        def stop() -> None:
            local_stack.stop(_SHARED.pop("emulator"))

        request.session.addfinalizer(stop)  # type: ignore[attr-defined]
    return _SHARED["emulator"]


def gcloud_env(emulator: local_stack.Emulator, config_dir: Path) -> dict[str, str]:
    """The environment in which the real gcloud talks to ``emulator`` without credentials
    (and with a configuration directory of its own, so no user's settings leak in)."""
    return {
        **os.environ,
        "CLOUDSDK_API_ENDPOINT_OVERRIDES_PUBSUB": f"{emulator.endpoint}/",
        "CLOUDSDK_AUTH_DISABLE_CREDENTIALS": "true",
        "CLOUDSDK_CONFIG": str(config_dir),
        "CLOUDSDK_CORE_DISABLE_PROMPTS": "1",
    }


# --- Publishing as the app publishes -------------------------------------------------------


def app_payload(task_name: str, args: Sequence[Any] = (), kwargs: Mapping[str, Any] | None = None) -> bytes:
    """The message data the app publishes for one task run: gyrinx-app/gyrinx
    ``gyrinx/tasks/backend.py`` (commit 5cf97c15), ``PubSubBackend.enqueue``:
    ``json.dumps({"task_id": str(uuid.uuid4()), "task_name": task.func.__name__,
    "args": list(args), "kwargs": dict(kwargs), "enqueued_at": datetime.now(UTC).isoformat()})
    .encode("utf-8")``, published with ``PublisherClient.publish(topic_path, data)``:
    no attributes, no ordering key."""
    message = {
        "task_id": str(uuid.uuid4()),
        "task_name": task_name,
        "args": list(args),
        "kwargs": dict(kwargs or {}),
        "enqueued_at": datetime.now(UTC).isoformat(),
    }
    return json.dumps(message).encode("utf-8")


def rest_message(data: bytes, attributes: Mapping[str, str] | None = None) -> dict[str, Any]:
    """A REST ``PubsubMessage`` for ``topics.publish`` (``data`` in standard base64)."""
    message: dict[str, Any] = {"data": base64.b64encode(data).decode()}
    if attributes:
        message["attributes"] = dict(attributes)
    return message


# --- The app's push handler, stood in --------------------------------------------------------


@dataclass(frozen=True)
class Delivery:
    """One push the stand-in received, and how it answered."""

    status: int
    at: float  # time.monotonic() on arrival
    subscription: str
    message_id: str
    data: bytes
    attributes: Mapping[str, str]
    delivery_attempt: int | None
    task_name: str | None
    task_id: str | None


@dataclass
class PushHandler:
    """A stand-in of the app's ``pubsub_push_handler`` (gyrinx-app/gyrinx
    ``gyrinx/tasks/views.py``, commit 5cf97c15), answering as it does with ``DEBUG`` on
    (no OIDC check, as on a developer's machine; the emulator sends no token): 400 for
    an envelope that is not JSON, without ``message.data``, with data that is not
    base64 JSON, with non-list ``args`` or non-dict ``kwargs``, without ``task_name``,
    or naming a task the registry does not have ("Unknown task"); otherwise the task
    "runs" and the answer is ``outcomes[task_name]``: 200 (success, acked), 429
    (database at capacity) or 500 (the task raised). ``tasks`` are the registry's names.
    """

    tasks: frozenset[str]
    outcomes: dict[str, int] = field(default_factory=dict)
    deliveries: list[Delivery] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(self, body: bytes) -> tuple[int, Delivery | None]:
        """The status the app would answer ``body`` with, and what was delivered."""
        try:
            envelope = json.loads(body)
            message = envelope.get("message", {})
        except (ValueError, AttributeError):
            return 400, None
        raw = message.get("data")
        attributes = message.get("attributes") or {}
        meta = {
            "subscription": str(envelope.get("subscription", "")),
            "message_id": str(message.get("messageId", "unknown")),
            "attributes": dict(attributes),
            "delivery_attempt": envelope.get("deliveryAttempt"),
        }
        if not raw:
            return 400, Delivery(400, time.monotonic(), data=b"", task_name=None, task_id=None, **meta)
        try:
            data = base64.b64decode(raw)
            payload = json.loads(data.decode("utf-8"))
        except ValueError:
            return 400, Delivery(400, time.monotonic(), data=b"", task_name=None, task_id=None, **meta)
        name = payload.get("task_name")
        status = 400
        if (
            isinstance(payload.get("args", []), list)
            and isinstance(payload.get("kwargs", {}), dict)
            and name
            and name in self.tasks
        ):
            status = self.outcomes.get(name, 200)
        delivery = Delivery(
            status, time.monotonic(), data=data, task_name=name, task_id=payload.get("task_id", "unknown"), **meta
        )
        return status, delivery

    def record(self, delivery: Delivery) -> None:
        with self._lock:
            self.deliveries.append(delivery)

    def of(self, task_id: str) -> list[Delivery]:
        """Every delivery of the run ``task_id``, in order of arrival."""
        with self._lock:
            return [delivery for delivery in self.deliveries if delivery.task_id == task_id]

    def wait(self, condition: Callable[[], bool], timeout: float, what: str) -> None:
        """Poll ``condition`` until it holds; fail the test naming ``what`` when it never does."""
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                pytest.fail(f"after {timeout:.0f} s: {what}; deliveries: {self.deliveries}")
            time.sleep(0.1)


@contextlib.contextmanager
def serving(handler: PushHandler) -> Iterator[str]:
    """Serve ``handler`` on 127.0.0.1 (a free port); yields the service URL (no path)."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            if self.path != PUSH_PATH:
                self.send_response(404)
                self.end_headers()
                return
            status, delivery = handler.answer(body)
            if delivery is not None:
                handler.record(delivery)
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


# --- The program's own plan ----------------------------------------------------------------


def local_plan(config: Mapping[str, str], routes: Sequence[Any] | None = None) -> runner.Plan:
    """The program's plan as the ``local`` stack, under ``config`` (with ``routes`` as the
    fake registry's, when given)."""
    saved = list(fake_registry.ROUTES)
    if routes is not None:
        fake_registry.ROUTES[:] = list(routes)
    try:
        return runner.run_plan("local", config=config)
    finally:
        fake_registry.ROUTES[:] = saved


def stack_as_local(stack: str, service_url: str) -> dict[str, str]:
    """``stack``'s merged config, pushing to ``service_url`` and keeping dead letters the
    7 days the emulator allows, to be planned as the local stack."""
    overrides = [f"gyrinx-tasks:serviceUrl={service_url}", "gyrinx-tasks:deadLetterRetentionDays=7"]
    return dict(stack_config.merged_config(stack, overrides).values)


def task_names(plan: runner.Plan) -> frozenset[str]:
    """The names of the tasks the plan declares (its ``TaskQueue`` components)."""
    return frozenset(r.name for r in plan.registrations if r.type == TASK_COMPONENT)


def deploy(pubsub: EmulatorPubSub, plan: runner.Plan, tasks: Sequence[str] | None = None) -> None:
    """Create the plan's topics, then its subscriptions (of ``tasks`` only, when given), in
    the emulator from the plan's own inputs, as the stand-in provider does."""
    chosen = [
        r
        for r in plan.registrations
        if tasks is None or any(r.parent.endswith(f"{TASK_COMPONENT}::{task}") for task in tasks)
    ]
    for registration in chosen:
        if registration.type == TOPIC_TYPE:
            pubsub.apply_topic(registration.inputs)
    for registration in chosen:
        if registration.type == SUBSCRIPTION_TYPE:
            pubsub.apply_subscription(registration.inputs)
