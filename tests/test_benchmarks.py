"""The benchmark's replica of the language host runs the real program (no timing here)."""

from __future__ import annotations

import asyncio
import contextvars
import gc
from typing import Any

import pytest

from benchmarks import host
from benchmarks.generated_registry import PLAN_ARGUMENTS
from tools.mocks import RecordingMonitor, Registration
from tools.runner import run_plan

# The generated registry, as `python -m tools plan` and `python -m benchmarks.host` take it.
OVERRIDES = PLAN_ARGUMENTS[4:][1::2]


def _declared(registrations: list[Registration]) -> list[tuple[str, str, str, Any]]:
    return sorted((r.type, r.name, r.parent, r.inputs) for r in registrations)


@pytest.fixture
def host_run(monkeypatch):
    """``host.run`` for the dev stack with a handful of generated tasks, with what it changes
    for the whole process put back: sys.argv, the event loop, the collector's thresholds,
    and the SDK's settings (kept to a copied context)."""
    monkeypatch.setenv("BENCH_TASKS", "4")
    monkeypatch.setattr("sys.argv", ["pytest"])
    thresholds = gc.get_threshold()

    def _run() -> RecordingMonitor:
        try:
            monitor = contextvars.copy_context().run(host.run, "dev", OVERRIDES, recording=True)
        finally:
            asyncio.set_event_loop(None)
            gc.set_threshold(*thresholds)
        assert isinstance(monitor, RecordingMonitor)
        return monitor

    return _run


def test_host_declares_what_the_offline_plan_declares(host_run, monkeypatch):
    """benchmarks/host.py runs __main__.py as pulumi/pulumi's
    sdk/python/cmd/pulumi-language-python-exec does (run_in_stack, runpy.run_path); the
    offline runner execs it. Both must see the same program declare the same resources."""
    hosted = host_run()
    monkeypatch.setenv("BENCH_TASKS", "4")
    planned = run_plan("dev", OVERRIDES)
    assert hosted.registrations
    assert _declared(hosted.registrations) == _declared(planned.registrations)


def test_engine_rows_give_the_generated_registry_to_pulumi_in_the_project_namespace():
    """`pulumi -c KEY=VALUE` reads a key with no namespace as the project's (pulumi/pulumi
    sdk/go/common/resource/config/key.go, ParseKey); the benchmark spells it out, and
    leaves a namespaced key as it is."""
    from benchmarks.engine_benchmark import pulumi_config_flags
    from tools.stack_config import PROJECT

    flags = pulumi_config_flags([*PLAN_ARGUMENTS, "--config", "gcp:project=elsewhere"])
    expected = [f"{PROJECT}:{value}" for value in OVERRIDES] + ["gcp:project=elsewhere"]
    assert flags == [item for value in expected for item in ("-c", value)]


def test_engine_rows_count_what_the_preview_creates_without_the_engines_own_resources():
    """A `pulumi preview --json` step names its resource's type in newState.type; the root
    stack and default providers are the engine's (resource_id.go RootStackType,
    providers' "pulumi:providers:" prefix), and only creates are counted."""
    from benchmarks.engine_benchmark import created

    def step(op: str, kind: str) -> dict[str, Any]:
        return {"op": op, "newState": {"type": kind}}

    topic = "gcp:pubsub/topic:Topic"
    document = {
        "steps": [
            step("create", "pulumi:pulumi:Stack"),
            step("create", "pulumi:providers:gcp"),
            step("create", topic),
            step("create", topic),
            step("same", topic),
        ]
    }
    assert created(document) == {topic: 2}


def test_engine_growth_compares_each_size_with_the_next_smaller():
    from benchmarks.engine_benchmark import growth

    walls = {1000: 30.0, 100: 3.0, 10000: 330.0}
    assert growth(walls) == [(100, 1000, 30.0 / 3.0), (1000, 10000, 330.0 / 30.0)]
