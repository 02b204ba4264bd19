"""The stack-config contract, declared once: ``infra.settings.KEYS`` (issue 19 §1).

``Pulumi.yaml``'s ``config:`` block and docs/configuration.md's key table are generated
from the table (``./dev config-docs``); the program reads the table; the offline
stand-ins and the checks across stacks come from it; and every test plans through
``Pulumi.yaml`` as ``pulumi preview`` does (tests/conftest.py ``run``).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from infra import ownership, settings
from infra.errors import InvalidInput
from tests.conftest import BASE_CONFIG, only_problem
from tests.fake_registry import route
from tools import config_docs, runner, stack_checks, stack_config
from tools.cli import main

ROOT = Path(__file__).resolve().parent.parent
PYTHON_TYPES = {"string": str, "integer": int, "boolean": bool, "array": list, "object": dict}


def test_pulumi_yamls_config_block_is_generated_from_the_table():
    text = (ROOT / config_docs.PULUMI_YAML).read_text()
    assert config_docs.render_pulumi_yaml(text) == text, "Pulumi.yaml is stale: run ./dev config-docs"


def test_the_configuration_docs_key_table_is_generated_from_the_table():
    text = (ROOT / config_docs.CONFIGURATION_MD).read_text()
    assert config_docs.render_configuration_md(text) == text, "docs/configuration.md is stale: run ./dev config-docs"


def test_the_resource_docs_kind_table_is_generated_from_the_catalogue():
    text = (ROOT / config_docs.RESOURCES_MD).read_text()
    assert config_docs.render_resources_md(text) == text, "docs/resources.md is stale: run ./dev config-docs"


def test_every_catalogued_kind_has_a_row_in_the_resource_docs():
    text = (ROOT / config_docs.RESOURCES_MD).read_text()
    assert all(f"| `{kind.token}` |" in text for kind in ownership.KINDS)


def test_a_changed_row_makes_both_generated_files_stale(monkeypatch):
    changed = dataclasses.replace(settings.DEAD_LETTER_RETENTION_DAYS, default=7)
    keys = tuple(changed if key is settings.DEAD_LETTER_RETENTION_DAYS else key for key in settings.KEYS)
    monkeypatch.setattr(settings, "KEYS", keys)
    assert config_docs.stale(ROOT) == [config_docs.PULUMI_YAML, config_docs.CONFIGURATION_MD]


def test_the_check_command_fails_on_a_stale_file(monkeypatch, capsys):
    changed = dataclasses.replace(settings.ENVIRONMENT, description="Something else.")
    keys = tuple(changed if key is settings.ENVIRONMENT else key for key in settings.KEYS)
    monkeypatch.setattr(settings, "KEYS", keys)
    assert main(["config-docs", "--check"]) == 2
    assert "run ./dev config-docs" in capsys.readouterr().err


def test_generating_keeps_the_rest_of_pulumi_yaml():
    old = "config:\n  old:\n    type: string\n\n  other:\n    type: string\n"
    rendered = config_docs.render_pulumi_yaml(f"name: x\n{old}runtime: python\n")
    assert rendered == f"name: x\n{config_docs.pulumi_config_block()}runtime: python\n"


def test_the_cli_reads_each_generated_declaration_as_the_table_says():
    """Read back with the CLI's YAML rules (tools/go_yaml.py), the block declares each
    key the project may declare, with the table's type, items and default."""
    declared = stack_config.declarations(ROOT)
    rows = {key.full_name: key for key in settings.KEYS if key.declared}
    assert set(declared) == set(rows)
    for name, declaration in declared.items():
        row = rows[name]
        assert (declaration.type, declaration.items) == (row.type, row.items), name
        assert declaration.has_default == (row.required is None), name
        if declaration.has_default:
            assert declaration.default == row.default, name


def test_every_setting_is_filled_by_exactly_one_row():
    fields = {field.name for field in dataclasses.fields(settings.Settings)} - {"stack", "secret"}
    attributes = [key.attribute for key in settings.KEYS]
    assert sorted(attributes) == sorted(fields)


def test_every_row_has_a_description_and_a_stand_in_of_its_type():
    for key in settings.KEYS:
        assert key.description.endswith("."), key.name
        assert isinstance(key.stand_in, PYTHON_TYPES[key.type]), key.name


@pytest.mark.parametrize("key", settings.KEYS, ids=lambda key: key.full_name)
def test_an_encrypted_value_gets_its_rows_stand_in_which_passes_the_rows_check(key):
    """Offline a ``secure:`` value cannot be decrypted; its row's stand-in reaches the
    program, which then refuses it only for being secret, when the key may not be."""
    read = stack_config.merge("test", {**BASE_CONFIG, key.full_name: {"secure": "v1:x"}}).read("test")
    secret_refusal = f"config {key.full_name}: is set as a secret, but it ends up in resource ids"
    expected = [] if key.secret_able else [secret_refusal]
    assert [problem[: len(secret_refusal)] for problem in read.problems] == expected


def test_a_stack_setting_only_the_required_keys_gets_the_tables_defaults():
    read = stack_config.merge("test", dict(BASE_CONFIG)).read("test")
    assert read.settings is not None
    unset = [key for key in settings.KEYS if key.full_name not in BASE_CONFIG and key.required is None]
    assert unset
    for key in unset:
        # Empty strings mean unset; the environment and Cloud Run region then follow
        # the stack name and gcp:region (the rows' checks and the rule across keys).
        expected = {"": None}.get(key.default, key.default) if isinstance(key.default, str) else key.default
        expected = {"environment": "test", "cloud_run_region": BASE_CONFIG["gcp:region"]}.get(key.attribute, expected)
        actual = getattr(read.settings, key.attribute)
        assert (dict(actual) if key.type == "object" else actual) == (
            tuple(expected) if key.type == "array" else expected
        ), key.name


def test_the_run_fixture_plans_with_pulumi_yamls_defaults(run, routes, monkeypatch):
    """A default changed in Pulumi.yaml reaches the tests' plans: here the retention."""
    routes.append(route("t"))
    original = stack_config.declarations

    def with_seven_days(project_dir: Path = stack_config.PROJECT_DIR) -> dict[str, stack_config.Declaration]:
        declared = original(project_dir)
        key = settings.DEAD_LETTER_RETENTION_DAYS.full_name
        declared[key] = dataclasses.replace(declared[key], default=7)
        return declared

    monkeypatch.setattr(stack_config, "declarations", with_seven_days)
    topic = run().by_name("gcp:pubsub/topic:Topic", "t-dlq")
    assert topic.inputs["messageRetentionDuration"] == f"{7 * settings.SECONDS_PER_DAY}s"


def test_the_run_fixture_is_refused_where_the_cli_refuses(run, routes):
    routes.append(route("t"))
    with pytest.raises(stack_config.StackConfigError, match="missing configuration value 'registry'"):
        run(registry=None)


def test_secrecy_is_asked_of_a_row_that_may_be_secret_not_of_a_string(run, routes):
    routes.append(route("t"))
    read = stack_config.merge("test", dict(BASE_CONFIG)).read("test")
    assert read.settings is not None
    with pytest.raises(AttributeError):
        read.settings.secret_if("serviceUrl", "x")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="may not be secret"):
        read.settings.secret_if(settings.ENVIRONMENT, "x")  # type: ignore[arg-type]
    assert read.settings.secret_if(settings.SERVICE_URL, "x") == "x"


def test_the_programs_own_type_check_holds_where_the_clis_does_not_run(routes):
    """A value the CLI never type-checked (a ``secure:`` one, or no CLI) is still read
    with its row's type."""
    routes.append(route("t"))
    config = stack_config.StackConfig({**BASE_CONFIG, "gyrinx-tasks:deadLetterRetentionDays": "seven"}, (), ())
    with pytest.raises(InvalidInput) as caught:
        runner.run_plan("test", config=config)
    assert caught.value.problems == ["config gyrinx-tasks:deadLetterRetentionDays: 'seven' is not a whole number"]


@pytest.mark.parametrize("stack", stack_config.stack_names())
def test_each_stacks_identity_is_what_the_program_reads(stack):
    config = stack_config.merged_config(stack)
    identity = stack_checks.stack_identity(stack, config)
    read = config.read(stack)
    assert identity is not None and read.settings is not None
    assert (identity.project, identity.environment) == (read.settings.project, read.settings.environment)
    if read.settings.push_service_account_email:
        assert identity.push_account == read.settings.push_service_account_email
    else:
        assert identity.push_account.startswith(f"{read.settings.push_service_account_id}@")


# --- What a new user tripped on (issue 19 §5) --------------------------------------------


def test_a_key_differing_only_in_case_gets_did_you_mean(run, routes):
    routes.append(route("t"))
    problem = only_problem(run, serviceURL="https://x.example")
    assert problem.startswith(
        "config gyrinx-tasks:serviceURL: is not a setting this program reads (did you mean serviceUrl?"
    )


def test_a_missing_stack_file_lists_the_stacks_that_exist():
    with pytest.raises(stack_config.StackConfigError) as caught:
        stack_config.merged_config("dve")
    message = str(caught.value)
    assert message.startswith("Pulumi.dve.yaml not found")
    assert f"(the stacks here: {', '.join(stack_config.stack_names())}); did you mean dev?" in message


def test_a_path_inside_an_object_on_the_command_line_points_to_the_json_form(run, routes):
    routes.append(route("t", kill_switch="ENABLE_X"))
    problem = only_problem(run, **{"flags.ENABLE_X": "true"})
    expected = json.dumps({"ENABLE_X": True})
    assert problem.startswith("config gyrinx-tasks:flags.ENABLE_X: is not a setting this program reads")
    assert f"--config 'flags={expected}'" in problem
