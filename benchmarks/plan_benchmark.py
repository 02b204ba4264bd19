"""Time the program against the Pulumi SDK's floor, offline and as the language host runs it.

For registries of generated tasks (one in ten scheduled; ``generated_registry.py``), runs
five whole processes, ``--repeat`` times, interleaved:

- offline: ``python -m tools plan --stack dev --json`` (``tools/runner.py``: the
  collector paused, ``__main__.py`` exec'd, the recording monitor);
- offline floor: ``benchmarks/floor.py``, the same resources as raw resources under the
  offline runner's settings;
- host: ``python -m benchmarks.host`` (``host.py``: a replica of the language host's
  exec shim, default ``gc``, ``runpy``, ``run_in_stack``, Pulumi's plain mock monitor);
- host floor: ``benchmarks/floor_program.py`` run by the same replica, at module level
  under the default collector (the issue's floor);
- tuned host floor (row ``host*``): the same, given what the program gives itself (its
  collector setting and async entrypoint), so the ratio is only what the program's
  structure and typed resources cost.

and prints, for each pair, the best wall and CPU time, the largest peak RSS, their
ratios, and how each grows from the smallest size to the next.

    ./dev bench [--sizes 100 1000 10000] [--repeat 3]
    ./dev bench --engine [--sizes 100 1000] [--repeat 3]   # the real engine's rows instead (engine_benchmark.py)
"""

from __future__ import annotations

import argparse
import itertools
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from benchmarks.generated_registry import PLAN_ARGUMENTS

ROOT = Path(__file__).resolve().parent.parent
PLAN = [sys.executable, "-m", "tools", *PLAN_ARGUMENTS]
HOST = [sys.executable, "-m", "benchmarks.host", *PLAN_ARGUMENTS[1:3], *PLAN_ARGUMENTS[4:]]
HOST_FLOOR = [sys.executable, "-m", "benchmarks.host", "benchmarks/floor_program.py"]
OFFLINE_FLOOR = [sys.executable, "benchmarks/floor.py"]


@dataclass(frozen=True)
class Run:
    """One process: wall seconds, CPU seconds (user + system), peak RSS in MiB, its output."""

    wall: float
    cpu: float
    mib: float
    stdout: str


def measure(command: list[str], env: dict[str, str]) -> Run:
    """Run ``command`` once and measure it. Its stderr is shown only if it fails: the
    SDK's mock monitor leaves worker threads' event loops for interpreter shutdown, where
    Python may print "Exception ignored in BaseEventLoop.__del__" for a run that went fine."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        start = time.perf_counter()
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=err)
        _, status, usage = os.wait4(process.pid, 0)
        elapsed = time.perf_counter() - start
        if os.waitstatus_to_exitcode(status) != 0:
            err.seek(0)
            sys.stderr.write(err.read())
            raise SystemExit(f"{' '.join(command)} exited {os.waitstatus_to_exitcode(status)}")
        out.seek(0)
        # ru_maxrss is KiB on Linux.
        return Run(elapsed, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, out.read())


@dataclass(frozen=True)
class Best:
    """The fastest wall and CPU time of a command's runs, and its largest peak memory."""

    wall: float
    cpu: float
    mib: float


def best_of(commands: dict[str, list[str]], env: dict[str, str], repeat: int) -> dict[str, Best]:
    """Run every command ``repeat`` times, interleaved (a, b, c, a, b, c, ...) so a slow
    spell on a shared machine hits them alike; the best of each."""
    runs: dict[str, list[Run]] = {name: [] for name in commands}
    for _ in range(repeat):
        for name, command in commands.items():
            runs[name].append(measure(command, env))
    return {
        name: Best(min(r.wall for r in rs), min(r.cpu for r in rs), max(r.mib for r in rs)) for name, rs in runs.items()
    }


def _declared(stdout: str) -> int:
    # host.py prints "N resources"
    return int(stdout.split(maxsplit=1)[0])


def main() -> None:
    """Command line: see the module's docstring."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 1000])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--engine", action="store_true", help="the real engine's previews instead (minutes; engine_benchmark.py)"
    )
    args = parser.parse_args()
    if args.engine:
        from benchmarks import engine_benchmark  # it imports this module

        engine_benchmark.main(args.sizes, args.repeat)
        return

    walls: dict[str, dict[int, float]] = {"offline": {}, "host": {}, "host*": {}}
    print(
        f"{'tasks':>6} {'resources':>9} {'run':<8} {'program s':>9} {'floor s':>8} {'wall x':>7} "
        f"{'CPU s':>7} {'floor CPU':>9} {'CPU x':>6} {'MiB':>6} {'floor MiB':>9} {'MiB x':>6}"
    )
    with tempfile.TemporaryDirectory() as scratch:
        for size in args.sizes:
            env = {**os.environ, "BENCH_TASKS": str(size)}
            plan_file = Path(scratch, f"plan-{size}.json")
            plan_file.write_text(measure(PLAN, env).stdout)  # the floors' input; not timed
            resources = plan_file.read_text().count('"type": ')
            for command in (HOST, [*HOST_FLOOR, str(plan_file)], [*HOST_FLOOR, str(plan_file), "tuned"]):
                if _declared(measure(command, env).stdout) != resources:
                    raise SystemExit(f"{' '.join(command)} declares other resources than the plan's {resources}")
            best = best_of(
                {
                    "offline": PLAN,
                    "offline floor": [*OFFLINE_FLOOR, str(plan_file)],
                    "host": HOST,
                    "host floor": [*HOST_FLOOR, str(plan_file)],
                    "host* floor": [*HOST_FLOOR, str(plan_file), "tuned"],
                },
                env,
                args.repeat,
            )
            best["host*"] = best["host"]
            for run in ("offline", "host", "host*"):
                program, floor = best[run], best[f"{run} floor"]
                walls[run][size] = program.wall
                print(
                    f"{size:>6} {resources:>9} {run:<8} {program.wall:>9.2f} {floor.wall:>8.2f} "
                    f"{program.wall / floor.wall:>6.2f}x {program.cpu:>7.2f} {floor.cpu:>9.2f} "
                    f"{program.cpu / floor.cpu:>5.2f}x {program.mib:>6.0f} {floor.mib:>9.0f} "
                    f"{program.mib / floor.mib:>5.2f}x",
                    flush=True,
                )
    sizes = sorted(args.sizes)
    for run, by_size in walls.items():
        for small, large in itertools.pairwise(sizes):
            print(f"growth ({run}): {large:,} tasks cost {by_size[large] / by_size[small]:.1f}x {small:,} tasks")


if __name__ == "__main__":
    main()
