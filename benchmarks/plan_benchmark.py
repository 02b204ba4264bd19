"""Time the offline plan against the Pulumi SDK's floor, as whole processes.

For registries of 10, 100 and 1,000 generated tasks (one in ten scheduled), runs

- the plan: ``python -m infra plan --stack dev --json`` on the generated registry, and
- the floor: ``benchmarks/floor.py``, registering the same resources with the same
  inputs as raw resources under the same mocks,

each ``--repeat`` times, and prints the best wall time of each, their ratio, the peak
memory (max RSS) of each, and how the plan's time grows from 100 to 1,000 tasks.

    ./dev py benchmarks/plan_benchmark.py [--sizes 10 100 1000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PLAN = [sys.executable, "-m", "infra", "plan", "--stack", "dev", "--json",
        "--config", "registry=benchmarks.generated_registry:routes"]


def measure(command: list[str], env: dict[str, str], stdout) -> tuple[float, float]:
    """Wall seconds and peak RSS (MiB) of one run of ``command``."""
    start = time.perf_counter()
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=stdout)
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - start
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise SystemExit(f"{' '.join(command)} exited {process.returncode}")
    return elapsed, usage.ru_maxrss / 1024  # ru_maxrss is KiB on Linux


def best(command: list[str], env: dict[str, str], repeat: int) -> tuple[float, float]:
    """The fastest of ``repeat`` runs, with the largest peak memory seen."""
    runs = []
    for _ in range(repeat):
        with open(os.devnull, "w") as sink:
            runs.append(measure(command, env, sink))
    return min(r[0] for r in runs), max(r[1] for r in runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 100, 1000])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    rows = {}
    print(f"{'tasks':>6} {'resources':>9} {'plan s':>8} {'floor s':>8} {'ratio':>6} {'plan MiB':>9} {'floor MiB':>9}")
    with tempfile.TemporaryDirectory() as scratch:
        for size in args.sizes:
            env = {**os.environ, "BENCH_TASKS": str(size)}
            plan_file = Path(scratch, f"plan-{size}.json")
            with plan_file.open("w") as out:  # the floor's input; not timed
                subprocess.run(PLAN, cwd=ROOT, env=env, stdout=out, check=True)
            resources = plan_file.read_text().count('"type": ')
            plan_s, plan_mb = best(PLAN, env, args.repeat)
            floor_s, floor_mb = best([sys.executable, "benchmarks/floor.py", str(plan_file)], env, args.repeat)
            rows[size] = plan_s
            print(f"{size:>6} {resources:>9} {plan_s:>8.2f} {floor_s:>8.2f} {plan_s / floor_s:>5.2f}x "
                  f"{plan_mb:>9.0f} {floor_mb:>9.0f}", flush=True)
    if 100 in rows and 1000 in rows:
        print(f"growth: 1,000 tasks cost {rows[1000] / rows[100]:.1f}x 100 tasks (linear is 10x)")


if __name__ == "__main__":
    main()
