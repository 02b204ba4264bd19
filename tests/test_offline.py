"""The offline runner: config merged as the CLI would, and the plan it prints."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from infra import ownership
from infra.ownership import JOB_TYPE, TASK_COMPONENT
from infra.settings import LOCAL_STACK
from tests.stack_plans import stack_plan
from tools import runner, stack_config
from tools.cli import main

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def project(tmp_path) -> Path:
    (tmp_path / "Pulumi.yaml").write_text(
        "name: gyrinx-tasks\nruntime: python\nconfig:\n"
        "  registry:\n    type: string\n    default: from.pulumi:yaml\n"
        "  allowEmptyRegistry:\n    type: boolean\n    default: false\n"
        "  gcp:region:\n    value: us-central1\n"
    )
    (tmp_path / "Pulumi.dev.yaml").write_text(
        "config:\n  gyrinx-tasks:registry: from.stack:file\n  gyrinx-tasks:flags:\n    B: true\n    A: false\n"
        "  gyrinx-tasks:token:\n    secure: v1:abc\n"
    )
    return tmp_path


def test_pulumi_yaml_defaults_apply_first(project):
    values = stack_config.merged_config("dev", project_dir=project).values
    assert values["gyrinx-tasks:allowEmptyRegistry"] == "false"
    assert values["gcp:region"] == "us-central1"


def test_stack_file_overrides_pulumi_yaml(project):
    assert stack_config.merged_config("dev", project_dir=project).values["gyrinx-tasks:registry"] == "from.stack:file"


def test_command_line_overrides_the_stack_file(project):
    config = stack_config.merged_config("dev", ["registry=from.command:line"], project_dir=project)
    assert config.values["gyrinx-tasks:registry"] == "from.command:line"


def test_objects_reach_the_program_as_json(project):
    assert json.loads(stack_config.merged_config("dev", project_dir=project).values["gyrinx-tasks:flags"]) == {
        "A": False,
        "B": True,
    }


def test_a_json_override_is_parsed(project):
    config = stack_config.merged_config(
        "dev", ['flags={"X": false}', "allowEmptyRegistry=true", "gcp:project=p"], project_dir=project
    ).values
    assert config["gyrinx-tasks:flags"] == '{"X": false}'
    assert config["gyrinx-tasks:allowEmptyRegistry"] == "true"
    assert config["gcp:project"] == "p"


def test_a_secure_value_is_an_opaque_secret_stand_in_offline(project):
    config = stack_config.merged_config("dev", project_dir=project)
    assert "gyrinx-tasks:token" in config.secret_keys
    assert config.values["gyrinx-tasks:token"] != stack_config.SECRET_MASK
    assert any("gyrinx-tasks:token is encrypted" in note for note in config.notes)


def test_a_malformed_override_is_refused(project):
    # `-c KEY` alone is the empty string, as the CLI reads it (tests/test_stack_config.py);
    # only a missing key is malformed.
    with pytest.raises(stack_config.StackConfigError, match="expected KEY=VALUE"):
        stack_config.merged_config("dev", ["=from.command:line"], project_dir=project)


def test_a_missing_stack_file_is_refused(project):
    with pytest.raises(stack_config.StackConfigError, match=r"Pulumi\.qa\.yaml not found"):
        stack_config.merged_config("qa", project_dir=project)


@pytest.mark.parametrize("stack", stack_config.stack_names())
def test_each_stack_file_plans_one_component_per_task_of_its_registry(stack):
    _, tasks = runner.load_stack(stack)
    queues = [r.name for r in stack_plan(stack).registrations if r.type == TASK_COMPONENT]
    assert sorted(queues) == sorted(task.name for task in tasks)


@pytest.mark.parametrize("stack", [stack for stack in stack_config.stack_names() if stack != LOCAL_STACK])
def test_each_stack_exports_an_https_push_endpoint(stack):
    assert stack_plan(stack).outputs["pushEndpoint"].startswith("https://")


def test_only_the_local_stack_pushes_over_plain_http_to_this_machine():
    # Google's Pub/Sub emulator pushes without OIDC to the app's development server.
    assert stack_plan(LOCAL_STACK).outputs["pushEndpoint"].startswith(("http://127.0.0.1:", "http://localhost:"))


def test_a_stack_naming_an_existing_push_account_creates_none():
    plan = runner.run_plan("example", ["pushServiceAccountEmail=push-invoker@gyrinx-example.iam.gserviceaccount.com"])
    assert not [r for r in plan.registrations if r.type == "gcp:serviceaccount/account:Account"]


def test_a_false_kill_switch_pauses_its_job():
    settings, tasks = runner.load_stack("example")
    switched = [t for t in tasks if t.is_scheduled and t.kill_switch and settings.flags.get(t.kill_switch) is False]
    assert switched, "the example stack turns one kill switch off"
    plan = stack_plan("example")
    for task in switched:
        assert plan.by_name(JOB_TYPE, ownership.JOB.logical_name(task.name)).inputs["paused"] is True


def test_json_has_exactly_resources_and_outputs(capsys):
    assert main(["plan", "--stack", "dev", "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert set(document) == {"resources", "outputs"}
    assert all(set(r) == {"urn", "type", "name", "parent", "inputs"} for r in document["resources"])
    keys = [(r["type"], r["name"], r["urn"]) for r in document["resources"]]
    assert keys == sorted(keys)


def test_config_override_reaches_the_program(capsys):
    assert main(["plan", "--stack", "example", "--json", "--config", 'flags={"ENABLE_BATCH_JOB": true}']) == 0
    document = json.loads(capsys.readouterr().out)
    job = next(r for r in document["resources"] if r["name"] == "expensive_batch_job-job")
    assert job["inputs"]["paused"] is False


def test_the_table_groups_resources_by_task(capsys):
    assert main(["plan", "--stack", "example"]) == 0
    out = capsys.readouterr().out
    block = out.split("task send_daily_digest  ")[1].split("\n\n")[0]
    assert "send_daily_digest-job" in block and "Europe/London" in block
    assert "send_email-sub" not in block


def test_bad_input_exits_2_with_nothing_on_stdout(capsys):
    assert main(["plan", "--stack", "dev", "--config", "serviceUrl=http://insecure"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "config gyrinx-tasks:serviceUrl: 'http://insecure' must be an https:// URL" in captured.err


def test_the_command_runs_as_a_module():
    result = subprocess.run(
        [sys.executable, "-m", "tools", "plan", "--stack", "dev", "--config", "ackDeadline=5"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert result.stdout == ""
    assert "gyrinx-tasks:ackDeadline: is not a setting this program reads" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_plan_loads_and_checks_the_registry_once(monkeypatch, capsys):
    """./dev plan runs the program once and hands its settings and tasks to the checks
    across stacks (runner.Plan carries them), so the registry is loaded and checked once."""
    from infra import program
    from tools.cli import main

    calls = []
    real = program.load

    def counting(*args, **kwargs):
        calls.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(program, "load", counting)
    assert main(["plan", "--stack", "dev", "--json"]) == 0
    assert len(calls) == 1
