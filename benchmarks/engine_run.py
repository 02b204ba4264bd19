"""One ``./dev pulumi`` run, measured from the inside: the process that runs the program.

``./dev pulumi preview`` serves the program from its own Python process, as the
Automation API serves an inline program (``tools/pulumi_cli.py``, ``serving_program``),
and starts the Go CLI, which starts the stand-in provider. So the program's process is
this one: its peak memory and CPU time are this process's own (``RUSAGE_SELF``), the
engine's and the provider's are its children's (``RUSAGE_CHILDREN``).

    python -m benchmarks.engine_run OUTPUT [--program FILE [--program-arg ARG ...]] -- PULUMI ARGS...

The CLI's stdout goes to OUTPUT; one JSON line on stdout says what was measured.
``--program`` runs another program than ``__main__.py`` (``GYRINX_PULUMI_PROGRAM``),
with ``sys.argv`` set to ``[FILE, *ARGS]`` as the language host sets it.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
from collections.abc import Sequence
from pathlib import Path

from tools import pulumi_cli


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: see the module's docstring. Returns the CLI's exit code."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("output", type=Path)
    parser.add_argument("--program", type=Path)
    parser.add_argument("--program-arg", action="append", default=[])
    argv = list(sys.argv[1:] if argv is None else argv)
    split = argv.index("--") if "--" in argv else len(argv)
    options = parser.parse_args(argv[:split])
    args = argv[split + 1 :]
    if options.program:
        os.environ[pulumi_cli.PROGRAM_VARIABLE] = str(options.program.resolve())
        sys.argv = [str(options.program.resolve()), *options.program_arg]
    with options.output.open("w") as out:
        code = pulumi_cli.run(args, stdout=out)
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    # ru_maxrss is KiB on Linux.
    print(
        json.dumps(
            {
                "exit": code,
                "cpu": own.ru_utime + own.ru_stime,
                "mib": own.ru_maxrss / 1024,
                "engine_cpu": children.ru_utime + children.ru_stime,
            }
        )
    )
    return code


if __name__ == "__main__":
    sys.exit(main())
