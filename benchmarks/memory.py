"""Where the memory goes per resource: tracemalloc by file (or line), program vs floor.

    ./dev py -m benchmarks.memory [--tasks 300] [--by lineno] [--top 15] [--engine]

Runs the program on a generated registry, then the floor (``floor_program.py``, the
same resources as raw resources), each as the language host runs it (``host.py``), with
tracemalloc on. Each snapshot is taken when the SDK has finished waiting for the
registrations, with every resource, output and registration still alive, which is about
when the process peaks. Prints, per file (or line), the bytes alive per registered
resource in each run and the difference. tracemalloc slows the run several times over
and counts Python allocations only, so compare rows, not totals with ``ps``.

``--engine`` runs both under the real engine instead: ``./dev pulumi preview`` of a fresh
``dev`` stack on a scratch local backend (``engine_run.py``), whose process serves the
program, so the snapshot is taken in it just the same.
"""

from __future__ import annotations

import argparse
import io
import os
import tempfile
import tracemalloc
from collections.abc import Awaitable, Callable, Sequence
from contextlib import redirect_stdout
from pathlib import Path
from typing import Any

from pulumi.runtime import stack as runtime_stack

TRIM = (str(Path(runtime_stack.__file__).parent.parent.parent), str(Path(__file__).resolve().parent.parent))


def _where(frame: tracemalloc.Frame, by: str) -> str:
    name = frame.filename
    for prefix in TRIM:
        name = name.removeprefix(prefix + "/")
    return f"{name}:{frame.lineno}" if by == "lineno" else name


def measure(run: Callable[[], int], by: str) -> tuple[dict[str, int], int]:
    """Bytes alive per file (or line) once the SDK is done waiting, and the resource count."""
    snapshots: list[tracemalloc.Snapshot] = []
    wait: Callable[..., Awaitable[Any]] = runtime_stack.wait_for_rpcs

    async def wait_then_snapshot(*args: Any, **kwargs: Any) -> Any:
        result = await wait(*args, **kwargs)
        snapshots.append(tracemalloc.take_snapshot())
        return result

    runtime_stack.wait_for_rpcs = wait_then_snapshot  # looked up at call time
    tracemalloc.start()
    try:
        resources = run()
    finally:
        tracemalloc.stop()
        runtime_stack.wait_for_rpcs = wait  # type: ignore[assignment]
    sizes: dict[str, int] = {}
    for stat in snapshots[-1].statistics("traceback" if by == "traceback" else "lineno"):
        key = _where(stat.traceback[0], by)
        sizes[key] = sizes.get(key, 0) + stat.size
    return sizes, resources


def _engine_preview(scratch: Path, program: Sequence[str]) -> int:
    """``./dev pulumi preview`` of the generated registry in this process (``engine_run.py``)
    on a local backend under ``scratch``; the number of resources it creates."""
    import json

    from benchmarks import engine_benchmark, engine_run
    from benchmarks.generated_registry import PLAN_ARGUMENTS
    from tools.pulumi_cli import LOCAL_VARIABLE
    from tools.standin.gcp_provider import STATE_VARIABLE

    os.environ.update({LOCAL_VARIABLE: str(scratch / "local"), STATE_VARIABLE: str(scratch / "gcp.json")})
    output = scratch / "preview.json"
    flags = engine_benchmark.pulumi_config_flags(PLAN_ARGUMENTS)
    with redirect_stdout(io.StringIO()):
        code = engine_run.main([str(output), *program, "--", *engine_benchmark.PREVIEW, *flags])
    if code != 0:
        raise SystemExit(f"pulumi preview exited {code}")
    return sum(engine_benchmark.created(json.loads(output.read_text())).values())


def main() -> None:
    """Command line: see the module's docstring."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", type=int, default=300)
    parser.add_argument("--by", choices=["filename", "lineno"], default="filename")
    parser.add_argument("--top", type=int, default=15)
    parser.add_argument("--engine", action="store_true", help="under the real engine's preview (./dev pulumi)")
    args = parser.parse_args()
    os.environ["BENCH_TASKS"] = str(args.tasks)
    from benchmarks import floor, host
    from benchmarks.generated_registry import PLAN_ARGUMENTS
    from tools.cli import main as cli

    out = io.StringIO()
    with redirect_stdout(out):
        cli(PLAN_ARGUMENTS)  # the floor's input; also imports everything before measuring
    overrides = PLAN_ARGUMENTS[4:][1::2]
    with tempfile.TemporaryDirectory() as scratch:
        plan_file = Path(scratch, "plan.json")
        plan_file.write_text(out.getvalue())
        if args.engine:
            floor_args = ["--program", str(floor.FLOOR_PROGRAM), "--program-arg", str(plan_file)]
            program, count = measure(lambda: _engine_preview(Path(scratch), []), args.by)
            base, floor_count = measure(lambda: _engine_preview(Path(scratch), floor_args), args.by)
        else:
            program, count = measure(lambda: len(host.run("dev", overrides).resources), args.by)
            base, floor_count = measure(
                lambda: len(host.run("dev", (), floor.FLOOR_PROGRAM, [str(plan_file)]).resources), args.by
            )
    assert count == floor_count, (count, floor_count)
    print(f"{count} resources; bytes alive per resource when the SDK is done waiting")
    print(f"{'where':<64} {'program':>8} {'floor':>8} {'extra':>8}")
    keys = sorted(set(program) | set(base), key=lambda k: -(program.get(k, 0) - base.get(k, 0)))
    for key in keys[: args.top]:
        p, b = program.get(key, 0) / count, base.get(key, 0) / count
        print(f"{key[-64:]:<64} {p:>8.0f} {b:>8.0f} {p - b:>+8.0f}")
    total, floor_total = sum(program.values()) / count, sum(base.values()) / count
    print(f"{'total':<64} {total:>8.0f} {floor_total:>8.0f} {total - floor_total:>+8.0f}")


if __name__ == "__main__":
    main()
