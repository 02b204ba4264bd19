"""The deletion guard, on preview JSON in the format `pulumi preview --json` writes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tools import deletion_guard, plan_diff
from tools.cli import main

DATA = Path(__file__).parent / "data"


def change(name: str) -> deletion_guard.Change:
    return deletion_guard.read(json.loads((DATA / name).read_text()))


def test_a_removed_task_is_read_from_the_preview():
    removed = change("preview_remove_one_task.json")
    assert {r.task for r in removed.removals} == {"send_email"}
    assert len(removed.removals) == 6
    assert removed.task_resources_before == 25


def test_components_and_the_stack_are_not_counted():
    removed = change("preview_remove_one_task.json")
    assert all(not r.type.startswith(("gyrinx-tasks:", "pulumi:")) for r in removed.removals)


def test_creates_are_not_removals():
    assert change("preview_add_one_task.json").removals == ()


def test_a_replacement_counts_as_a_removal():
    moved = change("preview_move_one_task.json")
    assert {(r.op, r.task) for r in moved.removals} == {("replace", "refresh_list_facts")}


def test_one_mentioned_task_within_the_share_passes():
    assert deletion_guard.violations(change("preview_remove_one_task.json"), 0.25, {"send_email"}) == []


def test_more_than_the_share_fails():
    problems = deletion_guard.violations(change("preview_remove_three_tasks.json"), 0.25, None)
    assert problems == ["deletes or replaces 18 of 25 task resources (72%), more than the allowed 25%"]


def test_an_unmentioned_task_fails():
    problems = deletion_guard.violations(change("preview_move_one_task.json"), 0.25, {"send_email"})
    assert problems == [
        "deletes or replaces resources of task refresh_list_facts, which the pull request does not mention"
    ]


def test_deleting_a_shared_resource_fails():
    problems = deletion_guard.violations(change("preview_delete_shared.json"), 0.25, set())
    assert problems == ["deletes shared resource gcp:serviceaccount/account:Account push-service-account"]


def test_mentions_are_whole_words():
    text = "-    TaskRoute(tasks.send_email),\n+    TaskRoute(tasks.send_email_v2),"
    assert deletion_guard.mentioned_tasks(text, {"send_email", "hello_world"}) == {"send_email"}
    assert deletion_guard.mentioned_tasks("send_email_v2", {"send_email"}) == set()


def test_cli_fails_with_instructions(capsys):
    assert main(["guard", str(DATA / "preview_remove_three_tasks.json")]) == 1
    out = capsys.readouterr().out
    assert "FAILED" in out and "allow-task-deletions" in out and "GYRINX_TASKS_ALLOW_DELETIONS" in out


def test_cli_passes_a_mentioned_removal(capsys, tmp_path):
    pr = tmp_path / "pr.diff"
    pr.write_text("-        TaskRoute(tasks.send_email, ack_deadline=60),\n")
    assert main(["guard", str(DATA / "preview_remove_one_task.json"), "--mentioned-in", str(pr)]) == 0
    assert "OK" in capsys.readouterr().out


def test_cli_fails_an_unmentioned_removal(capsys, tmp_path):
    pr = tmp_path / "pr.diff"
    pr.write_text("+ a change to something else\n")
    assert main(["guard", str(DATA / "preview_remove_one_task.json"), "--mentioned-in", str(pr)]) == 1


@pytest.mark.parametrize("how", ["flag", "env"])
def test_the_escape_hatch_approves(capsys, monkeypatch, how):
    args = ["guard", str(DATA / "preview_remove_three_tasks.json")]
    if how == "flag":
        args.append("--allow")
    else:
        monkeypatch.setenv(deletion_guard.ALLOW_ENV, "true")
    assert main(args) == 0
    assert "APPROVED" in capsys.readouterr().out


def test_cli_reads_the_offline_diff(capsys, tmp_path):
    old = tmp_path / "old.json"
    assert main(["plan", "--stack", "dev", "--json"]) == 0
    old.write_text(capsys.readouterr().out)
    diff = tmp_path / "diff.json"
    assert (
        main(
            [
                "plan",
                "--stack",
                "dev",
                "--json",
                "--diff",
                str(old),
                "--config",
                "allowEmptyRegistry=true",
                "--config",
                "registry=tests.fake_registry:ROUTES",
            ]
        )
        == 0
    )
    diff.write_text(capsys.readouterr().out)
    assert main(["guard", str(diff)]) == 1
    task_resources = plan_diff.summarise([], json.loads(old.read_text())).task_resources_before
    assert f"deletes or replaces {task_resources} of {task_resources} task resources (100%)" in capsys.readouterr().out


def test_an_unreadable_document_exits_2(capsys, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"something": []}')
    assert main(["guard", str(bad)]) == 2
