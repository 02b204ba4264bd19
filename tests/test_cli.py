"""The command line: a table of subcommands, help that changes nothing, one error path."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tools import cli

ROOT = Path(__file__).resolve().parent.parent


def test_help_lists_every_subcommand_and_exits_0(capsys):
    with pytest.raises(SystemExit) as exited:
        cli.main(["--help"])
    assert exited.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: ./dev ")
    for name in cli.COMMANDS:
        assert f"    {name}" in out


def test_a_subcommands_help_does_not_run_it(capsys, monkeypatch):
    ran = []
    monkeypatch.setitem(
        cli.COMMANDS, "plans", cli.Command("rewrite", lambda parser: None, lambda args: ran.append(args) or 0)
    )
    with pytest.raises(SystemExit) as exited:
        cli.main(["plans", "--help"])
    assert exited.value.code == 0 and ran == []
    assert capsys.readouterr().out.startswith("usage: ./dev plans")


def test_an_unknown_subcommand_exits_2(capsys):
    with pytest.raises(SystemExit) as exited:
        cli.main(["nosuch"])
    assert exited.value.code == 2


def test_a_users_mistake_is_one_line_and_exit_2(capsys):
    assert cli.main(["plan", "--stack", "nosuch"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1 and "Pulumi.nosuch.yaml not found" in captured.err


def test_dev_refuses_a_python_older_than_the_project_supports():
    old = subprocess.run(["pyenv", "prefix", "3.10"], capture_output=True, text=True, check=False).stdout.strip()
    if not old:
        pytest.skip("no Python 3.10 on this machine to try")
    result = subprocess.run(
        [str(ROOT / "dev"), "--help"],
        env={**os.environ, "PYTHON": f"{old}/bin/python3"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert "needs Python 3.11 or later" in result.stderr


@pytest.mark.parametrize(
    ("command", "arguments"),
    [
        ("guard", ["preview.json"]),
        ("plan", ["--stack", "dev", "--diff", "preview.json"]),
        ("drain-check", ["--stack", "dev", "--preview", "preview.json"]),
        ("approval", ["--pull", "preview.json", "--reviews", "preview.json", "--permissions", "preview.json"]),
    ],
)
def test_file_arguments_are_taken_from_where_the_user_typed_the_command(command, arguments, tmp_path, monkeypatch):
    """./dev changes to the project before running a tool and passes the caller's directory
    (GYRINX_TASKS_CALLER_DIR): a relative path names a file there, not in the project."""
    from tools import arguments as shared

    monkeypatch.setenv(shared.CALLER_DIR_ENV, str(tmp_path))
    parsed = cli.parser().parse_args([command, *arguments])
    paths = [value for value in vars(parsed).values() if isinstance(value, Path)]
    paths += [
        item for value in vars(parsed).values() if isinstance(value, list) for item in value if isinstance(item, Path)
    ]
    assert paths and all(path == tmp_path / "preview.json" for path in paths)
