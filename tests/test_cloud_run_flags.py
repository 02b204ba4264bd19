"""The gcloud arguments that give the Cloud Run service a stack's flags (.github/scripts/cloud_run_flags.py).

Inputs follow the real outputs: ``pulumi stack output --json`` prints one object of every
output (pulumi/pulumi ``pkg/cmd/pulumi/stack/stack_output.go``, ``jsonStackOutputWriter``);
``gcloud run services describe --format=json`` prints the Knative ``Service`` message, env
vars at ``spec.template.spec.containers[].env[]`` as ``{name, value}`` or ``{name, valueFrom}``
(google-cloud-sdk ``surface/run/services/describe.py``, ``api_lib/run/container_resource.py``).
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tools import stack_config

SCRIPT = Path(__file__).resolve().parent.parent / ".github" / "scripts" / "cloud_run_flags.py"


def load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("cloud_run_flags", SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look the module up by name
    spec.loader.exec_module(module)
    return module


flags_script = load()


def container(env: list[dict[str, Any]], ports: bool = True) -> dict[str, Any]:
    found: dict[str, Any] = {"image": "europe-west2-docker.pkg.dev/p/r/gyrinx:latest", "env": env}
    if ports:
        found["ports"] = [{"containerPort": 8080, "name": "http1"}]
    return found


def service(*containers: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "serving.knative.dev/v1",
        "kind": "Service",
        "metadata": {"name": "gyrinx"},
        "spec": {"template": {"spec": {"containers": list(containers)}}},
    }


def outputs(flags: dict[str, bool] | None) -> dict[str, Any]:
    found: dict[str, Any] = {"pushServiceAccount": "pubsub-invoker@p.iam.gserviceaccount.com", "tasks": {}}
    if flags is not None:
        found["flags"] = flags
    return found


def change(before: dict[str, bool], after: dict[str, bool], env: dict[str, str | None]) -> list[str]:
    return flags_script.env_change(before, after, env).arguments()


def test_a_flag_the_service_lacks_is_set():
    assert change({}, {"ENABLE_BATCH_JOB": False}, {}) == ["--update-env-vars=ENABLE_BATCH_JOB=False"]


def test_values_are_spelled_as_the_app_compares_them():
    assert [flags_script.env_value(flag) for flag in (True, False)] == ["True", "False"]


def test_a_flag_the_service_already_carries_is_left_alone():
    assert change({"A": True}, {"A": True}, {"A": "True", "OTHER": "x"}) == []


def test_a_changed_flag_is_updated():
    assert change({"A": True}, {"A": False}, {"A": "True"}) == ["--update-env-vars=A=False"]


def test_a_flag_the_stack_dropped_is_removed_from_the_service():
    assert change({"A": False, "B": True}, {"B": True}, {"A": "False", "B": "True"}) == ["--remove-env-vars=A"]


def test_a_variable_the_stack_never_set_is_never_removed():
    assert change({}, {}, {"DB_HOST": "10.0.0.3", "ENABLE_X": "False"}) == []


def test_updates_and_removals_go_together_sorted():
    env = {"OLD": "True"}
    assert change({"OLD": True}, {"Z": True, "A": False}, env) == [
        "--update-env-vars=A=False,Z=True",
        "--remove-env-vars=OLD",
    ]


def test_every_flag_of_every_stack_file_becomes_a_variable():
    for stack, flags in stack_config.flags_by_stack().items():
        arguments = change({}, flags, {})
        expected = [f"{name}={'True' if value else 'False'}" for name, value in sorted(flags.items())]
        assert arguments == ([f"--update-env-vars={','.join(expected)}"] if flags else []), stack


def test_the_env_of_the_only_container_is_read():
    env = [{"name": "A", "value": "True"}, {"name": "SECRET_KEY", "valueFrom": {"secretKeyRef": {"key": "latest"}}}]
    assert flags_script.service_env(service(container(env)), "s") == {"A": "True", "SECRET_KEY": None}


def test_with_sidecars_the_ingress_container_is_read():
    sidecar = container([{"name": "A", "value": "sidecar"}], ports=False)
    ingress = container([{"name": "A", "value": "ingress"}])
    assert flags_script.service_env(service(sidecar, ingress), "s") == {"A": "ingress"}


def test_a_container_without_env_has_none():
    assert flags_script.service_env(service({"image": "i"}), "s") == {}


def write(tmp_path: Path, name: str, document: Any) -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(document))
    return path


def run(tmp_path: Path, before: Any, after: Any, described: Any, capsys) -> tuple[int, str, str]:
    status = flags_script.main(
        [
            "--before",
            str(write(tmp_path, "before.json", before)),
            "--after",
            str(write(tmp_path, "after.json", after)),
            "--service",
            str(write(tmp_path, "service.json", described)),
        ]
    )
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_main_prints_one_argument_a_line(tmp_path, capsys):
    described = service(container([{"name": "OLD", "value": "True"}]))
    status, out, _ = run(tmp_path, outputs({"OLD": True}), outputs({"NEW": False}), described, capsys)
    assert status == 0
    assert out.splitlines() == ["--update-env-vars=NEW=False", "--remove-env-vars=OLD"]


def test_a_stack_never_updated_has_no_flags_before(tmp_path, capsys):
    # `pulumi stack output --json` on a stack with no snapshot prints {}.
    status, out, _ = run(tmp_path, {}, outputs({"A": True}), service(container([])), capsys)
    assert (status, out) == (0, "--update-env-vars=A=True\n")


@pytest.mark.parametrize(
    ("before", "after", "described", "message"),
    [
        ({}, outputs(None), service(container([])), "no `flags` output"),
        ({}, outputs({"A": "yes"}), service(container([])), "true or false"),
        ([], outputs({}), service(container([])), "expected the JSON object"),
        ({}, outputs({}), {"kind": "Service"}, "not a Cloud Run service"),
        ({}, outputs({}), service(), "no containers"),
        ({}, outputs({}), service(container([], ports=False), container([], ports=False)), "ingress container"),
    ],
)
def test_a_bad_input_is_one_line_and_exit_2(tmp_path, capsys, before, after, described, message):
    status, out, err = run(tmp_path, before, after, described, capsys)
    assert (status, out) == (2, "")
    assert message in err and len(err.splitlines()) == 1


def test_a_file_that_is_not_json_is_named(tmp_path, capsys):
    (tmp_path / "before.json").write_text("{")
    status = flags_script.main(
        ["--before", str(tmp_path / "before.json"), "--after", str(tmp_path / "x"), "--service", str(tmp_path / "y")]
    )
    assert status == 2 and "before.json: not JSON" in capsys.readouterr().err
