"""Time zones read from the pinned ``tzdata`` package alone, the same on every machine.

``zoneinfo.ZoneInfo(key)`` searches the host's zone files first (``zoneinfo.TZPATH``)
and falls back to ``tzdata`` only for a key the host lacks, so one key can be accepted
on a laptop and refused in CI, or resolve to older rules on an old host. A schedule's
time zone is checked, and its runs and daylight-saving traps reported, from the
``tzdata`` version ``requirements.txt`` pins, read as package resources. Nothing here
touches ``zoneinfo``'s process-wide search path (``zoneinfo.reset_tzpath``), so the
rest of the process keeps its own.
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

_PACKAGE = "tzdata"


@cache
def available() -> frozenset[str]:
    """Every key ``tzdata`` holds, from the index file it ships (``tzdata/zones``, the
    list CPython's ``zoneinfo.available_timezones`` reads: ``Lib/zoneinfo/_tzpath.py``)."""
    index = resources.files(_PACKAGE).joinpath("zones").read_text(encoding="utf-8")
    return frozenset(line.strip() for line in index.splitlines() if line.strip())


@cache
def zone(key: str) -> ZoneInfo:
    """The zone ``key`` as ``tzdata`` defines it; ``ZoneInfoNotFoundError`` when
    ``tzdata`` has no such key, whatever the host's own zone files hold."""
    if key not in available():
        raise ZoneInfoNotFoundError(f"No time zone found with key {key} in the tzdata package")
    # Keys are paths inside tzdata/zoneinfo ("America/Argentina/Buenos_Aires").
    resource = resources.files(f"{_PACKAGE}.zoneinfo").joinpath(*key.split("/"))
    with resource.open("rb") as data:
        return ZoneInfo.from_file(data, key=key)
