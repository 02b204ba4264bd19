"""The gcloud arguments that give the Cloud Run service a stack's flags (.github/scripts/cloud_run_flags.py).

Inputs follow the real outputs: ``pulumi stack output --json`` prints one object of every
output (pulumi/pulumi ``pkg/cmd/pulumi/stack/stack_output.go``, ``jsonStackOutputWriter``);
``gcloud run services describe --format=json`` prints the Cloud Run Admin API v1 (Knative)
``Service``, env vars at ``spec.template.spec.containers[].env[]``, each an ``EnvVar`` with
``name`` and ``value`` ("Defaults to \"\"") or ``valueFrom`` ("Only supports
secret_key_ref"; Cloud Run Admin API v1 reference, EnvVar; google-cloud-sdk
``surface/run/services/describe.py``, ``api_lib/run/container_resource.py``).

The deploy touches only the variables it manages, recorded on the service in
``GYRINX_TASKS_MANAGED_FLAGS`` (issue 15 §4).
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


MANAGED = flags_script.MANAGED


def plain(**values: str) -> dict[str, Any]:
    """A service environment of plain variables."""
    return {name: flags_script.Variable(name, value) for name, value in values.items()}


def secret(name: str) -> Any:
    return flags_script.Variable(name, None)


def change(before: dict[str, bool], after: dict[str, bool], env: dict[str, Any]) -> list[str]:
    return flags_script.env_change(before, after, env).arguments()


def refusal(before: dict[str, bool], after: dict[str, bool], env: dict[str, Any]) -> str:
    with pytest.raises(flags_script.FlagsError) as raised:
        flags_script.env_change(before, after, env)
    return str(raised.value)


def test_a_flag_the_service_lacks_is_set_and_recorded():
    assert change({}, {"ENABLE_BATCH_JOB": False}, {}) == [
        f"--update-env-vars=ENABLE_BATCH_JOB=False,{MANAGED}=ENABLE_BATCH_JOB"
    ]


def test_values_are_spelled_as_the_app_compares_them():
    assert [flags_script.env_value(flag) for flag in (True, False)] == ["True", "False"]


def test_a_managed_flag_the_service_already_carries_is_left_alone():
    assert change({"A": True}, {"A": True}, plain(A="True", OTHER="x", **{MANAGED: "A"})) == []


def test_a_changed_managed_flag_is_updated():
    assert change({"A": True}, {"A": False}, plain(A="True", **{MANAGED: "A"})) == ["--update-env-vars=A=False"]


def test_a_managed_flag_the_stack_dropped_is_removed_and_unrecorded():
    env = plain(A="False", B="True", **{MANAGED: "A B"})
    assert change({"A": False, "B": True}, {"B": True}, env) == [
        f"--update-env-vars={MANAGED}=B",
        "--remove-env-vars=A",
    ]


def test_the_last_flag_dropped_removes_the_record_too():
    assert change({"A": False}, {}, plain(A="False", **{MANAGED: "A"})) == [f"--remove-env-vars=A,{MANAGED}"]


def test_a_variable_the_stack_never_set_is_never_removed():
    assert change({}, {}, plain(DB_HOST="10.0.0.3", ENABLE_X="False")) == []


def test_the_record_decides_what_is_removed_not_the_outputs():
    """A name the stack set before but the record does not list is the app's: kept."""
    env = plain(A="True", **{MANAGED: "B"}, B="True")
    assert change({"A": True, "B": True}, {"B": True}, env) == []


@pytest.mark.parametrize("name", ["SECRET_KEY", "GOOGLE_CLOUD_PROJECT", "EMAIL_USE_TLS"])
def test_a_flag_naming_a_plain_variable_of_the_app_is_refused(name):
    """Issue 15 §4: kill_switch SECRET_KEY with flags {SECRET_KEY: true} would have run
    --update-env-vars=SECRET_KEY=True."""
    message = refusal({}, {name: True}, plain(**{name: "the app's value"}))
    assert f"{name} is already one of the service's own variables (a plain value)" in message
    assert message.startswith("the service: refusing to change the app's own settings")


def test_a_flag_naming_a_variable_from_a_secret_is_refused():
    message = refusal({}, {"SECRET_KEY": True}, {"SECRET_KEY": secret("SECRET_KEY")})
    assert "SECRET_KEY is already one of the service's own variables (from a secret)" in message


def test_a_flag_the_stack_set_before_is_still_refused_when_the_service_holds_another_value():
    """Without a record, only a value this script would have written counts as its own."""
    assert "SECRET_KEY is already one of the service's own variables" in refusal(
        {"SECRET_KEY": True}, {"SECRET_KEY": False}, plain(SECRET_KEY="s3cr3t")
    )


def test_every_refused_flag_is_named_at_once():
    message = refusal({}, {"SECRET_KEY": True, "DEBUG": False}, plain(SECRET_KEY="x", DEBUG="False"))
    assert "DEBUG is already" in message and "SECRET_KEY is already" in message


def test_a_managed_flag_now_taken_from_a_secret_is_refused():
    env = {"A": secret("A"), **plain(**{MANAGED: "A"})}
    assert "A is now taken from a secret" in refusal({"A": True}, {"A": True}, env)


def test_a_record_taken_from_a_secret_is_refused():
    env = {MANAGED: secret(MANAGED)}
    assert f"{MANAGED} is taken from a secret" in refusal({}, {"A": True}, env)


def test_a_record_listing_what_is_not_a_flag_name_is_refused():
    assert "which are not flag names" in refusal({}, {}, plain(**{MANAGED: "A secret_key"}))


def test_a_service_deployed_before_the_record_adopts_the_flags_it_was_given():
    """The flags the stack set before, carried exactly as this script writes them."""
    env = plain(ENABLE_BATCH_JOB="False", SECRET_KEY="s3cr3t")
    assert change({"ENABLE_BATCH_JOB": False}, {"ENABLE_BATCH_JOB": True}, env) == [
        f"--update-env-vars=ENABLE_BATCH_JOB=True,{MANAGED}=ENABLE_BATCH_JOB"
    ]


def test_updates_and_removals_go_together_sorted():
    env = plain(OLD="True", **{MANAGED: "OLD"})
    assert change({"OLD": True}, {"Z": True, "A": False}, env) == [
        f"--update-env-vars=A=False,{MANAGED}=A Z,Z=True",
        "--remove-env-vars=OLD",
    ]


def test_every_flag_of_every_stack_file_becomes_a_variable():
    for stack, flags in stack_config.flags_by_stack().items():
        arguments = change({}, flags, {})
        expected = [f"{name}={'True' if value else 'False'}" for name, value in flags.items()]
        if flags:
            expected.append(f"{MANAGED}={' '.join(sorted(flags))}")
        assert arguments == ([f"--update-env-vars={','.join(sorted(expected))}"] if flags else []), stack


def test_the_env_of_the_only_container_is_read():
    env = [
        {"name": "A", "value": "True"},
        {"name": "EMPTY"},  # value "" is left out of the JSON
        {"name": "SECRET_KEY", "valueFrom": {"secretKeyRef": {"name": "django", "key": "latest"}}},
    ]
    assert flags_script.service_env(service(container(env)), "s") == {
        "A": flags_script.Variable("A", "True"),
        "EMPTY": flags_script.Variable("EMPTY", ""),
        "SECRET_KEY": flags_script.Variable("SECRET_KEY", None),
    }


def test_an_empty_plain_variable_is_the_apps_too():
    env = flags_script.service_env(service(container([{"name": "ENABLE_X"}])), "s")
    assert "(a plain value)" in refusal({}, {"ENABLE_X": True}, env)


def test_with_sidecars_the_ingress_container_is_read():
    sidecar = container([{"name": "A", "value": "sidecar"}], ports=False)
    ingress = container([{"name": "A", "value": "ingress"}])
    assert flags_script.service_env(service(sidecar, ingress), "s") == {"A": flags_script.Variable("A", "ingress")}


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
    described = service(container([{"name": "OLD", "value": "True"}, {"name": MANAGED, "value": "OLD"}]))
    status, out, _ = run(tmp_path, outputs({"OLD": True}), outputs({"NEW": False}), described, capsys)
    assert status == 0
    assert out.splitlines() == [f"--update-env-vars={MANAGED}=NEW,NEW=False", "--remove-env-vars=OLD"]


def test_a_stack_never_updated_has_no_flags_before(tmp_path, capsys):
    # `pulumi stack output --json` on a stack with no snapshot prints {}.
    status, out, _ = run(tmp_path, {}, outputs({"A": True}), service(container([])), capsys)
    assert (status, out) == (0, f"--update-env-vars=A=True,{MANAGED}=A\n")


def test_main_refuses_a_flag_that_would_overwrite_the_apps_setting(tmp_path, capsys):
    described = service(container([{"name": "SECRET_KEY", "value": "s3cr3t"}]))
    status, out, err = run(tmp_path, {}, outputs({"SECRET_KEY": True}), described, capsys)
    assert (status, out) == (2, "")
    assert err.startswith("error: ") and "SECRET_KEY is already one of the service's own variables" in err
    assert len(err.splitlines()) == 1


@pytest.mark.parametrize(
    ("before", "after", "described", "message"),
    [
        ({}, outputs(None), service(container([])), "no `flags` output"),
        ({}, outputs({"A": "yes"}), service(container([])), "true or false"),
        ({}, outputs({"a b": True}), service(container([])), "is not a flag name"),
        ({}, outputs({MANAGED: True}), service(container([])), "is not a flag name"),
        ([], outputs({}), service(container([])), "expected the JSON object"),
        ({}, outputs({}), {"kind": "Service"}, "not a Cloud Run service"),
        ({}, outputs({}), service(), "no containers"),
        ({}, outputs({}), service(container([], ports=False), container([], ports=False)), "ingress container"),
        ({}, outputs({}), service(container([{"value": "x"}])), "variables with names"),
        ({}, outputs({}), service(container([{"name": "A", "value": 1}])), "not a string"),
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


@pytest.mark.parametrize("which", ["before", "after", "service"])
def test_json_nested_100000_levels_is_one_line_and_exit_2(tmp_path, capsys, which):
    """Python's parser raises RecursionError on it; the script reads it as a bad input."""
    files = {
        name: write(tmp_path, f"{name}.json", outputs({}) if name != "service" else service(container([])))
        for name in ("before", "after", "service")
    }
    files[which].write_text("[" * 100_000 + "]" * 100_000)
    status = flags_script.main([item for name, path in files.items() for item in (f"--{name}", str(path))])
    err = capsys.readouterr().err
    assert status == 2
    assert err == f"error: {files[which]}: JSON nested too deeply to read\n"


@pytest.mark.parametrize("target", ["/dev/zero", "/dev/stdin", "directory"])
def test_what_is_not_a_regular_file_is_refused_without_reading_it(tmp_path, capsys, target):
    path = tmp_path if target == "directory" else Path(target)
    status = flags_script.main(["--before", str(path), "--after", str(path), "--service", str(path)])
    assert status == 2 and f"{path}: not a regular file" in capsys.readouterr().err


def test_the_script_runs_as_the_workflow_runs_it(tmp_path):
    """deploy-stack.yml runs `./dev py .github/scripts/cloud_run_flags.py ...` from the
    repository root: a plain script, so it may import nothing of the project."""
    import subprocess

    before = write(tmp_path, "before.json", {})
    after = write(tmp_path, "after.json", outputs({"ENABLE_X": False}))
    described = write(tmp_path, "service.json", service(container([])))
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--before", str(before), "--after", str(after), "--service", str(described)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert (result.returncode, result.stdout) == (0, f"--update-env-vars=ENABLE_X=False,{MANAGED}=ENABLE_X\n")
