"""Run a Pulumi program the way the Python language host runs it, under the project's mocks.

A replica of pulumi/pulumi ``sdk/python/cmd/pulumi-language-python-exec`` (the script
``pulumi up`` starts for a Python program), with the engine replaced by mocks:

1. the config is handed over with ``pulumi.runtime.set_all_config(config, secret_keys)``
   (here: the stack file merged as the CLI merges it, ``tools.stack_config.merged_config``);
2. ``pulumi.runtime.configure`` sets up the runtime; here with what
   ``pulumi.runtime.set_mocks`` configures (the project's ``GoogleMocks`` behind a mock
   monitor) instead of the engine's address. ``set_mocks`` itself is not called: it
   also registers a root stack, and ``run_in_stack`` refuses to make a second one;
3. ``sys.argv`` becomes ``[PROGRAM, *ARGS]``;
4. a new event loop is made the thread's loop, with a default ``ThreadPoolExecutor``;
5. ``loop.run_until_complete(pulumi.runtime.run_in_stack(lambda: runpy.run_path(PROGRAM,
   run_name="__main__")))``, then the loop is closed.

Nothing there touches ``gc``: the program runs with Python's default collector, and at
the call depth ``run_path`` gives it inside the event loop. That is what makes this
differ from the offline runner (``tools/runner.py``), which pauses the collector and
``exec``s ``__main__.py`` near the top of the stack.

The monitor is Pulumi's plain ``MockMonitor`` unless ``recording`` is asked for: under
``pulumi up`` the engine receives the registrations in another process, so keeping a
copy of each (what ``tools.mocks.RecordingMonitor`` adds) is work a real run never does
in the program's process. Tests ask for the recording monitor to compare what was declared.

    python -m benchmarks.host [--stack dev] [--config KEY=VALUE ...] [PROGRAM [ARGS ...]]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import runpy
import sys
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pulumi
from pulumi.runtime import mocks as pulumi_mocks

from tools import stack_config
from tools.mocks import GoogleMocks, RecordingMonitor, configure_mocks

ROOT = Path(__file__).resolve().parent.parent
PROGRAM = ROOT / "__main__.py"


def run(
    stack: str,
    overrides: Sequence[str] = (),
    program: Path = PROGRAM,
    args: Sequence[str] = (),
    *,
    recording: bool = False,
) -> pulumi_mocks.MockMonitor:
    """Run ``program`` for ``stack`` as the language host would, and return the monitor.

    Raises whatever the program raises (the host would log it and exit 1).
    """
    config = stack_config.merged_config(stack, overrides)
    config.hand_over()
    mocks = GoogleMocks(config.values.get("gcp:project", "project"), config.values.get("gcp:region", "region"))
    monitor = RecordingMonitor(mocks) if recording else pulumi_mocks.MockMonitor(mocks)
    configure_mocks(monitor, stack)

    sys.argv = [str(program), *args]
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    loop.set_default_executor(ThreadPoolExecutor())
    # The shim silences asyncio's logger too (futures a failed program leaves behind).
    logging.getLogger("asyncio").setLevel(logging.CRITICAL)

    def run_program() -> None:  # the shim's lambda; run_path's globals are dropped there too
        runpy.run_path(str(program), run_name="__main__")

    try:
        loop.run_until_complete(pulumi.runtime.run_in_stack(run_program))
    finally:
        loop.close()
    return monitor


def main(argv: Sequence[str] | None = None) -> None:
    """Command line: run the program (default ``__main__.py``) and print how many resources it registered."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stack", default="dev")
    parser.add_argument("--config", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("program", nargs="?", type=Path, default=PROGRAM)
    parser.add_argument("args", nargs="*")
    options = parser.parse_args(argv)
    monitor = run(options.stack, options.config, options.program, options.args)
    print(len(monitor.resources), "resources")


if __name__ == "__main__":
    main()
