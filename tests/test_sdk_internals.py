"""The contract of the Pulumi SDK internals this project uses (infra/sdk_internals.py).

Each is non-public: an SDK upgrade may move or change it. These tests name what each door
relies on, so such an upgrade fails here, by name, before anything deeper breaks.
"""

from __future__ import annotations

import asyncio
import inspect

import pulumi
from pulumi.runtime import config as runtime_config
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import settings as runtime_settings
from pulumi.runtime import stack as runtime_stack
from pulumi.runtime import sync_await as runtime_sync_await

from infra import sdk_internals
from tools.mocks import GoogleMocks, RecordingMonitor


def test_the_config_map_and_bag_are_where_config_keys_reads_them(monkeypatch):
    """``CONFIG`` is a context variable holding the map ``set_all_config`` fills; the
    ``PULUMI_CONFIG`` bag is what ``get_config_env`` reads."""
    token = runtime_config.CONFIG.set({"gcp:project": "p"})
    try:
        monkeypatch.setenv("PULUMI_CONFIG", '{"gyrinx-tasks:serviceUrl": "https://x"}')
        assert sdk_internals.config_keys() == {"gcp:project", "gyrinx-tasks:serviceUrl"}
    finally:
        runtime_config.CONFIG.reset(token)


def test_sync_await_returns_a_coroutines_value():
    async def three() -> int:
        await asyncio.sleep(0)
        return 3

    assert callable(runtime_sync_await._sync_await)
    assert sdk_internals.sync_await(three()) == 3


def test_run_in_stack_takes_the_program_as_its_one_argument():
    assert list(inspect.signature(runtime_stack.run_in_stack).parameters) == ["func"]
    assert inspect.iscoroutinefunction(runtime_stack.run_in_stack)


def test_the_root_resource_is_read_from_the_runtime_settings():
    assert inspect.signature(runtime_settings.get_root_resource).parameters == {}


def test_mock_settings_take_what_configure_mocks_passes():
    # MockSettings sets each keyword it is given as an attribute (pulumi/runtime/mocks.py).
    wanted = {"monitor", "monitor_features", "engine", "project", "stack", "dry_run", "organization", "callbacks"}
    made = pulumi_mocks.MockSettings(**{name: name for name in wanted})
    assert issubclass(pulumi_mocks.MockSettings, runtime_settings.Settings)
    assert {name: getattr(made, name) for name in wanted} == {name: name for name in wanted}
    assert callable(pulumi_mocks._ensure_event_loop)


def test_a_program_runs_under_the_mocks_through_the_door():
    """The door end to end: configure the mocks, run a one-resource program in a stack,
    read the root stack, and see the registration."""
    sdk_internals.ensure_event_loop()
    monitor = RecordingMonitor(GoogleMocks("contract-project", "europe-west2"))
    sdk_internals.configure_mocks(monitor, "gyrinx-tasks", "contract", preview=True, logger=None)
    roots = []

    def program() -> None:
        roots.append(sdk_internals.root_resource())
        pulumi.ComponentResource("gyrinx-tasks:index:Contract", "one")

    sdk_internals.sync_await(sdk_internals.run_in_stack(program))
    assert roots and roots[0] is not None
    assert any(urn.endswith("::one") for urn in monitor.resources)
