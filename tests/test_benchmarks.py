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
