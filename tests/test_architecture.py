"""The two rooms: the deployed program never imports an offline tool or a test."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PROGRAM = [ROOT / "__main__.py", *sorted((ROOT / "infra").glob("*.py"))]
TOOLS = sorted((ROOT / "tools").glob("*.py"))


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


@pytest.mark.parametrize("path", PROGRAM, ids=lambda p: str(p.relative_to(ROOT)))
def test_the_program_imports_no_tool(path):
    rooms = {module.split(".")[0] for module in imported_modules(path)}
    assert not rooms & {"tools", "tests", "benchmarks", "example_app"}


def test_the_check_sees_an_import_of_a_tool(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("from tools import stack_config\nimport tools.runner\n")
    assert {"tools", "tools.runner"} <= imported_modules(bad)


# A resource type token: pulumi-gcp's `gcp:module/name:Type` (a function token such as
# gcp:organizations/getProject:getProject ends in a lower-case name) or this project's.
_TYPE_TOKEN = re.compile(r"[\"'](?:gcp:[A-Za-z0-9]+/[A-Za-z0-9]+|gyrinx-tasks:index):[A-Z]\w*[\"']")
CATALOGUE = ROOT / "infra" / "ownership.py"
CODE = [
    path
    for path in [*PROGRAM, *TOOLS, *sorted((ROOT / "tools" / "standin").glob("*.py")), ROOT / "policy" / "policies.py"]
    if path != CATALOGUE
]


@pytest.mark.parametrize("path", CODE, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_resource_type_is_spelled_once_in_the_catalogue(path):
    """infra/ownership.py is the catalogue of every type the program declares; every other
    module reads the token from it, so none can drift."""
    assert _TYPE_TOKEN.findall(path.read_text()) == []


def test_the_token_check_sees_a_spelled_type():
    assert _TYPE_TOKEN.findall('x = "gcp:pubsub/topic:Topic"') and not _TYPE_TOKEN.findall(
        'token == "gcp:organizations/getProject:getProject"'
    )


def test_the_guard_loads_neither_the_runner_nor_the_gcp_sdk():
    """The guard reads a preview as data: it needs the catalogue and the plans folder's
    name, not the offline runner or pulumi_gcp (which take seconds to import)."""
    import subprocess
    import sys

    code = (
        "import sys, tools.deletion_guard; print(sorted(m for m in sys.modules if m in ('tools.runner', 'pulumi_gcp')))"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_every_user_error_is_defined_in_its_rooms_errors_module():
    """One base class, caught once (tools/cli.py); its subclasses live in infra/errors.py
    (the program's) and tools/errors.py (the tools'), so a maintainer finds every user
    error in two short files."""
    import importlib

    from infra.errors import GyrinxTasksError

    for path in [*TOOLS, *sorted((ROOT / "tools" / "standin").glob("*.py"))]:
        if path.stem != "__main__":
            importlib.import_module(".".join(path.relative_to(ROOT).with_suffix("").parts))
    found, pending = set(), [GyrinxTasksError]
    while pending:
        for subclass in pending.pop().__subclasses__():
            found.add(subclass)
            pending.append(subclass)
    assert len(found) > 5
    assert {
        cls.__qualname__: cls.__module__ for cls in found if cls.__module__ not in ("infra.errors", "tools.errors")
    } == {}
