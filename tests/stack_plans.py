"""The repository's stacks planned once per test session (each plan takes ~0.25 s)."""

from __future__ import annotations

import functools

from infra import offline


@functools.cache
def stack_plan(stack: str) -> offline.Plan:
    """The offline plan of ``stack`` from its stack file; shared, so never mutate it."""
    return offline.run_plan(stack)
