"""The real Pulumi engine on every committed stack (issue 16): the CLI built from Go
modules (tools/pulumi_cli.py), a local file backend, and the stand-in ``gcp`` provider
(tools/standin/gcp_provider.py).

Marked ``engine``: the first run on a machine builds the CLI (minutes; docs/engine.md).
Each stack is deployed once per module (``deployed``); every test then runs its own
preview against that state, or its own local folder where it changes state.

Sources of the engine behaviour relied on (pulumi/pulumi at the built version):
- ``pulumi preview --json`` lists a step per change with ``op``, ``urn`` and
  ``newState`` (``inputs``, ``parent``, ``dependencies``, ``propertyDependencies``);
  unchanged resources only with ``--show-sames``; replacement steps
  (``create-replacement``/``delete-replaced``) only with ``--show-replacement-steps``
  (pkg/backend/display/json.go, ShowJSONEvents; pkg/resource/deploy/step.go).
- ``--expect-no-changes`` makes a preview fail when it would change anything
  (pkg/cmd/pulumi/operations/preview.go).
- ``pulumi import --file`` takes ``{"resources": [{type, name, id, parent?}]}``,
  ``--protect=false`` and ``--generate-code=false`` (pkg/cmd/pulumi/operations/import.go).
- A mandatory policy violation fails the preview (pkg/engine/update.go, policy analyzers).
- Secrets are encrypted in the checkpoint by the stack's secrets manager and shown as
  ``[secret]`` in the display (pkg/resource/stack/deployment.go, SerializePropertyValue;
  pkg/backend/display/json.go).
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from infra.ownership import TASK_COMPONENT
from tests.engine_support import (
    REMOVING,
    STACKS,
    Engine,
    force_new_changes,
    mismatches,
    planned,
    registry_without,
    steps_by_op,
)
from tools import runner, stack_config
from tools.pulumi_cli import REPO, Cli, ensure_cli

pytestmark = pytest.mark.engine

STACK_TYPE = "pulumi:pulumi:Stack"


@pytest.fixture(scope="session")
def cli() -> Cli:
    """The pinned CLI, built here on a cold machine by the same code as ``./dev pulumi``."""
    return ensure_cli()


@dataclass(frozen=True)
class Deployed:
    """A stack deployed by the real engine: its fresh preview, then ``pulumi up``."""

    stack: str
    engine: Engine
    plan: runner.Plan
    fresh_preview: dict[str, Any]
    committed_file: str  # Pulumi.<stack>.yaml before the engine ran


@pytest.fixture(scope="module", params=STACKS)
def deployed(request: pytest.FixtureRequest, cli: Cli, tmp_path_factory: pytest.TempPathFactory) -> Deployed:
    stack = request.param
    folder = tmp_path_factory.mktemp(f"engine-{stack}")
    engine = Engine(local=folder / "local", cloud=folder / "cloud.json")
    committed = (REPO / f"Pulumi.{stack}.yaml").read_text()
    fresh = engine.preview(stack)
    engine.up(stack)
    return Deployed(stack, engine, runner.run_plan(stack), fresh, committed)


def test_the_committed_stack_file_is_never_written(deployed: Deployed) -> None:
    """The CLI writes a passphrase salt into the stack file it is given
    (pkg/cmd/pulumi/config/io.go, getAndSaveSecretsManager): ./dev pulumi gives it a copy."""
    assert (REPO / f"Pulumi.{deployed.stack}.yaml").read_text() == deployed.committed_file
    assert (
        "encryptionsalt" in deployed.engine.config_copy(deployed.stack, deployed.engine.local / "copy.yaml").read_text()
    )


def _python_tool(*args: str) -> subprocess.CompletedProcess[str]:
    """``./dev COMMAND ARGS`` for the offline tools (``python -m tools``)."""
    return subprocess.run([sys.executable, "-m", "tools", *args], cwd=REPO, capture_output=True, text=True, check=False)


def test_a_fresh_preview_registers_exactly_the_offline_plans_resources(deployed: Deployed) -> None:
    """The differential test: the engine's creates are the plan's registrations, URN for URN."""
    creates = steps_by_op(deployed.fresh_preview, {"create"})
    assert {urn for urn, step in creates.items() if step["newState"]["type"] != STACK_TYPE} == set(
        planned(deployed.plan)
    )


def test_a_the_offline_plan_spells_urns_as_the_engine_does(deployed: Deployed) -> None:
    """The mocks name resources as the engine does (tools/mocks.py RecordingMonitor.make_urn,
    after pkg/resource/deploy/deployment.go generateURN), so plans/ and previews agree."""
    creates = steps_by_op(deployed.fresh_preview, {"create"})
    assert {r.urn for r in deployed.plan.registrations} <= set(creates)


def test_a_fresh_preview_has_the_plans_types_parents_and_dependencies(deployed: Deployed) -> None:
    creates = steps_by_op(deployed.fresh_preview, {"create"})
    problems = []
    for urn, registration in planned(deployed.plan).items():
        state = creates[urn]["newState"]
        engine_view = (
            state["type"],
            state.get("parent", ""),
            tuple(sorted(state.get("dependencies", []))),
            {key: tuple(sorted(urns)) for key, urns in state.get("propertyDependencies", {}).items() if urns},
        )
        plan_view = (
            registration.type,
            registration.parent,
            registration.dependencies,
            registration.property_dependencies,
        )
        if engine_view != plan_view:
            problems.append(f"{urn}:\n  engine {engine_view}\n  plan   {plan_view}")
    assert not problems, "\n".join(problems)


def test_a_fresh_preview_has_the_plans_inputs(deployed: Deployed) -> None:
    """Inputs equal the plan's (secrets masked in both); a value the engine cannot know
    before an update (an id or email Google computes) is unknown only where the input
    depends on another resource."""
    creates = steps_by_op(deployed.fresh_preview, {"create"})
    problems = []
    for urn, registration in planned(deployed.plan).items():
        state = creates[urn]["newState"]
        dependencies = state.get("propertyDependencies", {})
        problems += [
            f"{urn}: {problem}" for problem in mismatches(state.get("inputs", {}), registration.inputs, dependencies)
        ]
    assert not problems, "\n".join(problems)


def test_b_after_up_a_preview_expects_no_changes(deployed: Deployed) -> None:
    result = deployed.engine.run("preview", "--stack", deployed.stack, "--expect-no-changes", check=False)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]


def test_b_after_up_the_state_holds_the_plans_inputs_exactly(deployed: Deployed) -> None:
    """Once Google's values exist, nothing is unknown: the state's inputs are the plan's."""
    resources = {
        resource["urn"]: resource
        for resource in deployed.engine.checkpoint(deployed.stack)["checkpoint"]["latest"]["resources"]
    }
    problems = []
    for urn, registration in planned(deployed.plan).items():
        problems += [
            f"{urn}: {problem}" for problem in mismatches(resources[urn].get("inputs", {}), registration.inputs, {})
        ]
    assert not problems, "\n".join(problems)


def _task_urn(plan: runner.Plan, task: str) -> str:
    return next(r.urn for r in planned(plan).values() if r.type == TASK_COMPONENT and r.name == task)


@pytest.fixture(scope="module")
def one_task_removed(deployed: Deployed, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    """The real preview of the deployed stack with its registry less one task (the first
    by name): ``(task, preview file)``."""
    task = min(r.name for r in deployed.plan.registrations if r.type == TASK_COMPONENT)
    folder = tmp_path_factory.mktemp(f"less-{deployed.stack}")
    original = stack_config.merged_config(deployed.stack).values["gyrinx-tasks:registry"]
    registry = registry_without(original, task, folder)
    config = deployed.engine.config_copy(deployed.stack, folder / f"Pulumi.{deployed.stack}.yaml")
    preview = deployed.engine.preview(
        deployed.stack,
        "--config-file",
        str(config),
        "-c",
        f"gyrinx-tasks:registry={registry}",
        env={"PYTHONPATH": f"{folder}:{REPO}"},
    )
    path = folder / "preview.json"
    path.write_text(json.dumps(preview))
    return task, path


def test_c_a_removed_task_shows_exactly_its_resources_deleted(
    deployed: Deployed, one_task_removed: tuple[str, Path]
) -> None:
    task, path = one_task_removed
    preview = json.loads(path.read_text())
    task_urn = _task_urn(deployed.plan, task)
    expected = {r.urn for r in planned(deployed.plan).values() if task_urn in (r.urn, r.parent)}
    removed = {step["urn"] for step in preview["steps"] if step["op"] in REMOVING}
    assert removed == expected


def test_c_the_guard_passes_the_real_preview_when_the_pull_request_names_the_task(
    one_task_removed: tuple[str, Path], tmp_path: Path
) -> None:
    task, path = one_task_removed
    diff = tmp_path / "pr.diff"
    diff.write_text(f"-        TaskRoute(tasks.{task}),\n")
    result = _python_tool("guard", str(path), "--mentioned-in", str(diff))
    assert result.returncode == 0, result.stdout + result.stderr


def test_c_the_guard_refuses_the_real_preview_when_the_pull_request_does_not_name_the_task(
    one_task_removed: tuple[str, Path], tmp_path: Path
) -> None:
    _task, path = one_task_removed
    diff = tmp_path / "pr.diff"
    diff.write_text("-        # an unrelated line\n")
    result = _python_tool("guard", str(path), "--mentioned-in", str(diff))
    assert result.returncode == 1, result.stdout + result.stderr


def _immutable_override(plan: runner.Plan) -> str:
    """A config change that alters an input Google cannot change in place: the push
    service account's id when the stack creates it, else the account's email."""
    account = next((r for r in plan.registrations if r.type == "gcp:serviceaccount/account:Account"), None)
    if account is not None:
        return f"gyrinx-tasks:pushServiceAccountId={account.inputs['accountId']}-renamed"
    project = stack_config.merged_config(plan.stack).values["gcp:project"]
    return f"gyrinx-tasks:pushServiceAccountEmail=renamed-invoker@{project}.iam.gserviceaccount.com"


@pytest.fixture(scope="module")
def immutable_change(deployed: Deployed, tmp_path_factory: pytest.TempPathFactory) -> tuple[set[str], Path]:
    """``(URNs the plan says must be replaced, the real preview's file)`` for that change."""
    folder = tmp_path_factory.mktemp(f"immutable-{deployed.stack}")
    override = _immutable_override(deployed.plan)
    expected = force_new_changes(deployed.plan, runner.run_plan(deployed.stack, [override]))
    config = deployed.engine.config_copy(deployed.stack, folder / f"Pulumi.{deployed.stack}.yaml")
    preview = deployed.engine.preview(deployed.stack, "--config-file", str(config), "-c", override)
    path = folder / "preview.json"
    path.write_text(json.dumps(preview))
    return expected, path


def test_d_an_immutable_input_change_is_a_replacement_in_the_real_preview(
    immutable_change: tuple[set[str], Path],
) -> None:
    expected, path = immutable_change
    replaced = set(steps_by_op(json.loads(path.read_text()), {"replace"}))
    assert expected, "the change must alter a ForceNew input somewhere"
    assert replaced == expected


def test_d_the_guard_counts_the_real_replacements(immutable_change: tuple[set[str], Path]) -> None:
    expected, path = immutable_change
    result = _python_tool("guard", str(path))
    assert result.returncode == 1, result.stdout + result.stderr
    assert f" {len(expected)} of the " in result.stdout.splitlines()[0], result.stdout


def test_e_import_file_then_the_next_preview_replaces_nothing_imported(deployed: Deployed, tmp_path: Path) -> None:
    """``./dev import-file`` adopts what exists (here: what the deployed stack made, in
    the same stand-in cloud) into a fresh stack; the preview after it replaces none of it."""
    document = _python_tool("import-file", "--stack", deployed.stack, "--unchecked")
    assert document.returncode == 0, document.stderr
    import_file = tmp_path / "import.json"
    import_file.write_text(document.stdout)
    fresh = Engine(local=tmp_path / "local", cloud=deployed.engine.cloud)
    fresh.run(
        "import",
        "--stack",
        deployed.stack,
        "--file",
        str(import_file),
        "--yes",
        "--protect=false",
        "--generate-code=false",
    )
    imported = {
        resource["urn"]
        for resource in fresh.checkpoint(deployed.stack)["checkpoint"]["latest"]["resources"]
        if resource.get("custom") and not resource["type"].startswith("pulumi:providers:")
    }
    wanted = {entry["name"] for entry in json.loads(document.stdout)["resources"] if "id" in entry}
    assert {urn.rsplit("::", 1)[1] for urn in imported} == wanted
    removing = set(steps_by_op(fresh.preview(deployed.stack), REMOVING))
    assert not removing & imported


def test_f_the_policy_pack_runs_in_the_real_cli(deployed: Deployed) -> None:
    result = deployed.engine.run("preview", "--stack", deployed.stack, "--policy-pack", "policy/")
    assert "Policies:" in result.stdout
    assert "gyrinx-tasks@v" in result.stdout


def test_f_a_change_that_breaks_a_policy_fails_the_real_preview(deployed: Deployed, tmp_path: Path) -> None:
    """The program plus one grant to ``allUsers`` (what policy ``no-public-members`` forbids)."""
    topic = next(r for r in deployed.plan.registrations if r.type == "gcp:pubsub/topic:Topic")
    program = tmp_path / "__main__.py"
    program.write_text(
        f"""import runpy

import pulumi_gcp as gcp

runpy.run_path({str(REPO / "__main__.py")!r}, run_name="__main__")
gcp.pubsub.TopicIAMMember(
    "public-publisher",
    project={topic.inputs["project"]!r},
    topic={topic.inputs["name"]!r},
    role="roles/pubsub.publisher",
    member="allUsers",
)
"""
    )
    result = deployed.engine.run(
        "preview",
        "--stack",
        deployed.stack,
        "--policy-pack",
        "policy/",
        check=False,
        env={"GYRINX_PULUMI_PROGRAM": str(program)},
    )
    assert result.returncode != 0
    assert "no-public-members" in result.stdout


def test_g_a_secret_service_url_is_in_neither_the_state_nor_the_preview(cli: Cli, tmp_path: Path) -> None:
    stack = STACKS[0]
    engine = Engine(local=tmp_path / "local", cloud=tmp_path / "cloud.json")
    config = engine.config_copy(stack, tmp_path / f"Pulumi.{stack}.yaml")
    plain = "https://secret-service-4f2a9c-nw.a.run.app"
    engine.run(
        "config", "set", "--secret", "gyrinx-tasks:serviceUrl", plain, "--stack", stack, "--config-file", str(config)
    )
    assert plain not in config.read_text()
    engine.up(stack, "--config-file", str(config))
    assert plain in engine.cloud.read_text(), "the secret must reach the resources (Google stores it in plain)"
    assert plain not in engine.checkpoint_text(stack)
    preview = engine.run("preview", "--stack", stack, "--json", "--show-sames", "--config-file", str(config))
    assert plain not in preview.stdout
