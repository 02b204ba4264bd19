"""Pulumi.yaml, the stack files and the workflows, as the CLI and GitHub see them."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import yaml

from infra import settings
from tools import stack_config

ROOT = Path(__file__).resolve().parent.parent
# Pulumi's JSON schema of Pulumi.yaml (pulumi/pulumi sdk/go/common/workspace/project.json).
SCHEMA_PATHS = [ROOT / "tests" / "data" / "pulumi-project.schema.json"]
OBJECT_KEYS = {"flags", "labels"}
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))


def project() -> dict:
    return yaml.safe_load((ROOT / "Pulumi.yaml").read_text())


def schema() -> dict:
    for path in SCHEMA_PATHS:
        if path.exists():
            return json.loads(path.read_text())
    pytest.fail("pulumi-project.schema.json not found")


def test_pulumi_yaml_validates_against_pulumis_schema():
    jsonschema.validate(project(), schema())


def test_an_invalid_pulumi_yaml_is_caught_by_the_schema():
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**project(), "runtime": {"name": "python", "bogus": 1}}, schema())


def test_the_runtime_uses_the_readmes_venv():
    assert project()["runtime"] == {"name": "python", "options": {"toolchain": "pip", "virtualenv": "venv"}}


def test_every_non_object_key_is_declared_with_type_and_description():
    declared = project()["config"]
    assert set(declared) == settings.KNOWN_KEYS - OBJECT_KEYS
    for key, declaration in declared.items():
        assert declaration["type"] in ("string", "integer", "boolean", "array"), key
        assert declaration["description"], key


@pytest.mark.parametrize("stack", stack_config.stack_names())
def test_every_key_a_stack_file_sets_is_read_by_the_program(stack):
    known = {"gcp:project", "gcp:region"} | {f"{settings.PROJECT}:{key}" for key in settings.KNOWN_KEYS}
    assert set(stack_config.stack_config(stack)) <= known


def test_the_key_check_catches_a_typo(tmp_path):
    (tmp_path / "Pulumi.qa.yaml").write_text("config:\n  gyrinx-tasks:servicUrl: https://x\n")
    known = {f"{settings.PROJECT}:{key}" for key in settings.KNOWN_KEYS}
    assert set(stack_config.stack_config("qa", tmp_path)) - known == {"gyrinx-tasks:servicUrl"}


def actionlint() -> str:
    found = shutil.which("actionlint", path=str(Path(sys.executable).parent))
    if not found:
        pytest.fail("actionlint is not installed in the venv (requirements.txt)")
    return found


def test_workflows_pass_actionlint():
    result = subprocess.run([actionlint(), *map(str, WORKFLOWS)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_catches_a_broken_workflow(tmp_path):
    broken = tmp_path / "broken.yml"
    broken.write_text(
        "on: push\njobs:\n  x:\n    runs-on: ubuntu-24.04\n    steps:\n      - run: echo ${{ github.nope }}\n"
    )
    assert subprocess.run([actionlint(), str(broken)], capture_output=True, check=False).returncode == 1


def workflow(name: str) -> dict:
    # PyYAML reads the bare key `on` as True.
    return yaml.safe_load((ROOT / ".github" / "workflows" / name).read_text())


def test_workflows_default_to_read_only_permissions():
    for path in WORKFLOWS:
        assert workflow(path.name)["permissions"] == {"contents": "read"}, path.name


def test_only_jobs_that_need_them_get_write_permissions():
    pr = workflow("pull-request.yml")["jobs"]
    assert "permissions" not in pr["test"]
    assert pr["preview"]["permissions"] == {"contents": "read", "id-token": "write", "pull-requests": "write"}
    deploy = workflow("deploy.yml")["jobs"]
    for job in deploy.values():
        assert job["permissions"] == {"contents": "read", "id-token": "write"}


def test_prod_deploys_after_dev_behind_its_environment_one_at_a_time():
    jobs = workflow("deploy.yml")["jobs"]
    assert jobs["up-prod"]["needs"] == "up-dev"
    assert jobs["up-prod"]["environment"] == "prod"
    for job in jobs.values():
        assert job["concurrency"]["cancel-in-progress"] is False
    assert jobs["up-dev"]["concurrency"]["group"] != jobs["up-prod"]["concurrency"]["group"]


def test_actions_are_pinned():
    for path in WORKFLOWS:
        for job in workflow(path.name)["jobs"].values():
            for step in job.get("steps", []):
                if "uses" in step:
                    name, _, ref = step["uses"].partition("@")
                    assert ref and ref not in ("main", "master", "latest"), step["uses"]
                    if name != "pulumi/actions":  # no verified commit for it offline: README "Pinning"
                        assert len(ref) == 40 and all(c in "0123456789abcdef" for c in ref), step["uses"]


def test_pull_requests_run_the_tests_preview_both_stacks_and_guard_deletions():
    jobs = workflow("pull-request.yml")["jobs"]
    assert any(step.get("run") == "./dev test" for step in jobs["test"]["steps"])
    assert jobs["preview"]["strategy"]["matrix"]["stack"] == ["dev", "prod"]
    steps = jobs["preview"]["steps"]
    preview = next(s for s in steps if s.get("uses", "").startswith("pulumi/actions"))
    assert preview["with"]["command"] == "preview" and preview["with"]["comment-on-pr"] is True
    assert any("./dev guard preview.json" in s.get("run", "") for s in steps)
