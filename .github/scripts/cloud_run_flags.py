"""The ``gcloud run services update`` arguments that give a Cloud Run service a stack's flags.

A stack's ``flags`` (kill switches) pause its scheduler jobs, and the app reads the same
names from its environment for on-demand runs. After ``pulumi up``, deploy-stack.yml runs::

    ./dev py .github/scripts/cloud_run_flags.py --before before.json --after after.json --service service.json

with ``pulumi stack output --json`` from before and after the update and
``gcloud run services describe SERVICE --format=json``, and passes what this prints, one
argument a line, to ``gcloud run services update SERVICE``:

- ``--update-env-vars=NAME=True,...`` for each flag the service does not already carry
  with that value;
- ``--remove-env-vars=NAME,...`` for each flag the stack had before this update but no
  longer sets, which the service still carries (a removed flag means "run", as unset does).

Nothing is printed when the service already matches, so a deploy that changes no flag
creates no new revision. Values are written ``True``/``False``, the spelling the app's
settings compare boolean variables with (gyrinx-app/gyrinx ``gyrinx/settings.py``:
``os.getenv("ACCOUNT_ALLOW_SIGNUPS", "True") == "True"``).

Shapes read: ``pulumi stack output --json`` prints one JSON object of every output
(pulumi/pulumi ``pkg/cmd/pulumi/stack/stack_output.go``, ``jsonStackOutputWriter.WriteMany``;
``{}`` for a stack never updated); the program exports ``flags`` as an object of booleans
(``__main__.py``). ``gcloud run services describe --format=json`` prints the Knative
``Service`` (google-cloud-sdk ``surface/run/services/describe.py`` returns the
``service.Service`` whose ``MakeSerializable`` is the API message): env vars are
``spec.template.spec.containers[].env[]`` with ``name`` and ``value`` (or ``valueFrom``).
Like gcloud, the container changed is the only one, else the one with ``ports``, the
ingress container (``api_lib/run/container_resource.py``, ``ContainerResource.container``).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

EXIT_INVALID = 2


class FlagsError(Exception):
    """An input file that is missing or not in the shape described above."""


@dataclass(frozen=True)
class EnvChange:
    """What ``gcloud run services update`` must change: variables to set and to remove."""

    updates: Mapping[str, str]
    removals: tuple[str, ...]

    def arguments(self) -> list[str]:
        """The gcloud arguments, empty when nothing changes (gcloud accepts both flags together:
        ``command_lib/run/flags.py``, ``_GetEnvChanges``)."""
        arguments = []
        if self.updates:
            pairs = ",".join(f"{name}={value}" for name, value in sorted(self.updates.items()))
            arguments.append(f"--update-env-vars={pairs}")
        if self.removals:
            arguments.append(f"--remove-env-vars={','.join(self.removals)}")
        return arguments


def env_value(flag: bool) -> str:
    """A flag as the app reads it from its environment."""
    return "True" if flag else "False"


def stack_flags(outputs: Any, source: str, *, required: bool) -> dict[str, bool]:
    """The ``flags`` output of a ``pulumi stack output --json`` document."""
    if not isinstance(outputs, dict):
        raise FlagsError(f"{source}: expected the JSON object `pulumi stack output --json` prints")
    if "flags" not in outputs:
        if required:
            raise FlagsError(f"{source}: the stack has no `flags` output (is __main__.py exporting it?)")
        return {}
    flags = outputs["flags"]
    if not isinstance(flags, dict) or not all(isinstance(value, bool) for value in flags.values()):
        raise FlagsError(f"{source}: the `flags` output must map each flag name to true or false")
    return {str(name): value for name, value in flags.items()}


def service_env(service: Any, source: str) -> dict[str, str | None]:
    """The ingress container's environment: each variable's literal value (``None`` for one
    taken from a secret)."""
    try:
        containers = service["spec"]["template"]["spec"]["containers"]
    except (KeyError, TypeError):
        raise FlagsError(f"{source}: no spec.template.spec.containers: not a Cloud Run service") from None
    if not isinstance(containers, list) or not containers:
        raise FlagsError(f"{source}: the service has no containers")
    if len(containers) == 1:
        container = containers[0]
    else:
        container = next((c for c in containers if c.get("ports")), None)
        if container is None:
            raise FlagsError(f"{source}: several containers and none with ports (the ingress container)")
    return {str(var["name"]): var.get("value") for var in container.get("env") or []}


def env_change(before: Mapping[str, bool], after: Mapping[str, bool], env: Mapping[str, str | None]) -> EnvChange:
    """What to change so that the service's environment carries ``after``."""
    updates = {name: env_value(flag) for name, flag in after.items() if env.get(name) != env_value(flag)}
    removals = tuple(sorted(name for name in before if name not in after and name in env))
    return EnvChange(updates, removals)


def read_json(path: Path) -> Any:
    """A JSON input file."""
    try:
        return json.loads(path.read_text())
    except OSError as exc:
        raise FlagsError(f"{path}: {exc.strerror}") from None
    except ValueError as exc:
        raise FlagsError(f"{path}: not JSON ({exc})") from None


def main(argv: Sequence[str] | None = None) -> int:
    """Print the gcloud arguments, one a line; exit 2 with one line on stderr for a bad input."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", type=Path, required=True, help="`pulumi stack output --json` before the update")
    parser.add_argument("--after", type=Path, required=True, help="`pulumi stack output --json` after the update")
    parser.add_argument("--service", type=Path, required=True, help="`gcloud run services describe --format=json`")
    args = parser.parse_args(argv)
    try:
        before = stack_flags(read_json(args.before), str(args.before), required=False)
        after = stack_flags(read_json(args.after), str(args.after), required=True)
        env = service_env(read_json(args.service), str(args.service))
    except FlagsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_INVALID
    for argument in env_change(before, after, env).arguments():
        print(argument)
    return 0


if __name__ == "__main__":
    sys.exit(main())
