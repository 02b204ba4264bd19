"""The Google Cloud regions where Cloud Run services and Cloud Scheduler jobs can live.

A region name of the right shape can still be one Google does not have (``zz-zzzz99``,
``a-b1``): Google refuses it only when ``pulumi up`` creates the first job or grant, after
part of the stack exists. So the names are checked against the lists in
``infra/locations.json``, which say where each came from and when they were read, and a
name that is not there is refused with the nearest one that is.
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path

DATA = Path(__file__).with_name("locations.json")


@dataclass(frozen=True)
class Locations:
    """The regions one product offers, and where the list comes from."""

    product: str
    regions: frozenset[str]
    checked: str  # the day the sources were read (ISO date)

    def problem(self, region: str) -> str | None:
        """Why ``region`` is not one of :attr:`regions`, naming the nearest, or None."""
        if region in self.regions:
            return None
        close = difflib.get_close_matches(region, sorted(self.regions), n=1, cutoff=0.6)
        hint = f"did you mean {close[0]}? " if close else ""
        return (
            f"{region!r} is not a region where {self.product} runs ({hint}the list in {DATA.parent.name}/{DATA.name}, "
            f"read from Google's locations pages on {self.checked}; add a region Google opened since, with its source)"
        )


@cache
def _read() -> dict[str, Locations]:
    data = json.loads(DATA.read_text(encoding="utf-8"))
    cloud_run = frozenset(data["cloudRun"]["regions"])
    return {
        "run": Locations("Cloud Run", cloud_run, data["checked"]),
        # The scheduler's page could be read only in part: see the file's caveat.
        "scheduler": Locations(
            "Cloud Scheduler", frozenset(data["cloudScheduler"]["regions"]) | cloud_run, data["checked"]
        ),
    }


def cloud_run() -> Locations:
    """Where a Cloud Run service can be."""
    return _read()["run"]


def cloud_scheduler() -> Locations:
    """Where a Cloud Scheduler job can be."""
    return _read()["scheduler"]
