"""The Pulumi SDK's floor for a plan, under the offline runner.

Runs ``floor_program.py`` (every resource of the plan registered flat, as a raw
resource) through the offline runner exactly as it runs ``__main__.py``: the same mocks,
recording monitor, paused collector and ``run_in_stack``.

    python benchmarks/floor.py PLAN.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tools import stack_config  # noqa: E402 - after the project is on the path
from tools.runner import run_program  # noqa: E402

FLOOR_PROGRAM = ROOT / "benchmarks" / "floor_program.py"


def main(path: str) -> None:
    """Register every resource of the plan at ``path``, and print how many were registered."""
    sys.argv = [str(FLOOR_PROGRAM), path]  # the program's arguments, as the host passes them
    plan = run_program(FLOOR_PROGRAM, "dev", stack_config.merged_config("dev"))
    expected = len(json.loads(Path(path).read_text())["resources"])
    if len(plan.registrations) != expected:
        raise SystemExit(f"the floor registered {len(plan.registrations)} resources, the plan has {expected}")
    print(len(plan.registrations), "resources")


if __name__ == "__main__":
    main(sys.argv[1])
