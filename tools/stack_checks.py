"""Checks across the repository's stacks, which no single ``pulumi up`` can make.

The deployed program sees one stack's config; these read every stack file, so the
offline plan (and CI, through ``--strict``) runs them, never the program. Each returns
warnings: ``./dev plan`` prints them and ``--strict`` fails on any.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from infra import naming, settings
from infra.registry import Task
from tools import runner, stack_config


def unset_kill_switch_warnings(tasks: Sequence[Task], flags_by_stack: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """Routes whose ``kill_switch`` no stack file sets: nothing can switch them off."""
    warnings = []
    for task in tasks:
        switch = task.kill_switch
        if switch and not any(switch in stack_flags for stack_flags in flags_by_stack.values()):
            warnings.append(
                f"task {task.name}: kill_switch {switch} is not set in any stack file's gyrinx-tasks:flags "
                f"({', '.join(sorted(flags_by_stack)) or 'no stack files'}); set it to true or false per stack"
            )
    return warnings


# The keys that decide where a stack's resources live and whom they push as.
_DECIDING = (
    settings.GCP_PROJECT,
    settings.ENVIRONMENT,
    settings.PUSH_SERVICE_ACCOUNT_ID,
    settings.PUSH_SERVICE_ACCOUNT_EMAIL,
)


@dataclass(frozen=True)
class StackIdentity:
    """Where a stack's resources live and whom they push as, from its merged config."""

    stack: str
    project: str
    environment: str
    push_account: str


def stack_identity(stack: str, config: stack_config.StackConfig) -> StackIdentity | None:
    """``stack``'s project, environment and push account as the program reads them
    (its table's defaults: the stack name, pubsub-invoker); None when a value that
    decides them is encrypted (offline its value is a stand-in, so it compares as nothing)."""
    if {key.full_name for key in _DECIDING} & set(config.secret_keys):
        return None
    values = config.read(stack).values
    project = values[settings.GCP_PROJECT.attribute]
    email = values[settings.PUSH_SERVICE_ACCOUNT_EMAIL.attribute] or naming.service_account_email(
        values[settings.PUSH_SERVICE_ACCOUNT_ID.attribute], project
    )
    return StackIdentity(stack, project, values[settings.ENVIRONMENT.attribute], email)


def shared_identity_warnings(stack: str, identities: Sequence[StackIdentity]) -> list[str]:
    """Other stacks deploying to ``stack``'s project with its push account, or its
    environment.

    One push account in one project means both stacks declare its grants (the Pub/Sub
    agent's token creator role, the run.invoker role, and the account itself when they
    create it) as non-authoritative IAM members: destroying or changing either stack
    removes what the other's push subscriptions rely on, and pushes fail with 403. One
    environment in one project means every topic, subscription and job id is the same.
    """
    mine = next((identity for identity in identities if identity.stack == stack), None)
    if mine is None:
        return []
    warnings = []
    for other in sorted(identities, key=lambda identity: identity.stack):
        if other.stack == stack or other.project != mine.project:
            continue
        if other.push_account == mine.push_account:
            warnings.append(
                f"stack {stack} and stack {other.stack} both push as {mine.push_account} in project {mine.project}: "
                "each declares that account's grants, so destroying or changing one removes what the other's "
                "push subscriptions rely on (give each stack its own pushServiceAccountId, or its own project)"
            )
        if other.environment == mine.environment:
            warnings.append(
                f"stack {stack} and stack {other.stack} both deploy environment {mine.environment} to project "
                f"{mine.project}: every topic, subscription and job id is the same, so each stack overwrites "
                "and deletes the other's (give each its own gyrinx-tasks:environment)"
            )
    return warnings


def stack_identities(
    stack: str, overrides: Sequence[str] = (), project_dir: Path = stack_config.PROJECT_DIR
) -> list[StackIdentity]:
    """Every stack file's identity, ``stack``'s with ``overrides`` applied (see
    :func:`tools.stack_config.merged_configs`)."""
    return identities_of(stack_config.merged_configs(stack, overrides, project_dir))


def identities_of(configs: Mapping[str, stack_config.StackConfig]) -> list[StackIdentity]:
    """The identity of each of ``configs`` whose deciding values are known offline."""
    return [identity for name, config in configs.items() if (identity := stack_identity(name, config))]


def warnings(stack: str, overrides: Sequence[str] = (), tasks: Sequence[Task] | None = None) -> list[str]:
    """The checks across stacks that concern ``stack``'s plan (every stack file read once).
    ``tasks``: the plan's own (``runner.Plan.tasks``), so the registry is not loaded again."""
    if tasks is None:
        _, loaded = runner.load_stack(stack, overrides)
        tasks = loaded
    configs = stack_config.merged_configs(stack, overrides)
    return [
        *unset_kill_switch_warnings(tasks, stack_config.flags_of(configs)),
        *shared_identity_warnings(stack, identities_of(configs)),
    ]
