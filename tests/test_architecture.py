"""The two rooms: the deployed program never imports an offline tool or a test."""

from __future__ import annotations

import ast
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


def test_the_tools_import_the_program():
    assert any(module.startswith("infra") for path in TOOLS for module in imported_modules(path)), (
        "the tools build on the program's definitions"
    )
