"""The repository's stacks planned once per test session (each plan takes ~0.25 s)."""

from __future__ import annotations

import functools

from tools import runner


@functools.cache
def stack_plan(stack: str) -> runner.Plan:
    """The offline plan of ``stack`` from its stack file; shared, so never mutate it."""
    return runner.run_plan(stack)
