"""The Pulumi CLI's project-config rule, applied offline the way the CLI applies it.

Source of every expectation here: pulumi/pulumi ``pkg/workspace/config.go``
(``mergeConfig``: a project-namespaced key declared with neither ``default`` nor
``value`` and absent from the stack is collected, all of them reported in one error by
``missingStackConfigurationKeysError`` with ``formatMissingKeys``: one key ``'a'``,
several sorted as ``'a', 'b' and 'c'``; then ``validateStackConfigValue``:
"Stack '%v' with configuration key '%v' must be of type '%v'") and
``sdk/go/common/workspace/project.go`` (``ValidateConfigValue``: a stack file's scalars
reach it as strings, so any scalar is a string; integers must parse; booleans are
exactly "true"/"false"; arrays are checked item by item on their JSON types).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tools import runner, stack_config
from tools.stack_config import StackConfigError

ROOT = Path(__file__).resolve().parent.parent


def project(tmp_path: Path, declarations: str, stack: str = "") -> Path:
    (tmp_path / "Pulumi.yaml").write_text(f"name: gyrinx-tasks\nruntime: python\nconfig:\n{declarations}")
    (tmp_path / "Pulumi.dev.yaml").write_text(f"config:\n{stack}" if stack else "config: {}\n")
    return tmp_path


@pytest.mark.parametrize("stack", stack_config.stack_names())
def test_every_committed_stack_passes_the_clis_rule(stack):
    config = stack_config.merged_config(stack)
    declared = stack_config.declarations()
    assert set(declared) <= set(config.values)


def test_every_optional_key_of_the_project_has_a_default():
    """Only the keys every stack must set are required: the registry, the service URL."""
    declared = stack_config.declarations()
    required = sorted(d.key for key, d in declared.items() if key.startswith("gyrinx-tasks:") and not d.has_default)
    assert required == ["registry", "serviceUrl"]


def test_one_missing_key_is_named_as_the_cli_names_it(tmp_path):
    root = project(tmp_path, "  serviceUrl:\n    type: string\n")
    with pytest.raises(StackConfigError) as caught:
        stack_config.merged_config("dev", project_dir=root)
    assert str(caught.value) == "Stack 'dev' is missing configuration value 'serviceUrl'"


def test_several_missing_keys_are_sorted_and_joined_as_the_cli_joins_them(tmp_path):
    root = project(tmp_path, "  zeta:\n    type: string\n  alpha:\n    type: string\n  mid:\n    type: string\n")
    with pytest.raises(StackConfigError) as caught:
        stack_config.merged_config("dev", project_dir=root)
    assert str(caught.value) == "Stack 'dev' is missing configuration values 'alpha', 'mid' and 'zeta'"


def test_an_empty_default_satisfies_the_rule(tmp_path):
    root = project(tmp_path, '  appServiceAccount:\n    type: string\n    default: ""\n')
    assert stack_config.merged_config("dev", project_dir=root).values["gyrinx-tasks:appServiceAccount"] == ""


def test_a_key_of_another_namespace_is_never_reported_missing(tmp_path):
    root = project(tmp_path, "  gcp:region:\n    value: europe-west2\n")
    assert stack_config.merged_config("dev", project_dir=root).values["gcp:region"] == "europe-west2"


@pytest.mark.parametrize(
    ("declaration", "value", "type_name"),
    [
        ("type: boolean", "maybe", "boolean"),
        ("type: integer", "5.5", "integer"),
        ("type: string", "[a, b]", "string"),
        ("type: array\n    items:\n      type: string", "[1, 2]", "array<string>"),
        ("type: array\n    items:\n      type: string", "not-a-list", "array<string>"),
    ],
)
def test_a_value_of_the_wrong_type_is_refused_in_the_clis_words(tmp_path, declaration, value, type_name):
    root = project(tmp_path, f"  key:\n    {declaration}\n", f"  gyrinx-tasks:key: {value}\n")
    with pytest.raises(StackConfigError) as caught:
        stack_config.merged_config("dev", project_dir=root)
    assert str(caught.value) == f"Stack 'dev' with configuration key 'key' must be of type '{type_name}'"


@pytest.mark.parametrize(
    ("declaration", "value"),
    [
        ("type: string", "5"),  # scalars reach the check as text
        ("type: string", "true"),
        ("type: integer", '"42"'),
        ("type: boolean", "false"),
        ("type: array\n    items:\n      type: string", "[a, b]"),
    ],
)
def test_values_the_cli_accepts_pass(tmp_path, declaration, value):
    root = project(tmp_path, f"  key:\n    {declaration}\n", f"  gyrinx-tasks:key: {value}\n")
    assert "gyrinx-tasks:key" in stack_config.merged_config("dev", project_dir=root).values


def test_an_override_is_checked_like_a_stack_value(tmp_path):
    root = project(tmp_path, "  flag:\n    type: boolean\n    default: false\n")
    with pytest.raises(StackConfigError, match="must be of type 'boolean'"):
        stack_config.merged_config("dev", ["flag=sometimes"], project_dir=root)


def test_a_stack_file_repeating_a_key_is_refused(tmp_path):
    root = project(tmp_path, "", "  gcp:project: a\n  gcp:project: b\n")
    with pytest.raises(StackConfigError, match=r"Pulumi\.dev\.yaml is not valid YAML: .*duplicate key 'gcp:project'"):
        stack_config.merged_config("dev", project_dir=root)


def test_a_stack_the_cli_would_refuse_exits_2_with_one_line(capsys):
    from tools.cli import main

    assert main(["plan", "--stack", "dev", "--config", "allowEmptyRegistry=sometimes"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == "error: Stack 'dev' with configuration key 'allowEmptyRegistry' must be of type 'boolean'\n"


def test_the_runner_refuses_before_running_the_program(tmp_path):
    root = project(tmp_path, "  serviceUrl:\n    type: string\n")
    (root / "__main__.py").write_text("raise AssertionError('the program ran')\n")
    with pytest.raises(StackConfigError, match="missing configuration value 'serviceUrl'"):
        runner.run_plan("dev", project_dir=root)


def test_a_broken_stack_file_does_not_break_another_stacks_flags(tmp_path):
    root = project(tmp_path, "", "  gyrinx-tasks:flags:\n    ENABLE_X: true\n")
    (root / "Pulumi.broken.yaml").write_text("config: [unclosed\n")
    assert stack_config.flags_by_stack(project_dir=root) == {"dev": {"ENABLE_X": True}}


def test_flags_by_stack_apply_the_planned_stacks_overrides(tmp_path):
    root = project(tmp_path, "", "  gyrinx-tasks:flags:\n    ENABLE_X: true\n")
    flags = stack_config.flags_by_stack("dev", ['flags={"ENABLE_Y": false}'], root)
    assert flags == {"dev": {"ENABLE_Y": False}}


def test_encrypted_flags_count_as_none_offline(tmp_path):
    root = project(tmp_path, "", "  gyrinx-tasks:flags:\n    secure: v1:abc\n")
    assert stack_config.flags_by_stack(project_dir=root) == {"dev": {}}


def test_flags_that_are_not_an_object_leave_that_stack_out(tmp_path):
    root = project(tmp_path, "", "  gyrinx-tasks:flags: oops\n")
    (root / "Pulumi.other.yaml").write_text("config:\n  gyrinx-tasks:flags:\n    ENABLE_X: true\n")
    assert stack_config.flags_by_stack(project_dir=root) == {"other": {"ENABLE_X": True}}
