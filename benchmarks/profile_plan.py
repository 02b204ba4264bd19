"""Where the program's time goes, next to the floor's: cProfile, grouped by area.

    ./dev py -m benchmarks.profile_plan [--tasks 1000] [--run host|offline]

Runs the program on a generated registry and the floor (the same resources registered
as raw resources) in this process under cProfile, as the language host runs them
(``host.py``, the default) or as the offline plan does, and prints each one's self time
per area of the SDK. cProfile inflates every call, so compare areas, not absolute seconds
(``plan_benchmark.py`` measures those).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import tempfile
from contextlib import redirect_stdout

# First match wins: (area, substring of "file:function").
AREAS = [
    (
        "stack traces (traceback, pathlib URIs)",
        (
            "traceback.py",
            "pathlib.py",
            "_get_stack_trace",
            "rpc_frame",
            "_get_source_position",
            "linecache",
            "urllib/parse.py",
        ),
    ),
    ("typed inputs (type hints, input types)", ("_types.py", "typing.py", "typing_extensions")),
    (
        "serialising inputs",
        (
            "rpc.py:serialize",
            "rpc.py:_expand",
            "rpc.py:transfer",
            "rpc.py:contains_unknowns",
            "rpc.py:impl",
            "rpc.py:<lambda>",
            "struct_pb2",
            "well_known_types",
        ),
    ),
    ("resolving outputs", ("rpc.py:resolve", "rpc.py:deserial", "rpc.py:translate")),
    ("Output objects", ("output.py",)),
    (
        "resource registration",
        ("runtime/resource.py", "pulumi/resource.py", "rpc_manager.py", "settings.py", "known_types.py", "_utils.py"),
    ),
    ("event loop and threads", ("asyncio/", "threading.py", "concurrent/", "_contextvars", "queue.py", "_asyncio")),
    ("mock monitor", ("tools/mocks.py", "runtime/mocks.py")),
    ("pulumi_gcp classes", ("pulumi_gcp/",)),
    ("this program (infra/, registry)", ("infra/", "gyrinx/", "__main__.py", "croniter")),
    ("JSON output", ("json/",)),
]


def _area(key: str) -> str:
    for area, needles in AREAS:
        if any(needle in key for needle in needles):
            return area
    return "other (builtins, imports)"


def breakdown(stats: pstats.Stats) -> dict[str, float]:
    """Self seconds per area."""
    totals: dict[str, float] = {}
    for (filename, _, function), (_, _, self_time, _, _) in stats.stats.items():  # type: ignore[attr-defined]
        area = _area(f"{filename}:{function}")
        totals[area] = totals.get(area, 0.0) + self_time
    return totals


def _profiles(run: str, tasks: int) -> tuple[cProfile.Profile, cProfile.Profile]:
    """cProfile of the program and of the floor, run the ``run`` way."""
    os.environ["BENCH_TASKS"] = str(tasks)
    from benchmarks import floor, host
    from benchmarks.generated_registry import PLAN_ARGUMENTS
    from tools.cli import main as cli

    out = io.StringIO()
    with redirect_stdout(out):
        cli(PLAN_ARGUMENTS)  # the floor's input; also warms imports for both runs
    program, base = cProfile.Profile(), cProfile.Profile()
    with tempfile.NamedTemporaryFile("w", suffix=".json") as plan_file:
        plan_file.write(out.getvalue())
        plan_file.flush()
        if run == "host":
            program.runcall(host.run, "dev", PLAN_ARGUMENTS[4:][1::2])
            base.runcall(host.run, "dev", (), floor.FLOOR_PROGRAM, [plan_file.name])
        else:
            with redirect_stdout(io.StringIO()):
                program.runcall(cli, PLAN_ARGUMENTS)
                base.runcall(floor.main, plan_file.name)
    return program, base


def main() -> None:
    """Command line: see the module's docstring."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", type=int, default=1000)
    parser.add_argument("--run", choices=["offline", "host"], default="host")
    args = parser.parse_args()
    program_profile, floor_profile = _profiles(args.run, args.tasks)
    plan, base = breakdown(pstats.Stats(program_profile)), breakdown(pstats.Stats(floor_profile))
    print(f"{'area':<42} {'program s':>9} {'floor s':>8} {'extra s':>8}")
    for area in sorted(set(plan) | set(base), key=lambda a: -(plan.get(a, 0) - base.get(a, 0))):
        p, b = plan.get(area, 0.0), base.get(area, 0.0)
        print(f"{area:<42} {p:>9.2f} {b:>8.2f} {p - b:>+8.2f}")
    total, floor_total = sum(plan.values()), sum(base.values())
    print(f"{'total':<42} {total:>9.2f} {floor_total:>8.2f} {total - floor_total:>+8.2f}")


if __name__ == "__main__":
    main()
