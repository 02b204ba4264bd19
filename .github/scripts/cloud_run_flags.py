"""The ``gcloud run services update`` arguments that give a Cloud Run service a stack's flags.

A stack's ``flags`` (kill switches) pause its scheduler jobs, and the app reads the same
names from its environment for on-demand runs. After ``pulumi up``, deploy-stack.yml runs::

    ./dev py .github/scripts/cloud_run_flags.py --before before.json --after after.json --service service.json

with ``pulumi stack output --json`` from before and after the update and
``gcloud run services describe SERVICE --format=json``, and passes what this prints, one
argument a line, to ``gcloud run services update SERVICE``.

The deploy changes only the variables it manages, never the app's own settings (issue 15:
a flag named ``SECRET_KEY`` would otherwise overwrite Django's signing key). The names it
manages are recorded on the service itself, in the variable :data:`MANAGED` (their names,
space-separated), written in the same update as the flags, so one revision carries both:

- a flag the service does not define yet is set, and its name recorded;
- a flag the service defines and :data:`MANAGED` lists is updated when its value differs;
- a flag the service already defines outside :data:`MANAGED` (a plain value or one taken
  from a secret) is refused, exit 2, naming it: the deploy never touches it;
- a name :data:`MANAGED` lists that the stack no longer sets is removed from the service
  (a removed flag means "run", as unset does), and from the list.

A service deployed before :data:`MANAGED` existed has no list; then the flags the stack
set before this update (``--before``) that the service carries exactly as this script
writes them (a plain ``True`` or ``False``) count as managed: what the deploy wrote, it
may change. Nothing is printed when the service already matches, so a deploy that changes
no flag makes no new revision. Values are written ``True``/``False``, the spelling the
app's settings compare boolean variables with (gyrinx-app/gyrinx ``gyrinx/settings.py``:
``os.getenv("ACCOUNT_ALLOW_SIGNUPS", "True") == "True"``).

Why a variable rather than a service annotation or label: gcloud changes variables and
the flags in one ``--update-env-vars`` (``command_lib/run/flags.py``), so the record can
never disagree with the service's environment; a label value cannot hold upper-case
names ("Only valid Google Cloud labels", Cloud Run's labels page); and the Admin API v2
leaves annotations to "external tools" but forbids the run.googleapis.com namespaces.

Shapes read: ``pulumi stack output --json`` prints one JSON object of every output
(pulumi/pulumi ``pkg/cmd/pulumi/stack/stack_output.go``, ``jsonStackOutputWriter.WriteMany``;
``{}`` for a stack never updated); the program exports ``flags`` as an object of booleans
(``__main__.py``). ``gcloud run services describe --format=json`` prints the Cloud Run
Admin API v1 (Knative) ``Service`` (google-cloud-sdk ``surface/run/services/describe.py``):
variables are ``spec.template.spec.containers[].env[]``, each an ``EnvVar``: ``name``,
``value`` ("Defaults to \"\"", so an empty one may be absent) or ``valueFrom`` ("Only
supports secret_key_ref. Cannot be used if value is not empty"; Cloud Run Admin API v1
reference, EnvVar). Like gcloud, the container changed is the only one, else the one with
``ports``, the ingress container (``api_lib/run/container_resource.py``).

This runs as a script, outside the project's packages (``tools`` is not importable from
.github/scripts), so it reads its JSON with a guard of its own: a document nested too
deeply for Python's parser is one line and exit 2, like any other bad input.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

EXIT_INVALID = 2
# The variable on the service that lists the flags this deploy manages.
MANAGED = "GYRINX_TASKS_MANAGED_FLAGS"
# A flag name, as the program accepts one (infra/settings.py); never the list itself.
_FLAG = re.compile(r"[A-Z][A-Z0-9_]*")
# Inputs are small documents; a bigger one is not what the commands above print.
MAX_BYTES = 16 * 1024 * 1024


class FlagsError(Exception):
    """An input file that is missing or not in the shape described above, or a flag the
    deploy may not write; the message says which, in one line."""


@dataclass(frozen=True)
class Variable:
    """One variable of the service's ingress container: its literal value, or None when
    it is taken from a secret."""

    name: str
    value: str | None


@dataclass(frozen=True)
class EnvChange:
    """What ``gcloud run services update`` must change: variables to set and to remove."""

    updates: Mapping[str, str]
    removals: tuple[str, ...]

    def arguments(self) -> list[str]:
        """The gcloud arguments, empty when nothing changes (gcloud accepts both flags together:
        ``command_lib/run/flags.py``, ``_GetEnvChanges``). No value holds a comma, which
        ``--update-env-vars`` splits on."""
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
    for name in flags:
        if not _FLAG.fullmatch(name) or name == MANAGED:
            raise FlagsError(f"{source}: flag {name!r} is not a flag name (UPPER_SNAKE_CASE, not {MANAGED})")
    return dict(flags)


def service_env(service: Any, source: str) -> dict[str, Variable]:
    """The ingress container's environment by name."""
    try:
        containers = service["spec"]["template"]["spec"]["containers"]
    except (KeyError, TypeError):
        raise FlagsError(f"{source}: no spec.template.spec.containers: not a Cloud Run service") from None
    if not isinstance(containers, list) or not containers or not all(isinstance(c, dict) for c in containers):
        raise FlagsError(f"{source}: the service has no containers")
    if len(containers) == 1:
        container = containers[0]
    else:
        container = next((c for c in containers if c.get("ports")), None)
        if container is None:
            raise FlagsError(f"{source}: several containers and none with ports (the ingress container)")
    env = container.get("env") or []
    if not isinstance(env, list) or not all(isinstance(var, dict) and isinstance(var.get("name"), str) for var in env):
        raise FlagsError(f"{source}: the container's env is not a list of variables with names")
    variables = {}
    for var in env:
        secret = var.get("valueFrom") is not None
        value = var.get("value", "")
        if not secret and not isinstance(value, str):
            raise FlagsError(f"{source}: variable {var['name']} has a value that is not a string")
        variables[var["name"]] = Variable(var["name"], None if secret else value)
    return variables


def managed_names(env: Mapping[str, Variable], before: Mapping[str, bool], source: str) -> frozenset[str]:
    """The flags this deploy manages on the service: those :data:`MANAGED` lists, or, on
    a service that has no list yet, the earlier flags it carries as this script wrote them."""
    record = env.get(MANAGED)
    if record is None:
        return frozenset(
            name for name in before if (var := env.get(name)) is not None and var.value in ("True", "False")
        )
    if record.value is None:
        raise FlagsError(f"{source}: {MANAGED} is taken from a secret; it must be the plain list this deploy writes")
    names = record.value.split()
    bad = [name for name in names if not _FLAG.fullmatch(name) or name == MANAGED]
    if bad:
        raise FlagsError(f"{source}: {MANAGED} lists {', '.join(map(repr, bad))}, which are not flag names")
    return frozenset(names)


def env_change(
    before: Mapping[str, bool], after: Mapping[str, bool], env: Mapping[str, Variable], source: str = "the service"
) -> EnvChange:
    """What to change so that the service carries ``after``, touching only managed names.

    Raises :class:`FlagsError` naming every flag the service defines outside them."""
    managed = managed_names(env, before, source)
    foreign = sorted(name for name in after if name in env and name not in managed)
    taken = sorted(name for name in managed if (var := env.get(name)) is not None and var.value is None)
    problems = [
        f"{name} is already one of the service's own variables"
        f" ({'from a secret' if env[name].value is None else 'a plain value'})"
        for name in foreign
    ] + [f"{name} is now taken from a secret" for name in taken if name not in foreign]
    if problems:
        raise FlagsError(
            f"{source}: refusing to change the app's own settings: {'; '.join(problems)}. The deploy writes only "
            f"the flags it manages ({MANAGED}); rename the kill switch, or remove the variable from the service "
            "first if it is really the flag"
        )
    updates = {
        name: env_value(flag)
        for name, flag in after.items()
        if (var := env.get(name)) is None or var.value != env_value(flag)
    }
    removals = tuple(sorted(name for name in managed - set(after) if name in env))
    wanted = " ".join(sorted(after))
    record = env.get(MANAGED)
    if wanted and (record is None or record.value != wanted):
        updates[MANAGED] = wanted
    elif not wanted and record is not None:
        removals = tuple(sorted({*removals, MANAGED}))
    return EnvChange(updates, removals)


def read_json(path: Path) -> Any:
    """A JSON input file: a regular file, at most :data:`MAX_BYTES`, UTF-8, JSON, and not
    nested deeper than Python's parser can follow (RecursionError)."""
    try:
        if not path.is_file():
            raise FlagsError(f"{path}: not a regular file")
        if path.stat().st_size > MAX_BYTES:
            raise FlagsError(f"{path}: larger than {MAX_BYTES} bytes, not what the commands above print")
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise FlagsError(f"{path}: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise FlagsError(f"{path}: not UTF-8 ({exc.reason} at byte {exc.start})") from None
    try:
        return json.loads(text)
    except ValueError as exc:
        raise FlagsError(f"{path}: not JSON ({exc})") from None
    except RecursionError:
        raise FlagsError(f"{path}: JSON nested too deeply to read") from None


def main(argv: Sequence[str] | None = None) -> int:
    """Print the gcloud arguments, one a line; exit 2 with one line on stderr for a bad input
    or a flag the deploy may not write."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", type=Path, required=True, help="`pulumi stack output --json` before the update")
    parser.add_argument("--after", type=Path, required=True, help="`pulumi stack output --json` after the update")
    parser.add_argument("--service", type=Path, required=True, help="`gcloud run services describe --format=json`")
    args = parser.parse_args(argv)
    try:
        before = stack_flags(read_json(args.before), str(args.before), required=False)
        after = stack_flags(read_json(args.after), str(args.after), required=True)
        env = service_env(read_json(args.service), str(args.service))
        change = env_change(before, after, env, str(args.service))
    except FlagsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_INVALID
    for argument in change.arguments():
        print(argument)
    return 0


if __name__ == "__main__":
    sys.exit(main())
