"""The schedule report: next runs, daylight-saving traps, cost."""

from __future__ import annotations

from datetime import UTC, datetime

from infra.registry import load_tasks
from infra.validation import check_routes, gives_up_after
from tests.fake_registry import route
from tools import runner, schedule_report
from tools.cli import main

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
ALERT = "gcp:monitoring/alertPolicy:AlertPolicy"


def test_dst_gap_and_overlap_are_found_for_london_at_0130():
    traps = schedule_report.dst_traps("30 1 * * *", "Europe/London", NOW)
    assert [(t.local, t.kind) for t in traps] == [
        (datetime(2027, 3, 28, 1, 30), "skipped"),
        (datetime(2027, 10, 31, 1, 30), "repeated"),
    ]


def test_a_utc_schedule_has_no_dst_traps():
    assert schedule_report.dst_traps("30 1 * * *", "UTC", NOW) == []


def test_a_london_schedule_outside_the_changeover_hour_has_no_traps():
    assert schedule_report.dst_traps("0 9 * * *", "Europe/London", NOW) == []


def test_next_runs_are_in_the_jobs_zone():
    runs = schedule_report.next_runs("0 9 * * *", "Europe/London", datetime(2027, 3, 26, 12, tzinfo=UTC))
    assert [r.astimezone(UTC).hour for r in runs] == [9, 8, 8]  # BST from 28 March


def test_cost_counts_paused_jobs():
    assert schedule_report.monthly_cost(4) == 0.40


def test_the_report_shows_words_runs_pauses_warnings_and_cost(routes):
    routes.extend(
        [
            route("nightly", schedule="30 1 * * *", schedule_timezone="Europe/London"),
            route("batch", schedule="0 2 * * *", kill_switch="ENABLE_BATCH"),
            route("adhoc"),
        ]
    )
    tasks, problems = check_routes(load_tasks("tests.fake_registry:ROUTES"), "dev")
    assert problems == []
    text = schedule_report.report(tasks, {"ENABLE_BATCH": False}, "dev", NOW)
    assert "nightly: 30 1 * * * (Europe/London), enabled" in text
    assert "At 01:30 AM" in text
    assert "next: 2026-11-30 01:30 GMT = 2026-11-30 01:30 UTC" in text
    assert "WARNING: 2027-03-28 01:30 Europe/London does not exist" in text
    assert "WARNING: 2027-10-31 01:30 Europe/London happens twice" in text
    assert "batch: 0 2 * * * (UTC), PAUSED by kill switch ENABLE_BATCH=false" in text
    assert "adhoc" not in text
    assert "Cost: 2 jobs (1 paused, billed all the same) x $0.10 = $0.20/month" in text


def test_the_schedule_command_runs_for_a_stack(capsys):
    _, tasks = runner.load_stack("example")
    assert main(["schedule", "--stack", "example", "--now", "2026-11-29T12:00:00"]) == 0
    out = capsys.readouterr().out
    assert "expensive_batch_job: 0 2 * * * (UTC), PAUSED by kill switch ENABLE_BATCH_JOB=false" in out
    assert f"Cost: {sum(task.is_scheduled for task in tasks)} jobs" in out


def test_the_report_says_when_a_failing_run_is_dead_lettered(routes):
    routes.append(route("nightly", schedule="30 1 * * *", max_delivery_attempts=None))
    tasks, problems = check_routes(load_tasks("tests.fake_registry:ROUTES"), "dev")
    assert problems == []
    [task] = tasks
    text = schedule_report.report(tasks, {}, "dev", NOW)
    assert (
        f"  a failing run is delivered up to {task.max_delivery_attempts} times: it gives up after "
        f"{gives_up_after(task)} of failures, then is dead-lettered"
    ) in text


def test_a_schedule_that_never_fires_is_a_message_not_a_traceback(routes, capsys):
    routes.append(route("leap", schedule="0 0 30 2 *"))
    assert main(["schedule", "--stack", "example", "--config", "registry=tests.fake_registry:ROUTES"]) == 2
    err = capsys.readouterr().err
    assert "task leap: schedule '0 0 30 2 *' never fires" in err and "Traceback" not in err
