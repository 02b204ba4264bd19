"""Time zones come from the pinned tzdata package, whatever the host's zone files say."""

from __future__ import annotations

import zoneinfo
from collections.abc import Iterator
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path

import pytest

from infra import time_zones
from infra.validation import timezone_problem
from tools import schedule_report

JULY = datetime(2026, 7, 1, 12, tzinfo=UTC)


def tzdata_file(key: str) -> bytes:
    return resources.files("tzdata.zoneinfo").joinpath(*key.split("/")).read_bytes()


@pytest.fixture
def host_zones(tmp_path: Path) -> Iterator[Path]:
    """A host zone directory as ``zoneinfo`` searches it (``zoneinfo.reset_tzpath``),
    restored afterwards: the kind of machine these tests guard against."""
    original = zoneinfo.TZPATH
    zoneinfo.reset_tzpath([str(tmp_path)])
    try:
        yield tmp_path
    finally:
        zoneinfo.reset_tzpath(original)


def install(host: Path, key: str, data: bytes) -> None:
    path = host.joinpath(*key.split("/"))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def test_a_zone_only_the_host_has_is_refused(host_zones):
    install(host_zones, "Mars/Olympus_Mons", tzdata_file("Europe/London"))
    assert zoneinfo.ZoneInfo.no_cache("Mars/Olympus_Mons")  # the host's zoneinfo finds it
    assert timezone_problem("Mars/Olympus_Mons") == (
        "schedule_timezone 'Mars/Olympus_Mons' is not a tz database name (e.g. 'UTC', 'Europe/London')"
    )


def test_the_schedule_report_reads_tzdata_not_the_host(host_zones):
    """A host whose Europe/London is really UTC (stale or broken files) changes nothing."""
    install(host_zones, "Europe/London", tzdata_file("UTC"))
    assert zoneinfo.ZoneInfo.no_cache("Europe/London").utcoffset(JULY.replace(tzinfo=None)).total_seconds() == 0
    [run] = schedule_report.next_runs("0 13 * * *", "Europe/London", JULY, count=1)
    assert run.astimezone(UTC).hour == 12  # 13:00 BST


def test_the_schedule_report_refuses_a_zone_only_the_host_has(host_zones):
    install(host_zones, "Mars/Olympus_Mons", tzdata_file("UTC"))
    with pytest.raises(zoneinfo.ZoneInfoNotFoundError):
        schedule_report.next_runs("0 13 * * *", "Mars/Olympus_Mons", JULY)


def test_reading_a_zone_leaves_the_process_search_path_alone():
    before = zoneinfo.TZPATH
    time_zones.zone.cache_clear()
    time_zones.zone("Asia/Tokyo")
    assert before == zoneinfo.TZPATH


@pytest.mark.parametrize("key", ["UTC", "Etc/UTC", "Europe/London", "America/Argentina/Buenos_Aires"])
def test_tz_database_names_are_found(key):
    assert time_zones.zone(key).key == key
    assert timezone_problem(key) is None
