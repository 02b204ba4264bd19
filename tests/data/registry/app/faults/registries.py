"""Registries that fail the way a broken app would. No Django needed."""

import sys
import time
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Route:
    """The smallest route: a name and a path."""

    name: str
    path: str


def raises() -> list[Any]:
    """Fails after telling stderr why, as an app's logging would."""
    print("loading the edition's routes", file=sys.stderr)
    raise RuntimeError("the edition is not configured")


def not_routes() -> list[Any]:
    """One route, then an entry that is no route."""
    return [Route("fine", "faults.registries.fine"), "send_email"]


def sleeps() -> list[Any]:
    """Never finishes in a test's time."""
    print("waiting for a database that never answers", file=sys.stderr, flush=True)
    time.sleep(60)
    return []


def exits() -> list[Any]:
    """Calls sys.exit while listing routes."""
    sys.exit(4)


def prints() -> list[Any]:
    """Prints to stdout while listing, which must not reach the snapshot."""
    print("hello from the app")
    return [Route("fine", "faults.registries.fine")]


class ExitingName:
    """An entry whose name property calls sys.exit."""

    path = "faults.registries.exiting"

    @property
    def name(self) -> str:
        sys.exit(5)

    def __repr__(self) -> str:
        return "ExitingName()"


def exiting_name() -> list[Any]:
    """A registry with one entry whose name exits."""
    return [ExitingName()]
