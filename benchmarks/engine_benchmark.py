"""The real engine's rows: ``pulumi preview`` of the program against the floor, and the registry's own.

    ./dev bench --engine [--sizes 100 1000] [--repeat 3]

For registries of generated tasks (``generated_registry.py``), previews a fresh ``dev``
stack on a scratch local backend with the real CLI (``./dev pulumi``,
``tools/pulumi_cli.py``: the Go CLI, the program served from a Python process, the
stand-in ``gcp`` provider), three ways, interleaved:

- engine: ``__main__.py``;
- engine floor: ``floor_program.py``, every resource of the offline plan registered flat
  as a raw resource, at module level under the default collector (the issue's floor);
- engine* floor: the same floor given the program's collector setting and async
  entrypoint (``floor_program.py PLAN tuned``); the ``engine*`` row compares with it.

Each is one whole ``python -m benchmarks.engine_run`` process (``engine_run.py``): wall
time of the whole preview; CPU time and peak memory of the process that runs the
program; CPU time of the engine and the provider (its children). Then the real
registry (the committed ``dev`` stack): a preview on an empty local folder (cold: the
local stack is created and the stand-in installed first) and the same preview again
(warm). The CLI must be built already (``./dev pulumi version``); its build time is in
docs/engine.md. The 1-minute load average is printed beside each row.
"""

from __future__ import annotations

import itertools
import json
import os
import sys
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.generated_registry import PLAN_ARGUMENTS
from benchmarks.plan_benchmark import PLAN, ROOT, measure
from infra.ownership import TASK_COMPONENT
from tools.pulumi_cli import LOCAL_VARIABLE, PROGRAM_VARIABLE
from tools.stack_config import PROJECT
from tools.standin.gcp_provider import EMULATOR_VARIABLE, STATE_VARIABLE

FLOOR_PROGRAM = ROOT / "benchmarks" / "floor_program.py"
ENGINE_RUN = [sys.executable, "-m", "benchmarks.engine_run"]
PREVIEW = ["preview", "--stack", "dev", "--json"]
# Resources the engine adds of its own: the root stack and default providers
# (pulumi/pulumi sdk/go/common/resource/resource_id.go RootStackType; providers' "pulumi:providers:" prefix).
ENGINE_OWN = ("pulumi:pulumi:Stack", "pulumi:providers:")


def pulumi_config_flags(arguments: Sequence[str], project: str = PROJECT) -> list[str]:
    """``python -m tools``'s ``--config KEY=VALUE`` pairs among ``arguments`` as ``pulumi -c``
    takes them: a key with no namespace is the project's (pulumi/pulumi
    sdk/go/common/resource/config/key.go, ParseKey). Values stay strings, as the CLI keeps them."""
    flags: list[str] = []
    for option, value in itertools.pairwise(arguments):
        if option == "--config":
            key, sep, rest = value.partition("=")
            flags += ["-c", f"{key if ':' in key else f'{project}:{key}'}{sep}{rest}"]
    return flags


def created(document: Mapping[str, Any]) -> dict[str, int]:
    """Resources a ``pulumi preview --json`` document creates, by type, without the engine's own."""
    counts: dict[str, int] = {}
    for step in document.get("steps", []):
        kind = (step.get("newState") or {}).get("type", "")
        if step.get("op") == "create" and not kind.startswith(ENGINE_OWN):
            counts[kind] = counts.get(kind, 0) + 1
    return counts


@dataclass(frozen=True)
class Preview:
    """One preview: wall seconds; the program's process: CPU seconds and peak MiB; the
    engine's and provider's CPU seconds; what it created, by type."""

    wall: float
    cpu: float
    mib: float
    engine_cpu: float
    created: dict[str, int]

    @property
    def resources(self) -> int:
        return sum(self.created.values())


def best(previews: Iterable[Preview]) -> Preview:
    """The fastest wall and CPU times of ``previews`` and their largest peak memory."""
    runs = list(previews)
    return Preview(
        min(p.wall for p in runs),
        min(p.cpu for p in runs),
        max(p.mib for p in runs),
        min(p.engine_cpu for p in runs),
        runs[0].created,
    )


def _env(local: Path, tasks: int | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in (EMULATOR_VARIABLE, PROGRAM_VARIABLE, "BENCH_TASKS")}
    env.update({LOCAL_VARIABLE: str(local), STATE_VARIABLE: str(local / "standin" / "gcp.json")})
    if tasks is not None:
        env["BENCH_TASKS"] = str(tasks)
    return env


def preview(local: Path, env: Mapping[str, str], program: Sequence[str] = (), extra: Sequence[str] = ()) -> Preview:
    """``./dev pulumi preview --stack dev --json EXTRA`` on the local folder ``local``, measured."""
    local.mkdir(parents=True, exist_ok=True)
    output = local / "preview.json"
    run = measure([*ENGINE_RUN, str(output), *program, "--", *PREVIEW, *extra], dict(env))
    report = json.loads(run.stdout.splitlines()[-1])
    return Preview(
        run.wall, report["cpu"], report["mib"], report["engine_cpu"], created(json.loads(output.read_text()))
    )


def _load() -> str:
    return f"{os.getloadavg()[0]:.1f}"


HEADER = (
    f"{'tasks':>6} {'resources':>9} {'run':<8} {'program s':>9} {'floor s':>8} {'wall x':>7} "
    f"{'CPU s':>7} {'floor CPU':>9} {'CPU x':>6} {'MiB':>6} {'floor MiB':>9} {'MiB x':>6} "
    f"{'engine CPU':>10} {'floor eng.':>10} {'load':>5}"
)


def _row(size: int, run: str, program: Preview, floor: Preview) -> str:
    return (
        f"{size:>6} {program.resources:>9} {run:<8} {program.wall:>9.2f} {floor.wall:>8.2f} "
        f"{program.wall / floor.wall:>6.2f}x {program.cpu:>7.2f} {floor.cpu:>9.2f} {program.cpu / floor.cpu:>5.2f}x "
        f"{program.mib:>6.0f} {floor.mib:>9.0f} {program.mib / floor.mib:>5.2f}x "
        f"{program.engine_cpu:>10.2f} {floor.engine_cpu:>10.2f} {_load():>5}"
    )


def generated_rows(sizes: Sequence[int], repeat: int, scratch: Path) -> dict[str, dict[int, float]]:
    """The program against both floors at each size; prints a row per pair as it goes and
    returns each run's best wall time by size."""
    walls: dict[str, dict[int, float]] = {"engine": {}, "engine floor": {}}
    config = pulumi_config_flags(PLAN_ARGUMENTS)
    print(HEADER)
    for size in sizes:
        local = scratch / f"generated-{size}"
        env = _env(local, size)
        plan_file = scratch / f"plan-{size}.json"
        plan_file.write_text(measure(PLAN, env).stdout)  # the floors' input; not timed
        planned = len(json.loads(plan_file.read_text())["resources"])
        # The local stack, the stand-in's install and a first preview (of one task: the
        # first preview on a folder is seconds slower), before anything is timed.
        preview(local, {**env, "BENCH_TASKS": "1"}, (), config)
        floor = ["--program", str(FLOOR_PROGRAM), "--program-arg", str(plan_file)]
        programs = {
            "engine": [],
            "engine floor": floor,
            "engine* floor": [*floor, "--program-arg", "tuned"],
        }
        runs: dict[str, list[Preview]] = {name: [] for name in programs}
        for _ in range(repeat):
            for name, program in programs.items():
                result = preview(local, env, program, config)
                if result.resources != planned:
                    raise SystemExit(f"{name} previewed {result.resources} resources, the offline plan has {planned}")
                runs[name].append(result)
        chosen = {name: best(previews) for name, previews in runs.items()}
        for name, by_size in walls.items():
            by_size[size] = chosen[name].wall
        print(_row(size, "engine", chosen["engine"], chosen["engine floor"]), flush=True)
        print(_row(size, "engine*", chosen["engine"], chosen["engine* floor"]), flush=True)
    return walls


def registry_rows(repeat: int, scratch: Path) -> None:
    """The committed registry on the dev stack: cold (an empty local folder) and warm."""
    local = scratch / "registry"
    env = _env(local)
    cold = preview(local, env)
    load = _load()
    warm = best(preview(local, env) for _ in range(repeat))
    tasks = cold.created.get(TASK_COMPONENT, 0)
    print(
        f"registry (dev stack): {tasks} tasks, {cold.resources} resources: cold {cold.wall:.2f} s "
        f"(program's process {cold.cpu:.2f} s CPU, {cold.mib:.0f} MiB; load {load}), warm {warm.wall:.2f} s "
        f"({warm.cpu:.2f} s CPU, {warm.mib:.0f} MiB; load {_load()})",
        flush=True,
    )


def growth(walls: Mapping[int, float]) -> list[tuple[int, int, float]]:
    """(smaller size, larger size, ratio of their wall times) for each pair of neighbouring sizes."""
    return [(small, large, walls[large] / walls[small]) for small, large in itertools.pairwise(sorted(walls))]


def main(sizes: Sequence[int], repeat: int) -> None:
    """The engine rows for ``sizes``, then the registry's; see the module's docstring."""
    with tempfile.TemporaryDirectory(prefix="gyrinx-bench-") as scratch:
        walls = generated_rows(sizes, repeat, Path(scratch))
        for run, by_size in walls.items():
            for small, large, ratio in growth(by_size):
                print(f"growth ({run}): {large:,} tasks cost {ratio:.1f}x {small:,} tasks")
        registry_rows(repeat, Path(scratch))
