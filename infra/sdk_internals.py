"""Every use of the Pulumi SDK's non-public API, behind one door.

The SDK has no public way to do a few things this project needs: list every config key
the engine passed in (to refuse the ones it does not read), wait for a coroutine from
synchronous code, run a program under mocks the way the language host runs it, and read
the root stack resource. Each is reached here and nowhere else, so an SDK upgrade that
moves one fails in this module and in its contract test (tests/test_sdk_internals.py),
named, instead of somewhere deep in a tool. The program uses only :func:`config_keys`;
the rest serve the offline runner and the mocks (tools import the program, never the
reverse).

Sources: the pulumi wheel's ``pulumi/runtime/config.py`` (``CONFIG``,
``get_config_env``), ``sync_await.py`` (``_sync_await``), ``stack.py``
(``run_in_stack``), ``settings.py`` (``get_root_resource``), ``mocks.py``
(``MockSettings``, ``_ensure_event_loop``, what ``set_mocks`` configures).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import pulumi
from pulumi.runtime import config as runtime_config
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime.settings import get_root_resource
from pulumi.runtime.stack import run_in_stack as _run_in_stack
from pulumi.runtime.sync_await import _sync_await

T = TypeVar("T")


def config_keys() -> set[str]:
    """Every config key the engine passed in: the SDK's config map (filled by the language
    host through ``set_all_config``) and the ``PULUMI_CONFIG`` bag it falls back to."""
    return set(runtime_config.CONFIG.get()) | set(runtime_config.get_config_env())


def sync_await(awaitable: Awaitable[T]) -> T:
    """Wait for ``awaitable`` from synchronous code, on the SDK's own event loop."""
    return _sync_await(awaitable)


def ensure_event_loop() -> None:
    """Make the event loop the mock monitor's callbacks need (Python 3.14 has none by default)."""
    pulumi_mocks._ensure_event_loop()  # type: ignore[attr-defined,no-untyped-call]


def root_resource() -> pulumi.Resource | None:
    """The root stack resource of the running program (set inside its event loop's context)."""
    return get_root_resource()


async def run_in_stack(program: Callable[[], Any]) -> None:
    """Run ``program`` as the language host does: make the root stack, run it, wait for
    every registration (``sdk/python/cmd/pulumi-language-python-exec``)."""
    await _run_in_stack(program)


def configure_mocks(
    monitor: pulumi_mocks.MockMonitor, project: str, stack: str, preview: bool, logger: logging.Logger | None
) -> None:
    """Configure the runtime as ``pulumi.runtime.set_mocks`` does, without the root stack it
    also registers (``run_in_stack`` makes that and refuses a second)."""
    # The mock monitor's GetDeploymentInfo ignores its request (pulumi/runtime/mocks.py).
    features = monitor.GetDeploymentInfo(None).supportedFeatures  # type: ignore[no-untyped-call]
    pulumi.runtime.configure(
        pulumi_mocks.MockSettings(  # type: ignore[no-untyped-call]
            monitor=monitor,
            monitor_features=set(features),
            engine=pulumi_mocks.MockEngine(logger),
            project=project,
            stack=stack,
            dry_run=preview,
            organization=None,
            callbacks=None,
        )
    )
