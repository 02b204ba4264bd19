"""Time the offline plan against the Pulumi SDK's floor, as whole processes.

For registries of 10, 100 and 1,000 generated tasks (one in ten scheduled), runs

- the plan: ``python -m tools plan --stack dev --json`` on the generated registry;
- the flat script: ``benchmarks/flat.py``, the same typed resources with real output
  references, declared in one loop with no structure (no components);
- the floor: ``benchmarks/floor.py``, registering the same resources with the same
  inputs as raw resources under the same mocks;

each ``--repeat`` times, interleaved, and prints the best wall time of each, the plan's
ratios to the floor and to the flat script, the plan's CPU-time ratio to the floor,
peak memory (max RSS), and how the plan's wall time grows from 100 to 1,000 tasks.

    ./dev bench [--sizes 10 100 1000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.generated_registry import PLAN_ARGUMENTS

ROOT = Path(__file__).resolve().parent.parent
PLAN = [sys.executable, "-m", "tools", *PLAN_ARGUMENTS]


def measure(command: list[str], env: dict[str, str]) -> tuple[float, float, float]:
    """Wall seconds, CPU seconds and peak RSS (MiB) of one run of ``command``."""
    start = time.perf_counter()
    with open(os.devnull, "w") as sink:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=sink)
        _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(command)} exited {os.waitstatus_to_exitcode(status)}")
    return elapsed, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024  # ru_maxrss is KiB on Linux


def best_of(commands: dict[str, list[str]], env: dict[str, str], repeat: int) -> dict[str, tuple[float, float, float]]:
    """Per command: the fastest wall and CPU time of ``repeat`` runs, and the largest peak
    memory. Runs are interleaved (plan, floor, plan, ...) so a slow spell on a shared
    machine hits both alike."""
    runs: dict[str, list[tuple[float, float, float]]] = {name: [] for name in commands}
    for _ in range(repeat):
        for name, command in commands.items():
            runs[name].append(measure(command, env))
    return {name: (min(r[0] for r in rs), min(r[1] for r in rs), max(r[2] for r in rs)) for name, rs in runs.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 100, 1000])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    rows = {}
    print(
        f"{'tasks':>6} {'resources':>9} {'plan s':>7} {'flat s':>7} {'floor s':>7} {'plan/floor':>10} "
        f"{'plan/flat':>9} {'plan cpu/floor':>14} {'plan MiB':>8} {'floor MiB':>9}"
    )
    flat = [sys.executable, "benchmarks/flat.py"]
    with tempfile.TemporaryDirectory() as scratch:
        for size in args.sizes:
            env = {**os.environ, "BENCH_TASKS": str(size)}
            plan_file = Path(scratch, f"plan-{size}.json")
            with plan_file.open("w") as out:  # the floor's input; not timed
                subprocess.run(PLAN, cwd=ROOT, env=env, stdout=out, check=True)
            resources = plan_file.read_text().count('"type": ')
            components = plan_file.read_text().count('"type": "gyrinx-tasks:index:')
            flat_count = subprocess.run(flat, cwd=ROOT, env=env, capture_output=True, text=True, check=True).stdout
            if int(flat_count.split()[0]) != resources - components:
                raise SystemExit(f"flat.py declares {flat_count.strip()}, the plan {resources - components}")
            result = best_of(
                {"plan": PLAN, "flat": flat, "floor": [sys.executable, "benchmarks/floor.py", str(plan_file)]},
                env,
                args.repeat,
            )
            (plan_s, plan_cpu, plan_mb), (flat_s, _, _) = result["plan"], result["flat"]
            floor_s, floor_cpu, floor_mb = result["floor"]
            rows[size] = plan_s
            print(
                f"{size:>6} {resources:>9} {plan_s:>7.2f} {flat_s:>7.2f} {floor_s:>7.2f} {plan_s / floor_s:>9.2f}x "
                f"{plan_s / flat_s:>8.2f}x {plan_cpu / floor_cpu:>13.2f}x {plan_mb:>8.0f} {floor_mb:>9.0f}",
                flush=True,
            )
    if 100 in rows and 1000 in rows:
        print(f"growth: 1,000 tasks cost {rows[1000] / rows[100]:.1f}x 100 tasks (linear is 10x)")


if __name__ == "__main__":
    main()
