"""Pulumi.yaml and the stack files, as the Pulumi CLI sees them (the workflows: test_workflows.py)."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml

from infra import settings
from tools import stack_config

ROOT = Path(__file__).resolve().parent.parent
# Pulumi's JSON schema of Pulumi.yaml (pulumi/pulumi sdk/go/common/workspace/project.json).
SCHEMA = ROOT / "tests" / "data" / "pulumi-project.schema.json"


def project() -> dict:
    return yaml.safe_load((ROOT / "Pulumi.yaml").read_text())


def schema() -> dict:
    return json.loads(SCHEMA.read_text())


def test_pulumi_yaml_validates_against_pulumis_schema():
    jsonschema.validate(project(), schema())


def test_an_invalid_pulumi_yaml_is_caught_by_the_schema():
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({**project(), "runtime": {"name": "python", "bogus": 1}}, schema())


def test_the_runtime_uses_the_readmes_venv():
    assert project()["runtime"] == {"name": "python", "options": {"toolchain": "pip", "virtualenv": "venv"}}


def test_every_non_object_key_is_declared_with_type_and_description():
    declared = project()["config"]
    # Objects cannot be typed in Pulumi.yaml (the project schema's config types), so the
    # table leaves them undeclared.
    assert set(declared) == {key.name for key in settings.KEYS if key.declared}
    assert {key.name for key in settings.KEYS if key.type == "object"}.isdisjoint(declared)
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
