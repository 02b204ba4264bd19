"""The trust rules that lean on the Pulumi CLI's behaviour, checked on the real CLI.

- A preview needs only read access to the state: the workflows give pull requests an
  identity that can read the state bucket, never write it (docs/deploying.md). Source:
  pulumi/pulumi ``pkg/backend/diy/backend.go`` (``Preview`` takes no lock; ``apply``
  writes history and backups only when not a dry run).
- ``pulumi up --plan FILE`` does only what the preview saved with ``--save-plan FILE``
  showed (``pkg/cmd/pulumi/operations/up.go``, ``preview.go``): the deploy runs the guard
  over that preview, then updates with its plan.
- The deploy's flags check reads the stack's ``flags`` from ``pulumi config --json``: its
  ``jq`` filter must read what the real CLI prints.

Each runs the CLI built by ``./dev pulumi`` on a folder of its own (tests/engine_support.py).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from infra.ownership import TASK_COMPONENT
from tests.engine_support import Engine, registry_without
from tests.test_workflows import deploy_stack_steps, runs, step_index
from tools import runner, stack_config
from tools.pulumi_cli import LOCAL_VARIABLE, PROGRAM_VARIABLE, REPO, Cli, ensure_cli, prepare
from tools.standin.gcp_provider import EMULATOR_VARIABLE, STATE_VARIABLE

pytestmark = pytest.mark.engine

STACK = "example"  # the stack with flags set, so the flags filter has something to read


@pytest.fixture(scope="module")
def cli() -> Cli:
    return ensure_cli()


@pytest.fixture(scope="module")
def deployed(cli: Cli, tmp_path_factory: pytest.TempPathFactory) -> Engine:
    folder = tmp_path_factory.mktemp("engine-trust")
    engine = Engine(local=folder / "local", cloud=folder / "cloud.json")
    engine.up(STACK)
    return engine


def _sandboxed(engine: Engine, *args: str) -> subprocess.CompletedProcess[str]:
    """``./dev pulumi ARGS`` with the file backend's folder mounted read-only (bubblewrap),
    everything else as it is."""
    state = engine.local / "state"
    command = [
        "bwrap",
        "--dev-bind",
        "/",
        "/",
        "--ro-bind",
        str(state),
        str(state),
        "--",
        sys.executable,
        "-m",
        "tools.pulumi_cli",
        *args,
    ]
    environment = {key: value for key, value in os.environ.items() if key not in (EMULATOR_VARIABLE, PROGRAM_VARIABLE)}
    environment.update({LOCAL_VARIABLE: str(engine.local), STATE_VARIABLE: str(engine.cloud)})
    return subprocess.run(command, cwd=REPO, env=environment, capture_output=True, text=True, check=False)


@pytest.mark.skipif(not shutil.which("bwrap"), reason="bubblewrap mounts the state read-only (.ci/run installs it)")
def test_a_preview_needs_only_read_access_to_the_state(deployed: Engine) -> None:
    result = _sandboxed(deployed, "preview", "--stack", STACK, "--json", "--show-replacement-steps")
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads(result.stdout)["changeSummary"]


@pytest.mark.skipif(not shutil.which("bwrap"), reason="bubblewrap mounts the state read-only (.ci/run installs it)")
def test_an_update_cannot_run_on_read_only_state(deployed: Engine) -> None:
    """The mount really is read-only: what writes the state fails under it (so the test
    above would fail if a preview wrote)."""
    result = _sandboxed(deployed, "refresh", "--stack", STACK, "--yes")
    assert result.returncode != 0
    assert "read-only file system" in (result.stdout + result.stderr).lower()


def _less_one_task(engine: Engine, folder: Path) -> list[str]:
    """The CLI arguments that preview or update ``STACK`` with its registry less one task."""
    plan = runner.run_plan(STACK)
    task = min(r.name for r in plan.registrations if r.type == TASK_COMPONENT)
    original = stack_config.merged_config(STACK).values["gyrinx-tasks:registry"]
    registry = registry_without(original, task, folder)
    config = engine.config_copy(STACK, folder / f"Pulumi.{STACK}.yaml")
    return ["--config-file", str(config), "-c", f"gyrinx-tasks:registry={registry}"]


def test_an_update_held_to_a_saved_plan_does_only_what_it_showed(deployed: Engine, tmp_path: Path) -> None:
    """The deploy previews with --save-plan, guards that preview, then runs up --plan: a
    program that would now do more (here: delete a task the checked preview kept) fails."""
    plan = tmp_path / "plan.json"
    deployed.run("preview", "--stack", STACK, "--save-plan", str(plan))
    changed = deployed.run(
        "up",
        "--stack",
        STACK,
        "--yes",
        "--plan",
        str(plan),
        *_less_one_task(deployed, tmp_path),
        check=False,
        env={"PYTHONPATH": f"{tmp_path}:{REPO}"},
    )
    assert changed.returncode != 0
    # pkg/resource/deploy/step_generator.go: "delete is not allowed by the plan: this
    # resource is constrained to same".
    assert "delete is not allowed by the plan" in changed.stdout + changed.stderr
    unchanged = deployed.run("up", "--stack", STACK, "--yes", "--plan", str(plan), check=False)
    assert unchanged.returncode == 0, unchanged.stderr[-3000:]


def _flags_filter() -> str:
    """The jq filter the deploy's flags check applies to ``pulumi config --json``."""
    steps = deploy_stack_steps()
    script = steps[step_index(steps, lambda s: runs(s, "--after outputs-planned.json"))]["run"]
    line = next(line for line in script.splitlines() if "jq '" in line)
    return line.split("jq '", 1)[1].split("'", 1)[0]


@pytest.mark.skipif(not shutil.which("jq"), reason="the deploy step filters with jq (GitHub's runners have it)")
def test_the_flags_check_reads_the_flags_the_real_cli_prints(deployed: Engine) -> None:
    printed = deployed.run("config", "--json", "--show-secrets", "--stack", STACK).stdout
    filtered = subprocess.run(["jq", _flags_filter()], input=printed, capture_output=True, text=True, check=True)
    committed = yaml.safe_load((REPO / f"Pulumi.{STACK}.yaml").read_text())["config"]["gyrinx-tasks:flags"]
    assert json.loads(filtered.stdout) == {"flags": committed}


def test_previews_skip_the_per_step_snapshot_and_updates_do_not(cli: Cli, tmp_path: Path, monkeypatch) -> None:
    """A preview persists nothing, yet the file backend serialises the whole snapshot after
    every step (pkg/backend/snapshot.go): previews set PULUMI_SKIP_CHECKPOINTS, here and in
    the workflows; an update keeps its checkpoints, which is how state survives a crash."""
    monkeypatch.setenv(LOCAL_VARIABLE, str(tmp_path / "local"))
    assert prepare(["preview", "--stack", STACK]).env.get("PULUMI_SKIP_CHECKPOINTS") == "true"
    assert "PULUMI_SKIP_CHECKPOINTS" not in prepare(["up", "--stack", STACK]).env
    steps = deploy_stack_steps()
    preview = steps[step_index(steps, lambda s: runs(s, "pulumi preview --stack"))]
    assert preview["env"]["PULUMI_SKIP_CHECKPOINTS"] == "true"
    up = steps[step_index(steps, lambda s: runs(s, "pulumi up --stack"))]
    assert "PULUMI_SKIP_CHECKPOINTS" not in up.get("env", {})
