"""``./dev drain-check``: a subscription deleted or replaced with messages in it stops the deploy.

The cloud path reads Cloud Monitoring's ``projects.timeSeries.list``
(https://cloud.google.com/monitoring/api/ref_v3/rest/v3/projects.timeSeries/list); it
cannot run here, so it is tested against ``tests/data/monitoring/num_undelivered_messages.json``,
a ``ListTimeSeriesResponse`` written from Google's documented shape (TimeSeries: metric,
resource {type, labels}, metricKind, valueType, points newest first, "returned in
reverse time order"; Point: interval {startTime, endTime}, value; TypedValue: an INT64
as ``int64Value``, a JSON string by the proto3 JSON mapping; the resource type
``pubsub_subscription`` with labels ``project_id`` and ``subscription_id``,
https://cloud.google.com/monitoring/api/resources#tag_pubsub_subscription).

The emulator path runs for real (marked ``emulator`` and ``engine``): the local stack is
deployed by the real Pulumi CLI into the emulator, a task's subscription gets a real
backlog, and a real ``pulumi preview --json`` removing that task is checked.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from infra import naming, ownership
from tests import emulator_support as support
from tools import cli, deletion_guard, drain_check, local_stack, stack_config
from tools.errors import ToolError
from tools.standin.pubsub_emulator import EmulatorPubSub

DATA = stack_config.PROJECT_DIR / "tests" / "data"
MONITORING = json.loads((DATA / "monitoring" / "num_undelivered_messages.json").read_text())
REMOVE_ONE_TASK = DATA / "previews" / "remove_one_task.json"
NOW = datetime(2026, 12, 1, 12, 5, tzinfo=UTC)


def preview() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(REMOVE_ONE_TASK.read_text())
    return document


def removed_task() -> str:
    """The task the recorded preview removes (the parent of its deleted subscriptions)."""
    [task] = {
        step["oldState"]["parent"].rpartition("::")[2]
        for step in preview()["steps"]
        if step["op"] == "delete" and "subscription:Subscription" in step["urn"]
    }
    return task


def serve(response: Mapping[str, Any]) -> tuple[list[str], drain_check.Fetch]:
    asked: list[str] = []

    def fetch(url: str) -> Mapping[str, Any]:
        asked.append(url)
        return response

    return asked, fetch


def test_every_deleted_subscription_of_the_preview_is_counted():
    asked, fetch = serve(MONITORING)
    counts, _ = drain_check.check(preview(), "prod", set(), fetch=fetch, now=NOW)
    deleted = {
        step["oldState"]["id"].rpartition("/")[2]
        for step in preview()["steps"]
        if step["op"] == "delete" and "subscription:Subscription" in step["urn"]
    }
    assert {count.doomed.subscription for count in counts} == deleted
    assert len(asked) == len(deleted)


def test_the_monitoring_call_asks_for_that_subscriptions_backlog_metric_over_the_lookback():
    doomed = drain_check.Doomed("delete", "urn", "t", "gyrinx-prod", "prod--gyrinx.tasks--a.b.t-sub")
    url = urlsplit(drain_check.monitoring_url(doomed, NOW))
    assert url.netloc == "monitoring.googleapis.com" and url.path == "/v3/projects/gyrinx-prod/timeSeries"
    query = {key: value for key, [value] in parse_qs(url.query).items()}
    assert f'metric.type = "{drain_check.METRIC}"' in query["filter"]
    assert f'resource.label.subscription_id = "{doomed.subscription}"' in query["filter"]
    start = datetime.fromisoformat(query["interval.startTime"])
    end = datetime.fromisoformat(query["interval.endTime"])
    assert (end - start).total_seconds() == drain_check.LOOKBACK_SECONDS and end == NOW


def test_the_backlog_is_the_newest_point_of_that_subscriptions_series():
    series = next(s for s in MONITORING["timeSeries"] if s["points"][0]["value"]["int64Value"] != "0")
    subscription = series["resource"]["labels"]["subscription_id"]
    newest = max(series["points"], key=lambda point: point["interval"]["endTime"])
    assert drain_check.latest_backlog(MONITORING, subscription) == int(newest["value"]["int64Value"])


def test_a_backlog_in_the_cloud_stops_the_deploy():
    _, fetch = serve(MONITORING)
    _, stopped = drain_check.check(preview(), "prod", set(), fetch=fetch, now=NOW)
    assert [(c.doomed.task, c.messages) for c in stopped] == [(removed_task(), 42)]


def test_an_approval_for_the_task_lets_its_backlog_go():
    _, fetch = serve(MONITORING)
    _, stopped = drain_check.check(preview(), "prod", {removed_task()}, fetch=fetch, now=NOW)
    assert stopped == []


def test_a_subscription_monitoring_has_no_point_for_stops_the_deploy():
    _, fetch = serve({})
    counts, stopped = drain_check.check(preview(), "prod", set(), fetch=fetch, now=NOW)
    assert stopped == counts and all(count.messages is None for count in counts)


def test_a_monitoring_error_stops_the_deploy():
    def fetch(url: str) -> Mapping[str, Any]:
        raise ToolError("Cloud Monitoring answered HTTP 403")

    counts, stopped = drain_check.check(preview(), "prod", set(), fetch=fetch, now=NOW)
    assert stopped == counts and "403" in counts[0].why


def test_a_preview_of_another_stack_is_refused():
    with pytest.raises(ToolError, match="another stack"):
        drain_check.check(preview(), "dev", set(), fetch=serve(MONITORING)[1], now=NOW)


def test_the_command_exits_1_on_a_backlog_and_names_the_approval(monkeypatch, capsys):
    monkeypatch.setattr(drain_check, "google_fetch", serve(MONITORING)[1])
    status = cli.main(["drain-check", "--stack", "prod", "--preview", str(REMOVE_ONE_TASK)])
    assert status == drain_check.EXIT_BACKLOG
    assert f"--allow-drop {removed_task()}" in capsys.readouterr().out


def test_the_local_stack_needs_the_emulator(monkeypatch):
    monkeypatch.delenv(drain_check.EMULATOR_ENV, raising=False)
    document = json.loads(REMOVE_ONE_TASK.read_text().replace("urn:pulumi:prod::", "urn:pulumi:local::"))
    with pytest.raises(ToolError, match=drain_check.EMULATOR_ENV):
        drain_check.check(document, "local", set())


# --- For real: the engine deploys into the emulator, a backlog builds up -----------------------


@dataclass(frozen=True)
class Deployed:
    emulator: local_stack.Emulator
    pubsub: EmulatorPubSub
    project: str
    tasks: list[dict[str, Any]]
    removed: dict[str, Any]
    after: Path
    backlog: int
    workdir: Path


def _pulumi(*args: str, stdout: Any = None) -> int:
    from tools import pulumi_cli

    return pulumi_cli.run(list(args), stdout=stdout)


def _registry(path: Path, routes: list[dict[str, Any]]) -> Path:
    snapshot = json.loads((stack_config.PROJECT_DIR / "registry" / "gyrinx.json").read_text())
    path.write_text(json.dumps({**snapshot, "routes": routes}))
    return path


def _gcloud_list(kind: str, project: str, env: Mapping[str, str]) -> set[str]:
    result = subprocess.run(
        ["gcloud", "pubsub", kind, "list", f"--project={project}", "--format=json"],
        env=dict(env),
        capture_output=True,
        text=True,
        check=True,
    )
    return {item["name"].rpartition("/")[2] for item in json.loads(result.stdout)}


@pytest.fixture(scope="module")
def deployed(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployed]:
    """The local stack with three of the dev registry's tasks, deployed by the real CLI
    into the emulator; two messages published to the first task's topic, whose pushes
    go to a port nothing listens on, so they stay: a real backlog."""
    emulator = support.shared_emulator(request, tmp_path_factory)
    workdir = tmp_path_factory.mktemp("engine")
    snapshot = json.loads((stack_config.PROJECT_DIR / "registry" / "gyrinx.json").read_text())
    # The removed task retries quickly, so its messages are out of their backoff within
    # drain-check's pull window (see drain_check.count_in_emulator).
    tasks = [{**snapshot["routes"][0], "min_retry_delay": 1, "max_retry_delay": 2}, *snapshot["routes"][1:3]]
    removed = tasks[0]
    before = _registry(workdir / "before.json", tasks)
    after = _registry(workdir / "after.json", tasks[1:])
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GYRINX_PULUMI_LOCAL", str(workdir / "pulumi-local"))
        patch.setenv(drain_check.EMULATOR_ENV, emulator.endpoint)
        config = [
            "-c",
            f"gyrinx-tasks:registry=file:{before}",
            "-c",
            f"gyrinx-tasks:serviceUrl=http://127.0.0.1:{support.free_port()}",
        ]
        assert _pulumi("up", "--stack", "local", "--yes", "--skip-preview", *config) == 0
        project = str(stack_config.merged_config("local").values["gcp:project"])
        environment = str(stack_config.merged_config("local").values["gyrinx-tasks:environment"])
        pubsub = EmulatorPubSub(emulator.endpoint)
        topic = naming.task_names(environment, removed["path"]).topic
        backlog = 2
        for n in range(backlog):
            pubsub.publish(project, topic, [support.rest_message(support.app_payload(removed["name"], args=[n]))])
        yield Deployed(emulator, pubsub, project, tasks, removed, after, backlog, workdir)


def _preview(deployed: Deployed) -> dict[str, Any]:
    out = deployed.workdir / "preview.json"
    with out.open("w") as handle:
        status = _pulumi(
            "preview", "--stack", "local", "--json", "-c", f"gyrinx-tasks:registry=file:{deployed.after}", stdout=handle
        )
    assert status == 0, out.read_text()[-2000:]
    document: dict[str, Any] = json.loads(out.read_text())
    return document


@pytest.mark.emulator
@pytest.mark.engine
def test_a_real_backlog_in_the_emulator_stops_the_removal(deployed: Deployed):
    document = _preview(deployed)
    counts, stopped = drain_check.check(document, "local", set(), emulator=deployed.emulator.endpoint)
    names = naming.task_names("dev", deployed.removed["path"])
    held = {count.doomed.subscription: count.messages for count in counts}
    assert held == {names.subscription: deployed.backlog, names.dead_letter_subscription: 0}
    assert [count.doomed.subscription for count in stopped] == [names.subscription]


@pytest.mark.emulator
@pytest.mark.engine
def test_approved_the_removal_deletes_that_tasks_topics_and_subscriptions_and_nothing_else(
    deployed: Deployed, tmp_path: Path
):
    env = support.gcloud_env(deployed.emulator, tmp_path / "gcloud")
    topics = _gcloud_list("topics", deployed.project, env)
    subscriptions = _gcloud_list("subscriptions", deployed.project, env)
    names = naming.task_names("dev", deployed.removed["path"])
    _, stopped = drain_check.check(
        _preview(deployed), "local", {deployed.removed["name"]}, emulator=deployed.emulator.endpoint
    )
    assert stopped == []
    status = _pulumi(
        "up", "--stack", "local", "--yes", "--skip-preview", "-c", f"gyrinx-tasks:registry=file:{deployed.after}"
    )
    assert status == 0
    assert _gcloud_list("topics", deployed.project, env) == topics - {names.topic, names.dead_letter_topic}
    assert _gcloud_list("subscriptions", deployed.project, env) == subscriptions - {
        names.subscription,
        names.dead_letter_subscription,
    }


@pytest.mark.emulator
@pytest.mark.engine
def test_a_module_move_replaces_that_tasks_topics_and_subscriptions_for_real(deployed: Deployed, tmp_path: Path):
    """Moving a task to another module changes its path, so every id of its topic and
    subscriptions: the engine replaces them (the logical names stay), the emulator loses
    the old ones and gains the new ones, and nothing else changes (tests/test_plan_review.py
    shows the offline diff of a move saying the old ones' messages are lost)."""
    env = support.gcloud_env(deployed.emulator, tmp_path / "gcloud")
    assert (
        _pulumi(
            "up", "--stack", "local", "--yes", "--skip-preview", "-c", f"gyrinx-tasks:registry=file:{deployed.after}"
        )
        == 0
    )
    kept = json.loads(deployed.after.read_text())["routes"]
    mover = kept[0]
    moved_path = f"moved.elsewhere.{mover['name']}"
    moved = _registry(tmp_path / "moved.json", [{**mover, "path": moved_path}, *kept[1:]])
    topics = _gcloud_list("topics", deployed.project, env)
    subscriptions = _gcloud_list("subscriptions", deployed.project, env)
    old, new = naming.task_names("dev", mover["path"]), naming.task_names("dev", moved_path)

    preview = deployed.workdir / "moved-preview.json"
    with preview.open("w") as handle:
        assert (
            _pulumi("preview", "--stack", "local", "--json", "-c", f"gyrinx-tasks:registry=file:{moved}", stdout=handle)
            == 0
        )
    change = deletion_guard.read(json.loads(preview.read_text()))
    replaced = {(removal.task, removal.type) for removal in change.removals if removal.op == "replace"}
    assert {(mover["name"], ownership.TOPIC_TYPE), (mover["name"], ownership.SUBSCRIPTION_TYPE)} <= replaced

    assert (
        _pulumi("up", "--stack", "local", "--yes", "--skip-preview", "-c", f"gyrinx-tasks:registry=file:{moved}") == 0
    )
    assert _gcloud_list("topics", deployed.project, env) == (topics - {old.topic, old.dead_letter_topic}) | {
        new.topic,
        new.dead_letter_topic,
    }
    assert _gcloud_list("subscriptions", deployed.project, env) == (
        subscriptions - {old.subscription, old.dead_letter_subscription}
    ) | {new.subscription, new.dead_letter_subscription}
