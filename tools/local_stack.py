"""``./dev local up`` / ``./dev local down``: the ``local`` stack in Google's Pub/Sub emulator.

``up`` starts the emulator if it is not running (``gcloud beta emulators pubsub start``,
bound to 127.0.0.1, its files under the git-ignored ``.pulumi-local/emulator/``), runs
the real ``pulumi up --stack local`` (``tools.pulumi_cli``) with the stand-in ``gcp``
provider pointed at it (``GYRINX_PUBSUB_EMULATOR``), so topics and subscriptions are
really created, updated and deleted there, then prints what the emulator holds and how
to publish a task. ``down`` stops the emulator, its whole process group.

The emulator keeps everything in memory: gcloud writes only ``env.yaml`` into its data
directory and starts the Java server without it (``Executing: cloud-pubsub-emulator
--host=... --port=...``). A restarted emulator is empty, so ``up`` restores the
topics and subscriptions the stack's state records first whenever it had to start it.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from infra.ownership import SUBSCRIPTION_TYPE, TOPIC_TYPE
from infra.settings import LOCAL_STACK
from tools import stack_config
from tools.errors import ToolError, read_json
from tools.standin.pubsub_emulator import EmulatorPubSub

LOCAL_DIR = stack_config.PROJECT_DIR / ".pulumi-local"
EMULATOR_DIR = LOCAL_DIR / "emulator"
HOST = "127.0.0.1"
# The port: --port, else this environment variable, else gcloud's documented default.
PORT_ENV = "GYRINX_EMULATOR_PORT"
DEFAULT_PORT = 8085
# What the stand-in provider reads to send topics and subscriptions to the emulator.
EMULATOR_ENV = "GYRINX_PUBSUB_EMULATOR"
# A cold start (gcloud, then the JVM) took 4-5 s on this project's 2-core machines.
READY_TIMEOUT_SECONDS = 120.0
STOP_TIMEOUT_SECONDS = 15.0
_READY_BODY = b"Ok"  # what the emulator answers on GET /


@dataclass(frozen=True)
class Emulator:
    """A running emulator: its process group leader (the gcloud process) and its address."""

    pid: int
    port: int
    directory: Path

    @property
    def endpoint(self) -> str:
        """Its REST root, as ``GYRINX_PUBSUB_EMULATOR`` and ``CLOUDSDK_API_ENDPOINT_OVERRIDES_PUBSUB`` take it."""
        return f"http://{HOST}:{self.port}"

    @property
    def host_port(self) -> str:
        """``127.0.0.1:PORT``, as Google's client libraries take it in ``PUBSUB_EMULATOR_HOST``."""
        return f"{HOST}:{self.port}"


def _pid_file(directory: Path) -> Path:
    return directory / "emulator.pid"


def _log_file(directory: Path) -> Path:
    return directory / "emulator.log"


def answers(endpoint: str) -> bool:
    """True when a Pub/Sub emulator answers at ``endpoint``."""
    try:
        with urllib.request.urlopen(f"{endpoint}/", timeout=2) as answer:  # noqa: S310 - loopback http
            return bool(answer.status == 200 and answer.read().strip() == _READY_BODY)
    except (urllib.error.URLError, OSError):
        return False


def _group_alive(pid: int) -> bool:
    try:
        os.killpg(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _is_emulator(pid: int) -> bool:
    # A pid file can outlive its process and the pid be reused: only a gcloud emulator
    # process is ever signalled.
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
    except OSError:
        return _group_alive(pid)  # no /proc (macOS): trust the pid file
    return b"emulators" in command and b"pubsub" in command


@contextlib.contextmanager
def _gcloud_found() -> Iterator[None]:
    try:
        yield
    except FileNotFoundError:
        raise ToolError(
            "gcloud is not on PATH: the local stack needs the Google Cloud CLI with its beta and "
            "pubsub-emulator components, and Java (docs/local.md)"
        ) from None


def start(port: int, directory: Path = EMULATOR_DIR, project: str = "gyrinx-local") -> Emulator:
    """Start the emulator on ``127.0.0.1:port`` in its own process group and wait until
    it answers; its pid file, log and data directory go under ``directory``."""
    data = directory / "data"
    data.mkdir(parents=True, exist_ok=True)  # gcloud writes env.yaml there and fails if it is missing
    with _log_file(directory).open("wb") as log, _gcloud_found():
        process = subprocess.Popen(
            [
                "gcloud",
                "beta",
                "emulators",
                "pubsub",
                "start",
                f"--host-port={HOST}:{port}",
                f"--data-dir={data}",
                f"--project={project}",
            ],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own group, so stop() ends the JVM child too
        )
    emulator = Emulator(process.pid, port, directory)
    _pid_file(directory).write_text(f"{process.pid} {port}\n")
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    while not answers(emulator.endpoint):
        if process.poll() is not None or time.monotonic() > deadline:
            stop(emulator)
            tail = _log_file(directory).read_text(errors="replace").strip().splitlines()[-3:]
            why = "exited" if process.returncode is not None else f"did not answer in {READY_TIMEOUT_SECONDS:.0f} s"
            raise ToolError(f"the Pub/Sub emulator on {emulator.host_port} {why}: {' | '.join(tail) or 'no output'}")
        time.sleep(0.2)
    return emulator


def running(directory: Path = EMULATOR_DIR) -> Emulator | None:
    """The emulator the pid file names, when it is alive and answering."""
    try:
        pid_text, port_text = _pid_file(directory).read_text().split()
        emulator = Emulator(int(pid_text), int(port_text), directory)
    except (OSError, ValueError):
        return None
    if _group_alive(emulator.pid) and _is_emulator(emulator.pid) and answers(emulator.endpoint):
        return emulator
    return None


def stop(emulator: Emulator) -> None:
    """End the emulator's whole process group (gcloud and its JVM), SIGTERM then SIGKILL."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(emulator.pid, sig)
        except ProcessLookupError:
            break
        deadline = time.monotonic() + STOP_TIMEOUT_SECONDS
        while _group_alive(emulator.pid) and time.monotonic() < deadline:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(emulator.pid, os.WNOHANG)  # reap it when it is our child
            time.sleep(0.1)
        if not _group_alive(emulator.pid):
            break
    _pid_file(emulator.directory).unlink(missing_ok=True)


# --- The command -----------------------------------------------------------------------


def _default_port() -> int:
    value = os.environ.get(PORT_ENV, str(DEFAULT_PORT))
    if not value.isdigit() or not 1 <= int(value) <= 65535:
        raise ToolError(f"{PORT_ENV}={value!r} is not a port number (1-65535)")
    return int(value)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``up`` or ``down``, and the emulator's port."""
    parser.add_argument("action", choices=("up", "down"), help="up: start the emulator and deploy; down: stop it")
    parser.add_argument(
        "--port",
        type=int,
        default=None,
        help=f"the emulator's port on {HOST} (default: ${PORT_ENV}, else {DEFAULT_PORT})",
    )


def _local_project() -> str:
    values = stack_config.merged_config(LOCAL_STACK).values
    return str(values["gcp:project"])


def _pulumi(args: Sequence[str], endpoint: str) -> int:
    # The real CLI, built from Go modules by tools.pulumi_cli (./dev pulumi ...). The
    # stand-in provider inherits the CLI's environment, and reads the emulator from it.
    from tools import pulumi_cli

    os.environ[EMULATOR_ENV] = endpoint
    return pulumi_cli.run(list(args))


def _state_resources(stack: str) -> list[Mapping[str, Any]]:
    """The resources the local backend's checkpoint of ``stack`` records (none before the
    first up): pkg/backend/diy keeps ``{"checkpoint": {"latest": {"resources": [...]}}}``."""
    from tools import pulumi_cli

    path = pulumi_cli.Local.from_env().stack_state(stack)
    if not path.exists():
        return []
    document = read_json(path, f"the local state {path}")
    latest = (document.get("checkpoint") or {}).get("latest") or {}
    return list(latest.get("resources") or [])


def restore(pubsub: EmulatorPubSub, resources: Sequence[Mapping[str, Any]]) -> int:
    """Create again, in a fresh (empty) emulator, the topics then subscriptions the stack's
    state says exist, from their recorded inputs, so state and emulator agree before the
    engine diffs against the state. Returns how many were created."""
    created = 0
    for type_, apply in ((TOPIC_TYPE, pubsub.apply_topic), (SUBSCRIPTION_TYPE, pubsub.apply_subscription)):
        for resource in resources:
            if resource.get("type") == type_ and not resource.get("delete"):
                apply(resource.get("inputs") or {})
                created += 1
    return created


def summary(pubsub: EmulatorPubSub, project: str, emulator: Emulator) -> str:
    """What the emulator holds for ``project``, and how to publish a task there."""
    topics = sorted(pubsub.list_topics(project))
    subscriptions = sorted(pubsub.list_subscriptions(project))
    task_topics = [topic for topic in topics if not topic.endswith("-dlq")]
    lines = [
        f"Pub/Sub emulator {emulator.endpoint} (project {project}): {len(topics)} topics, "
        f"{len(subscriptions)} subscriptions",
        *(f"  topic        {topic}" for topic in topics),
        *(f"  subscription {subscription}" for subscription in subscriptions),
        "",
        "Run the app against it (docs/local.md):",
        f"  PUBSUB_EMULATOR_HOST={emulator.host_port} GCP_PROJECT_ID={project} python manage.py runserver 127.0.0.1:8000",
    ]
    if task_topics:
        example = task_topics[0]
        name = example.rsplit(".", 1)[-1]
        lines += [
            "Publish a task by hand, as the app publishes it (the push goes to the app's /tasks/pubsub/):",
            f"  CLOUDSDK_API_ENDPOINT_OVERRIDES_PUBSUB={emulator.endpoint}/ CLOUDSDK_AUTH_DISABLE_CREDENTIALS=true \\",
            f"    gcloud pubsub topics publish {example} --project={project} \\",
            f'    --message=\'{{"task_id": "manual-1", "task_name": "{name}", "args": [], "kwargs": {{}}}}\'',
        ]
    lines.append("Stop the emulator with ./dev local down (it keeps nothing: the next up deploys again).")
    return "\n".join(lines) + "\n"


def up(port: int) -> int:
    """Start the emulator if needed, deploy the local stack into it, print the result."""
    project = _local_project()
    emulator = running()
    started = emulator is None
    if emulator is None:
        print(f"Starting the Pub/Sub emulator on {HOST}:{port} ...", file=sys.stderr)
        emulator = start(port, project=project)
    elif emulator.port != port:
        print(f"note: the emulator already runs on port {emulator.port}; using it", file=sys.stderr)
    pubsub = EmulatorPubSub(emulator.endpoint)
    if started:
        # The emulator keeps nothing across restarts, the stack's state does.
        restored = restore(pubsub, _state_resources(LOCAL_STACK))
        if restored:
            print(f"Restored {restored} topics and subscriptions from the local stack's state.", file=sys.stderr)
    status = _pulumi(["up", "--stack", LOCAL_STACK, "--yes", "--skip-preview"], emulator.endpoint)
    if status != 0:
        return status
    sys.stdout.write(summary(pubsub, project, emulator))
    return 0


def down() -> int:
    """Stop the emulator, if it runs."""
    emulator = running()
    if emulator is None:
        print("The Pub/Sub emulator is not running.", file=sys.stderr)
        _pid_file(EMULATOR_DIR).unlink(missing_ok=True)
        return 0
    stop(emulator)
    print(f"Stopped the Pub/Sub emulator on {emulator.host_port}.", file=sys.stderr)
    return 0


def run(args: argparse.Namespace) -> int:
    """``./dev local up|down``."""
    if args.action == "down":
        return down()
    port = args.port if args.port is not None else _default_port()
    return up(port)
