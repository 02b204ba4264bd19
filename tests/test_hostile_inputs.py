"""Hostile and broken input files: one clear line and exit 2, never a traceback, a hang or
a machine out of memory (issue 18, section 1).

Every JSON input goes through :mod:`infra.inputs` (regular files only, a size limit, a
depth limit counted without recursion, no repeated key); stack files go through
:mod:`tools.go_yaml` on top of it (aliases refused). The command-line cases run
``python -m tools`` in a copy of the project, so a broken stack file beside the real
ones is tried exactly as a user would meet it, without touching the repository.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from infra import inputs
from infra.errors import InvalidInput
from tests.fake_registry import route
from tools import cli, stack_config
from tools.arguments import STACK_HELP
from tools.errors import ToolError, read_json
from tools.stack_config import StackConfigError

ROOT = Path(__file__).resolve().parent.parent
DEEP = 100_000
# What the copied project needs to plan every stack offline.
PROJECT_PARTS = ("__main__.py", "Pulumi.yaml", "infra", "tools", "registry", "example_app", "plans")


def deep_json(levels: int = DEEP) -> str:
    return "[" * levels + "]" * levels


def alias_bomb() -> str:
    """A "billion laughs" stack file of about 1 KB: nine levels of nine aliases each,
    9**9 (387 million) strings once expanded."""
    lines = ['l0: &l0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    lines += [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]" for i in range(1, 10)]
    lines += ["config:", "  gyrinx-tasks:labels: *l9", "# " + "padding " * 40]
    return "\n".join(lines) + "\n"


# --- The one JSON reader ----------------------------------------------------------------


def test_json_nested_100000_levels_is_refused_in_one_line(tmp_path):
    path = tmp_path / "deep.json"
    path.write_text(deep_json())
    with pytest.raises(inputs.InputFileError) as caught:
        inputs.read_json(path, "deep.json")
    assert str(caught.value) == (
        f"deep.json: not JSON this program reads: it nests {DEEP} levels deep (at most {inputs.MAX_JSON_DEPTH})"
    )


def test_json_at_the_depth_limit_is_read(tmp_path):
    path = tmp_path / "ok.json"
    path.write_text(deep_json(inputs.MAX_JSON_DEPTH))
    assert inputs.read_json(path, "ok.json") == json.loads(deep_json(inputs.MAX_JSON_DEPTH))


def test_brackets_inside_strings_do_not_count_as_depth():
    text = json.dumps({"a": "[" * 500 + '\\"{' * 500})
    assert inputs.json_depth(text) == 1
    assert inputs.parse_json(text, "x") == json.loads(text)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ('{"a": 1, "a": 2}', "names the key 'a' twice in one object"),
        ("[NaN]", "not JSON (NaN is not a JSON value)"),
        ("[Infinity]", "not JSON (Infinity is not a JSON value)"),
        ("{", "not JSON ("),
    ],
)
def test_json_that_python_would_accept_silently_or_crash_on_is_refused(text, reason):
    with pytest.raises(inputs.InputFileError) as caught:
        inputs.parse_json(text, "f")
    assert str(caught.value).startswith(f"f: {reason}")


@pytest.mark.parametrize(
    ("path", "kind"),
    [("/dev/zero", "a character device"), ("/dev/null", "a character device"), ("/", "a directory")],
)
def test_only_regular_files_are_read(path, kind):
    with pytest.raises(inputs.InputFileError) as caught:
        inputs.read_bytes(Path(path), "f")
    assert str(caught.value) == f"f: is {kind}, not a regular file; only regular files are read"


def test_a_fifo_and_stdin_are_refused_without_waiting_for_a_writer(tmp_path):
    """open(2) of a FIFO blocks until a writer comes, unless O_NONBLOCK: run in a child
    with a deadline, its stdin an open pipe nobody writes to."""
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    code = (
        "import sys; from pathlib import Path; from infra import inputs\n"
        "for p in sys.argv[1:]:\n"
        "    try: inputs.read_bytes(Path(p), p)\n"
        "    except inputs.InputFileError as e: print(e)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, str(fifo), "/dev/stdin"],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    assert result.stdout.splitlines() == [
        f"{fifo}: is a pipe (FIFO), not a regular file; only regular files are read",
        "/dev/stdin: is a pipe (FIFO), not a regular file; only regular files are read",
    ]


def test_a_file_over_the_limit_is_refused_without_reading_it_all(tmp_path):
    path = tmp_path / "big.json"
    with path.open("wb") as stream:  # sparse: no disk used
        stream.truncate(inputs.MAX_INPUT_BYTES * 4)
    with pytest.raises(inputs.InputFileError, match=f"is larger than {inputs.MAX_INPUT_BYTES:,} bytes"):
        inputs.read_json(path, "big.json")


def test_text_that_is_not_utf8_is_refused_naming_the_byte(tmp_path):
    path = tmp_path / "latin.json"
    path.write_bytes('["caf\xe9"]'.encode("latin-1"))
    with pytest.raises(inputs.InputFileError) as caught:
        inputs.read_json(path, "latin.json")
    assert str(caught.value) == "latin.json: is not UTF-8 text (byte 0xe9 at offset 5)"


def test_a_utf8_byte_order_mark_is_dropped_as_the_cli_drops_it(tmp_path):
    path = tmp_path / "bom.json"
    path.write_bytes(b"\xef\xbb\xbf[1]")
    assert inputs.read_json(path, "bom.json") == [1]


def test_the_tools_reader_is_the_shared_one(tmp_path):
    path = tmp_path / "deep.json"
    path.write_text(deep_json())
    with pytest.raises(
        ToolError,
        match=r"^--x .*: not JSON this program reads: it nests 100000 levels deep \(at most 100\); write it with",
    ):
        read_json(path, f"--x {path}", "write it with: something")


# --- Each JSON input of the tools and the program ----------------------------------------


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    status = cli.main(list(args))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def one_error_line(err: str) -> str:
    """The single ``error:`` line of ``err`` (warnings of the plan itself may precede it)."""
    errors = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, err
    assert "Traceback" not in err
    return errors[0]


def test_plan_diff_against_deep_json_exits_2_with_one_line(tmp_path, capsys):
    path = tmp_path / "old.json"
    path.write_text(deep_json())
    status, _, err = run_cli(capsys, "plan", "--stack", "dev", "--diff", str(path))
    assert status == 2
    assert one_error_line(err).startswith(f"error: --diff {path}: not JSON this program reads: it nests {DEEP}")


def test_import_file_with_a_deep_inventory_exits_2_with_one_line(tmp_path, capsys):
    path = tmp_path / "topics.json"
    path.write_text(deep_json())
    status, _, err = run_cli(capsys, "import-file", "--stack", "example", "--topics", str(path))
    assert status == 2
    assert one_error_line(err).startswith(f"error: --topics {path}: not JSON this program reads: it nests {DEEP}")


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda tmp: (tmp / "deep.json").write_text(deep_json()) and str(tmp / "deep.json"), "nests 100000 levels"),
        (lambda tmp: "/dev/zero", "is a character device, not a regular file"),
        (lambda tmp: "/dev/stdin", "not a regular file"),
        (str, "is a directory, not a regular file"),
    ],
)
def test_a_registry_snapshot_that_is_not_a_regular_json_file_is_one_problem(
    run, routes, tmp_path, make: Callable[[Path], str], reason
):
    routes.append(route("t"))
    reference = make(tmp_path)
    with pytest.raises(InvalidInput) as caught:
        run(registry=f"file:{reference}")
    [problem] = caught.value.problems
    assert problem.startswith(f"config gyrinx-tasks:registry 'file:{reference}': {reference}: ")
    assert reason in problem


# --- Stack files ------------------------------------------------------------------------


def stack_project(tmp_path: Path, name: str, content: bytes | None) -> Path:
    """A project with the real Pulumi.yaml and dev stack, and ``Pulumi.<name>.yaml``
    holding ``content`` (None: a directory of that name)."""
    shutil.copy(ROOT / "Pulumi.yaml", tmp_path / "Pulumi.yaml")
    shutil.copy(ROOT / "Pulumi.dev.yaml", tmp_path / "Pulumi.dev.yaml")
    broken = tmp_path / f"Pulumi.{name}.yaml"
    if content is None:
        broken.mkdir()
    else:
        broken.write_bytes(content)
    return tmp_path


LATIN = "config:\n  gcp:project: caf\xe9\n".encode("latin-1")
LATIN_REASON = f"is not UTF-8 text (byte 0xe9 at offset {LATIN.index(0xE9)})"
BROKEN_STACK_FILES = {
    "latin": (LATIN, LATIN_REASON),
    "directory": (None, "is a directory, not a regular file"),
    "bomb": (alias_bomb().encode(), "is not valid YAML: line 2: the alias *l0 is not allowed"),
    "deep": (("config:\n  k: " + "[" * DEEP + "]" * DEEP + "\n").encode(), "is not valid YAML"),
    "huge": (b"config:\n" + b"  # padding\n" * (stack_config.MAX_STACK_FILE_BYTES // 12 + 1), "is larger than"),
    "tabs": (b"config:\n\tgcp:project: x\n", "is not valid YAML"),
}


@pytest.mark.parametrize("name", sorted(BROKEN_STACK_FILES))
def test_a_broken_stack_file_is_refused_in_one_line(tmp_path, name):
    content, reason = BROKEN_STACK_FILES[name]
    root = stack_project(tmp_path, name, content)
    with pytest.raises(StackConfigError) as caught:
        stack_config.merged_config(name, project_dir=root)
    message = str(caught.value)
    assert message.startswith(f"Pulumi.{name}.yaml")
    assert reason in message
    assert "\n" not in message


@pytest.mark.parametrize("name", sorted(BROKEN_STACK_FILES))
def test_a_broken_stack_file_leaves_the_checks_across_stacks_to_the_others(tmp_path, name):
    content, _ = BROKEN_STACK_FILES[name]
    root = stack_project(tmp_path, name, content)
    configs = stack_config.merged_configs("dev", project_dir=root)
    assert sorted(configs) == ["dev"]
    assert configs["dev"] == stack_config.merged_config("dev")


def test_a_symlink_to_dev_zero_as_a_stack_file_is_refused(tmp_path):
    root = stack_project(tmp_path, "other", b"config: {}\n")
    (root / "Pulumi.zero.yaml").symlink_to("/dev/zero")
    with pytest.raises(StackConfigError, match=r"^Pulumi\.zero\.yaml: is a character device"):
        stack_config.merged_config("zero", project_dir=root)


def test_an_alias_bomb_is_refused_at_once(tmp_path):
    """Expanded, it would be 387 million strings (PyYAML's constructor ran out of memory
    after 39 s); refused at its first alias, it costs a parse of 1 KB."""
    root = stack_project(tmp_path, "bomb", alias_bomb().encode())
    started = time.perf_counter()
    with pytest.raises(StackConfigError):
        stack_config.merged_config("bomb", project_dir=root)
    assert time.perf_counter() - started < 5


@pytest.mark.parametrize(
    "text",
    [
        "config:\n  gyrinx-tasks:labels:\n    <<: {team: x}\n",  # a merge key without an alias
        "config:\n  gcp:project: &p x\n  gcp:region: *p\n",  # the most harmless alias
    ],
)
def test_merge_keys_and_aliases_are_refused(tmp_path, text):
    root = stack_project(tmp_path, "other", text.encode())
    with pytest.raises(StackConfigError, match=r"merge keys \(<<\)|the alias \*p"):
        stack_config.merged_config("other", project_dir=root)


def test_a_second_yaml_document_is_refused(tmp_path):
    """go-yaml's Unmarshal reads the first document only, silently."""
    root = stack_project(tmp_path, "other", b"config: {}\n---\nconfig:\n  gcp:project: x\n")
    with pytest.raises(StackConfigError, match="a second YAML document"):
        stack_config.merged_config("other", project_dir=root)


# --- Every subcommand: --help, and a hostile --stack -------------------------------------


def subcommand_parsers() -> dict[str, argparse.ArgumentParser]:
    root = cli.parser()
    [action] = [a for a in root._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(action.choices)


@pytest.mark.parametrize("flag", ["--help", "-h"])
@pytest.mark.parametrize("name", sorted(cli.COMMANDS))
def test_every_subcommands_help_prints_and_exits_0(capsys, name, flag):
    with pytest.raises(SystemExit) as exited:
        cli.main([name, flag])
    captured = capsys.readouterr()
    assert exited.value.code == 0
    assert captured.out.startswith(f"usage: ./dev {name}")
    assert captured.err == ""


def test_the_help_test_covers_every_subcommand():
    assert sorted(subcommand_parsers()) == sorted(cli.COMMANDS)


# The commands that read Pulumi.<stack>.yaml (their --stack comes from add_stack_arguments).
STACK_COMMANDS = sorted(
    name
    for name, parser in subcommand_parsers().items()
    if any("--stack" in action.option_strings and action.help == STACK_HELP for action in parser._actions)
)


def test_the_stack_commands_are_found():
    assert "plan" in STACK_COMMANDS


@pytest.mark.parametrize("name", STACK_COMMANDS)
def test_a_5000_character_stack_is_one_line_and_exit_2(capsys, name):
    status, out, err = run_cli(capsys, name, "--stack", "a" * 5000)
    assert status == 2
    assert out == ""
    assert err == (
        f"error: --stack '{'a' * 40}... (5000 characters)': a stack name cannot exceed "
        f"{stack_config.MAX_STACK_NAME} characters\n"
    )


# --- The command line, in a copy of the project -------------------------------------------


@pytest.fixture(scope="module")
def project_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The project's program, tools, registry and stack files, with every broken stack
    file of :data:`BROKEN_STACK_FILES` and a symlink to /dev/zero beside them."""
    copy = tmp_path_factory.mktemp("project")
    for part in PROJECT_PARTS:
        source = ROOT / part
        if source.is_dir():
            shutil.copytree(source, copy / part, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(source, copy / part)
    for stack_file in ROOT.glob("Pulumi.*.yaml"):
        shutil.copy(stack_file, copy / stack_file.name)
    for name, (content, _) in BROKEN_STACK_FILES.items():
        stack_project(copy, name, content)
    (copy / "Pulumi.zero.yaml").symlink_to("/dev/zero")
    return copy


def tools(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tools", *args], cwd=project, capture_output=True, text=True, timeout=300, check=False
    )


def test_plan_of_a_good_stack_ignores_broken_neighbours(project_copy):
    result = tools(project_copy, "plan", "--stack", "dev", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["resources"]
    assert "Traceback" not in result.stderr


def test_plan_of_a_broken_stack_is_one_line_and_exit_2(project_copy):
    result = tools(project_copy, "plan", "--stack", "latin")
    assert result.returncode == 2
    assert result.stderr == f"error: Pulumi.latin.yaml: {LATIN_REASON}\n"


def test_plans_names_every_broken_stack_and_writes_nothing(project_copy):
    before = {path.name: path.read_bytes() for path in (project_copy / "plans").iterdir()}
    result = tools(project_copy, "plans")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    broken = sorted([*BROKEN_STACK_FILES, "zero"])
    named = [line.split(":")[0] for line in result.stderr.splitlines() if line.startswith("stack ")]
    assert named == [f"stack {name}" for name in broken]
    assert {path.name: path.read_bytes() for path in (project_copy / "plans").iterdir()} == before
