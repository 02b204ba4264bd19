"""The GitHub workflows (.github/), as GitHub, actionlint and zizmor read them, and their shell
steps run against stand-ins for gh, pulumi and gcloud.

Sources for what is asserted:
- workflow syntax: docs.github.com/actions/reference/workflows-and-actions/workflow-syntax;
- OIDC subjects: docs.github.com/actions/reference/security/oidc (a job with ``environment:``
  gets ``repo:ORG/REPO:environment:NAME``, a pull_request job without one
  ``repo:ORG/REPO:pull_request``);
- pulumi/actions v7.0.0 (8e5e406f4007fca908480587cb9893c07090f58d) ``src/main.ts`` and
  ``src/config.ts``: without ``command`` it only installs the CLI; it installs no Python
  dependencies, so each job builds ./venv and policy/venv itself.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tools import stack_config

ROOT = Path(__file__).resolve().parent.parent
GITHUB = ROOT / ".github"
WORKFLOWS = sorted((GITHUB / "workflows").glob("*.yml"))
VENV_BIN = Path(sys.executable).parent
CLOUD_STACKS = GITHUB / "scripts" / "cloud-stacks.sh"
SHA_PIN = re.compile(r"^[0-9a-f]{40}$")
# `uses: owner/repo@<40 hex> # v1.2.3`: the version a SHA stands for, kept beside it.
PINNED_LINE = re.compile(r"uses:\s*(?P<action>[^@\s]+)@(?P<ref>\S+)\s+#\s*(?P<version>v\d+(?:\.\d+)*)\s*$")
# A reusable workflow or action of this repository: GitHub's self-repository syntax ($/, which
# zizmor's self-repository audit asks for) or the workspace-relative one.
LOCAL_USES = ("$/", "./")
USES_KEY = re.compile(r"^\s*(?:-\s+)?uses:")
EXPORT_COMMAND = (
    "./dev export-registry --app-source app --app-python app/.venv/bin/python "
    "--django-settings gyrinx.settings --output registry/gyrinx.json"
)


# --- reading the workflows -------------------------------------------------------------------


def workflow(name: str) -> dict[str, Any]:
    """A workflow file as GitHub reads it."""
    return yaml.safe_load((GITHUB / "workflows" / name).read_text())


def triggers(document: dict[str, Any]) -> dict[str, Any]:
    """The ``on:`` mapping (PyYAML reads the bare key ``on`` as True)."""
    on = document.get("on", document.get(True))
    return on if isinstance(on, dict) else {name: None for name in ([on] if isinstance(on, str) else on)}


def all_jobs() -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(file, job id, job) for every job of every workflow."""
    for path in WORKFLOWS:
        for job_id, job in workflow(path.name)["jobs"].items():
            yield path.name, job_id, job


def all_steps() -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(file, job id, step) for every step of every workflow."""
    for name, job_id, job in all_jobs():
        for step in job.get("steps", []):
            yield name, job_id, step


def step_index(steps: list[dict[str, Any]], predicate: Any) -> int:
    """The position of the one step matching ``predicate``."""
    found = [i for i, step in enumerate(steps) if predicate(step)]
    assert len(found) == 1, f"expected one matching step, found {len(found)}"
    return found[0]


def uses(step: dict[str, Any], action: str) -> bool:
    """Whether the step runs ``action`` (``owner/repo``), at any ref."""
    return str(step.get("uses", "")).partition("@")[0] == action


def runs(step: dict[str, Any], text: str) -> bool:
    """Whether the step's shell script contains ``text``."""
    return text in str(step.get("run", ""))


def called_jobs(job: dict[str, Any]) -> list[dict[str, Any]]:
    """The jobs of the reusable workflow a job calls (none for a job with steps)."""
    target = str(job.get("uses", ""))
    for prefix in LOCAL_USES:
        if target.startswith(prefix):
            return list(yaml.safe_load((ROOT / target[len(prefix) :]).read_text())["jobs"].values())
    return []


def deploy_stack_steps() -> list[dict[str, Any]]:
    """The steps of the job that deploys one stack."""
    return workflow("deploy-stack.yml")["jobs"]["up"]["steps"]


# --- actionlint and zizmor -------------------------------------------------------------------


def venv_tool(name: str) -> str:
    found = shutil.which(name, path=str(VENV_BIN))
    if not found:
        pytest.fail(f"{name} is not installed in the venv (requirements.txt)")
    return found


def actionlint(*paths: Path) -> subprocess.CompletedProcess[str]:
    """actionlint over ``paths``. It runs shellcheck over each `run:` script when it finds one;
    GitHub's runner images carry one, this venv may not, so the choice is explicit: the venv's
    shellcheck when installed, else none (the same result on every machine)."""
    shellcheck = shutil.which("shellcheck", path=str(VENV_BIN)) or ""
    return subprocess.run(
        [venv_tool("actionlint"), f"-shellcheck={shellcheck}", *map(str, paths)],
        capture_output=True,
        text=True,
        check=False,
    )


def test_workflows_pass_actionlint():
    result = actionlint(*WORKFLOWS)
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_catches_a_broken_workflow(tmp_path):
    broken = tmp_path / "broken.yml"
    broken.write_text(
        "on: push\njobs:\n  x:\n    runs-on: ubuntu-24.04\n    steps:\n      - run: echo ${{ github.nope }}\n"
    )
    assert actionlint(broken).returncode == 1


def zizmor(path: Path) -> subprocess.CompletedProcess[str]:
    """zizmor, offline (its online audits need the GitHub API), over ``path``: every workflow
    and dependabot.yml it finds there (``--collect`` default; docs.zizmor.sh/usage)."""
    return subprocess.run(
        [venv_tool("zizmor"), "--offline", "--no-progress", "--color=never", str(path)],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
    )


def test_zizmor_finds_nothing():
    result = zizmor(GITHUB)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "No findings to report" in result.stdout


def test_zizmor_catches_an_unpinned_action(tmp_path):
    # Its default unpinned-uses policy wants a hash pin on every action (docs.zizmor.sh/audits/#unpinned-uses).
    (tmp_path / "w.yml").write_text(
        "on: push\npermissions: {}\njobs:\n  x:\n    runs-on: ubuntu-24.04\n    permissions: {}\n"
        "    steps:\n      - uses: actions/setup-python@v7\n"
    )
    result = zizmor(tmp_path / "w.yml")
    assert result.returncode != 0 and "unpinned-uses" in result.stdout


# --- pinning and checkouts -------------------------------------------------------------------


def test_every_action_is_pinned_to_a_commit_with_its_version_beside_it():
    for path in WORKFLOWS:
        for number, line in enumerate(path.read_text().splitlines(), 1):
            key = USES_KEY.match(line)  # a `uses:` key, not e.g. `statuses:`
            target = line[key.end() :].split("#")[0].strip() if key else ""
            if not target or target.startswith(LOCAL_USES):
                continue
            match = PINNED_LINE.search(line)
            assert match and SHA_PIN.match(match["ref"]), f"{path.name}:{number}: {line.strip()}"


def test_each_action_is_pinned_to_one_commit_everywhere():
    pins: dict[str, set[tuple[str, str]]] = {}
    for path in WORKFLOWS:
        for match in filter(None, map(PINNED_LINE.search, path.read_text().splitlines())):
            pins.setdefault(match["action"], set()).add((match["ref"], match["version"]))
    assert pins, "no pinned actions found"
    assert {action: refs for action, refs in pins.items() if len(refs) > 1} == {}


def test_every_checkout_leaves_no_credentials_behind():
    # actions/checkout keeps the token in the git config unless persist-credentials is false.
    checkouts = [(name, step) for name, _, step in all_steps() if uses(step, "actions/checkout")]
    assert checkouts
    for name, step in checkouts:
        assert step.get("with", {}).get("persist-credentials") is False, name


def test_no_run_script_expands_an_expression():
    # Values reach scripts through env:, so no `${{ }}` is pasted into shell code
    # (template injection: docs.zizmor.sh/audits/#template-injection).
    for name, job_id, step in all_steps():
        assert "${{" not in str(step.get("run", "")), f"{name} {job_id}: {step.get('name', step['run'])}"


def test_the_pulumi_cli_is_the_version_of_the_locked_sdk():
    locked = re.search(r"^pulumi==(\S+)", (ROOT / "requirements.txt").read_text(), re.MULTILINE)
    assert locked and (GITHUB / "pulumi-version").read_text().strip() == locked[1]
    steps = [step for _, _, step in all_steps() if uses(step, "pulumi/actions")]
    assert steps
    for step in steps:
        assert step["with"]["pulumi-version-file"] == ".github/pulumi-version"


# --- permissions, identities and secrets -----------------------------------------------------


def test_workflows_grant_nothing_by_default():
    for path in WORKFLOWS:
        assert workflow(path.name)["permissions"] == {}, path.name


def test_only_previews_and_deploys_may_ask_for_an_oidc_token():
    allowed = {
        ("pull-request.yml", "preview"),
        ("deploy-stack.yml", "up"),
        ("deploy.yml", "before-prod"),
        ("deploy.yml", "prod"),
    }
    for name, job_id, job in all_jobs():
        if job.get("permissions", {}).get("id-token") == "write":
            assert (name, job_id) in allowed


# --- the pull-request workflow ---------------------------------------------------------------


def test_pull_requests_run_the_tests_on_every_supported_python():
    jobs = workflow("pull-request.yml")["jobs"]
    assert any(runs(step, "./dev test\n") for step in jobs["test"]["steps"])
    assert any(runs(step, "zizmor --offline") for step in jobs["test"]["steps"])
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    oldest = pyproject["tool"]["mypy"]["python_version"]
    assert pyproject["tool"]["ruff"]["target-version"] == "py" + oldest.replace(".", "")
    tested = jobs["test"]["strategy"]["matrix"]["python"]
    minors = [int(version.split(".")[1]) for version in tested]
    assert tested[0] == oldest and minors == list(range(minors[0], minors[-1] + 1))


def test_every_workflow_deploys_and_previews_on_the_newest_tested_python():
    tested = workflow("pull-request.yml")["jobs"]["test"]["strategy"]["matrix"]["python"]
    for path in WORKFLOWS:
        assert workflow(path.name)["env"]["PYTHON_VERSION"] == tested[-1], path.name


def test_previews_cover_the_stacks_the_stack_files_name():
    jobs = workflow("pull-request.yml")["jobs"]
    listing = jobs["stacks"]["steps"][step_index(jobs["stacks"]["steps"], lambda s: runs(s, "cloud-stacks.sh"))]
    assert listing["run"] == 'echo "stacks=$(.github/scripts/cloud-stacks.sh)" >> "$GITHUB_OUTPUT"'
    assert jobs["stacks"]["outputs"]["stacks"] == f"${{{{ steps.{listing['id']}.outputs.stacks }}}}"
    assert jobs["preview"]["strategy"]["matrix"]["stack"] == "${{ fromJSON(needs.stacks.outputs.stacks) }}"


def test_the_policy_pack_venv_is_built_before_any_policy_run():
    for name, job_id, job in all_jobs():
        steps = job.get("steps", [])
        policy_runs = [
            i for i, s in enumerate(steps) if runs(s, "--policy-pack policy") or s.get("with", {}).get("policyPacks")
        ]
        if policy_runs:
            built = step_index(steps, lambda s: runs(s, "-r policy/requirements.txt"))
            assert built < min(policy_runs), f"{name} {job_id}"
            assert runs(steps[built], "python -m venv policy/venv") and runs(steps[built], "--require-hashes")


# --- the deploy workflow ---------------------------------------------------------------------


def deploy_order(directory: Path) -> dict[str, str]:
    """Run deploy.yml's stack listing step in ``directory`` and return its outputs."""
    step = workflow("deploy.yml")["jobs"]["stacks"]["steps"][-1]
    output = directory / "github_output"
    output.write_text("")
    scripts = directory / ".github" / "scripts"
    scripts.mkdir(parents=True, exist_ok=True)
    shutil.copy(CLOUD_STACKS, scripts / CLOUD_STACKS.name)
    subprocess.run(
        ["bash", "-c", step["run"]], cwd=directory, env={**os.environ, "GITHUB_OUTPUT": str(output)}, check=True
    )
    return dict(line.split("=", 1) for line in output.read_text().splitlines())


def test_every_cloud_stack_deploys_and_prod_deploys_last(tmp_path):
    """The deploy's stacks come from the stack files: every cloud stack but prod in the
    first job (one at a time), then prod (GitHub docs, "Using a matrix for your jobs":
    max-parallel; "Using jobs in a workflow": needs and if)."""
    jobs = workflow("deploy.yml")["jobs"]
    cloud = json.loads(subprocess.run([CLOUD_STACKS], capture_output=True, text=True, check=True, cwd=ROOT).stdout)
    for stack_file in ROOT.glob("Pulumi.*.yaml"):
        shutil.copy(stack_file, tmp_path / stack_file.name)
    outputs = deploy_order(tmp_path) if shutil.which("jq") else None
    if outputs is not None:
        assert json.loads(outputs["before-prod"]) == [s for s in cloud if s != "prod"]
        assert outputs["prod"] == json.dumps("prod" in cloud)
    before = jobs["before-prod"]
    assert before["strategy"]["matrix"]["stack"] == "${{ fromJSON(needs.stacks.outputs.before-prod) }}"
    assert before["strategy"]["max-parallel"] == 1 and before["with"]["stack"] == "${{ matrix.stack }}"
    assert "before-prod" in jobs["prod"]["needs"] and jobs["prod"]["with"]["stack"] == "prod"
    # prod needs every earlier deploy to have succeeded (or to have had nothing to do): a
    # cancelled one must stop it too, which failure() alone would not (GitHub docs,
    # "Status check functions").
    condition = jobs["prod"]["if"]
    assert "needs.before-prod.result" in condition and '["success", "skipped"]' in condition


@pytest.mark.skipif(not shutil.which("jq"), reason="jq runs the listing step (GitHub's runners have it)")
def test_a_new_stack_file_deploys_before_prod_with_no_workflow_change(tmp_path):
    for stack in ("example", "dev", "prod", "staging"):
        (tmp_path / f"Pulumi.{stack}.yaml").write_text("config: {}\n")
    assert deploy_order(tmp_path) == {"before-prod": '["dev","staging"]', "prod": "true"}


def test_every_deploy_waits_for_the_tests_and_the_stack_list():
    jobs = workflow("deploy.yml")["jobs"]
    assert set(jobs["before-prod"]["needs"]) == {"test", "stacks"}
    assert {"test", "stacks"} <= set(jobs["prod"]["needs"])


# --- the registry refresh --------------------------------------------------------------------


def test_the_refresh_runs_on_a_schedule_by_hand_and_on_the_apps_dispatch():
    on = triggers(workflow("registry-refresh.yml"))
    assert on["schedule"] and on["repository_dispatch"]["types"]
    assert "app-ref" in on["workflow_dispatch"]["inputs"]


def test_the_refresh_exports_with_the_apps_own_python_then_plans():
    steps = workflow("registry-refresh.yml")["jobs"]["export"]["steps"]
    app = steps[step_index(steps, lambda s: s.get("with", {}).get("path") == "app")]["with"]
    assert app["repository"] == "${{ vars.APP_REPOSITORY || 'gyrinx-app/gyrinx' }}"
    assert step_index(steps, lambda s: s.get("with", {}).get("python-version-file") == "app/.python-version") >= 0
    sync = step_index(steps, lambda s: s.get("run") == "uv sync --locked")
    assert steps[sync]["working-directory"] == "app"
    export = step_index(steps, lambda s: " ".join(str(s.get("run", "")).split()) == EXPORT_COMMAND)
    plans = step_index(steps, lambda s: s.get("run") == "./dev plans")
    assert step_index(steps, lambda s: uses(s, "astral-sh/setup-uv")) < sync < export < plans


def test_the_job_running_the_apps_code_can_only_read_and_holds_no_credentials():
    jobs = workflow("registry-refresh.yml")["jobs"]
    assert jobs["export"]["permissions"] == {"contents": "read"}
    text = yaml.safe_dump(jobs["export"])
    assert "secrets." not in text and "google-github-actions" not in text and "github.token" not in text
    assert "google-github-actions" not in (GITHUB / "workflows" / "registry-refresh.yml").read_text()


def test_the_refresh_opens_a_pull_request_only_for_registry_and_plans():
    job = workflow("registry-refresh.yml")["jobs"]["pull-request"]
    assert job["permissions"] == {"contents": "write", "pull-requests": "write"}
    assert not any(runs(step, "./dev") for step in job["steps"]), "the job that pushes runs no project or app code"
    opener = job["steps"][step_index(job["steps"], lambda s: runs(s, "gh pr create"))]["run"]
    assert "git status --porcelain -- registry plans" in opener and "git add registry plans" in opener


# --- cloud-stacks.sh -------------------------------------------------------------------------


def cloud_stacks(directory: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CLOUD_STACKS, *args], capture_output=True, text=True, check=False, cwd=directory)


def stack_files(directory: Path, *stacks: str) -> Path:
    for stack in stacks:
        (directory / f"Pulumi.{stack}.yaml").write_text("config: {}\n")
    return directory


OFFLINE_ONLY = ("example", "local")  # the guide's stand-in app; the emulator stack (docs/local.md)


def test_cloud_stacks_are_the_stack_files_less_the_offline_ones():
    names = stack_config.stack_names()
    listed = json.loads(cloud_stacks(ROOT).stdout)
    assert set(OFFLINE_ONLY) <= set(names) and not set(OFFLINE_ONLY) & set(listed)
    assert listed == [name for name in names if name not in OFFLINE_ONLY]


def test_a_new_stack_file_is_a_new_cloud_stack(tmp_path):
    stack_files(tmp_path, *OFFLINE_ONLY, "dev", "staging")
    assert json.loads(cloud_stacks(tmp_path).stdout) == ["dev", "staging"]


def test_no_stack_files_is_an_empty_list(tmp_path):
    assert json.loads(cloud_stacks(tmp_path).stdout) == []


# --- the deploy's shell steps, against stand-ins for gh, pulumi, gcloud and ./dev -------------


def fake_command(bin_dir: Path, name: str, body: str) -> None:
    """An executable ``name`` on PATH, written in Python; it sees ``args`` (argv[1:]) and ``log``."""
    path = bin_dir / name
    path.write_text(
        f"#!{sys.executable}\nimport json, os, sys\nargs = sys.argv[1:]\n"
        f"with open(os.environ['FAKE_LOG'], 'a') as log:\n    log.write(json.dumps([{name!r}, *args]) + '\\n')\n{body}"
    )
    path.chmod(0o755)


def run_step(step: dict[str, Any], workdir: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """A step's script as the runner runs it on Linux: ``bash --noprofile --norc -eo pipefail {0}``
    (workflow syntax, jobs.<job_id>.steps[*].shell)."""
    script = workdir / "step.sh"
    script.write_text(step["run"])
    full = {"PATH": f"{workdir / 'bin'}{os.pathsep}{os.environ['PATH']}", "HOME": str(workdir), **env}
    full |= {"GITHUB_OUTPUT": str(workdir / "output"), "FAKE_LOG": str(workdir / "log")}
    return subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)],
        cwd=workdir,
        env=full,
        capture_output=True,
        text=True,
        check=False,
    )


def calls(workdir: Path) -> list[list[str]]:
    log = workdir / "log"
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


@pytest.fixture
def workdir(tmp_path) -> Path:
    """A stand-in checkout: ./dev runs python (as `./dev py` does) and .github/scripts is there."""
    (tmp_path / "bin").mkdir()
    (tmp_path / ".github").mkdir()
    (tmp_path / ".github" / "scripts").symlink_to(GITHUB / "scripts")
    dev = tmp_path / "dev"
    dev.write_text(f'#!/usr/bin/env bash\n[ "$1" = py ] && shift\nexec {sys.executable} "$@"\n')
    dev.chmod(0o755)
    return tmp_path


def step_outputs(workdir: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in (workdir / "output").read_text().splitlines())


def deploy_step(text: str) -> dict[str, Any]:
    steps = deploy_stack_steps()
    return steps[step_index(steps, lambda s: runs(s, text))]


def stack_outputs(flags: dict[str, bool]) -> dict[str, Any]:
    """`pulumi stack output --json`: every output in one object (pulumi/pulumi
    pkg/cmd/pulumi/stack/stack_output.go, jsonStackOutputWriter.WriteMany), as __main__.py exports them."""
    return {"flags": flags, "pushEndpoint": "[secret]", "pushServiceAccount": "pubsub-invoker@p.iam", "tasks": {}}


def cloud_run_service(env: list[dict[str, Any]]) -> dict[str, Any]:
    """`gcloud run services describe --format=json`: the Knative Service message
    (google-cloud-sdk surface/run/services/describe.py; api_lib/run/k8s_object.py MakeSerializable)."""
    return {
        "apiVersion": "serving.knative.dev/v1",
        "kind": "Service",
        "metadata": {"name": "gyrinx", "namespace": "123456789012"},
        "spec": {
            "template": {
                "metadata": {"name": "gyrinx-00042-abc"},
                "spec": {
                    "containerConcurrency": 80,
                    "containers": [
                        {
                            "image": "europe-west2-docker.pkg.dev/p/r/gyrinx@sha256:" + "0" * 64,
                            "env": env,
                            "ports": [{"containerPort": 8080, "name": "http1"}],
                        }
                    ],
                },
            }
        },
    }


def fake_cloud(workdir: Path, config: dict[str, str], after: dict, service: dict) -> None:
    """``pulumi config get`` answering from ``config`` as the CLI does with Pulumi.yaml's
    defaults applied (pkg/cmd/pulumi/config/config.go: ApplyProjectConfig, then
    "configuration key ... not found" for a key with no value and no default); ``pulumi
    stack output --json`` answering ``after``; ``gcloud run services describe`` ``service``."""
    (workdir / "config.json").write_text(json.dumps(config))
    (workdir / "after.json").write_text(json.dumps(after))
    (workdir / "service.json.fake").write_text(json.dumps(service))
    fake_command(
        workdir / "bin",
        "pulumi",
        "config = json.load(open('config.json'))\n"
        "if args[:2] == ['config', 'get']:\n"
        "    key = args[2] if ':' in args[2] else 'gyrinx-tasks:' + args[2]\n"
        "    if key not in config:\n"
        "        sys.exit(f\"error: configuration key '{key}' not found for stack 'dev'\")\n"
        "    print(config[key])\n"
        "elif args[:3] == ['stack', 'output', '--json']:\n"
        "    print(open('after.json').read())\n"
        "elif args[:3] == ['config', '--json', '--show-secrets']:\n"
        "    flags = config.get('gyrinx-tasks:flags')\n"
        "    shown = {'value': flags, 'objectValue': json.loads(flags), 'secret': False} if flags else None\n"
        "    print(json.dumps({'gyrinx-tasks:flags': shown} if shown else {}))\n",
    )
    fake_command(
        workdir / "bin",
        "gcloud",
        "if args[:3] == ['run', 'services', 'describe']:\n    print(open('service.json.fake').read())\n",
    )


def service_of(workdir: Path) -> dict[str, str]:
    """The Cloud Run service step's outputs, as the later steps get them (``if:`` on its name)."""
    result = run_step(deploy_step("pulumi config get cloudRunService"), workdir, {"STACK": "dev"})
    assert result.returncode == 0, result.stderr
    outputs = dict(line.split("=", 1) for line in (workdir / "output").read_text().splitlines())
    return {"SERVICE": outputs["name"], "REGION": outputs["region"], "PROJECT": outputs["project"]}


def run_flags_step(workdir: Path, config: dict[str, str], before: dict, after: dict, service: dict):
    """The service step, then (when it names a service) the step that applies the flags."""
    fake_cloud(workdir, config, after, service)
    (workdir / "outputs-before.json").write_text(json.dumps(before))
    found = service_of(workdir)
    if not found["SERVICE"]:
        return None
    return run_step(deploy_step("gcloud run services update"), workdir, {"STACK": "dev", **found})


def dev_config() -> dict[str, str]:
    """The dev stack's file as `pulumi config get` answers for it, Pulumi.yaml's defaults included."""
    config = {key: str(value) for key, value in stack_config.stack_config("dev").items()}
    return {"gyrinx-tasks:cloudRunService": "", "gyrinx-tasks:cloudRunRegion": ""} | config


def gcloud_updates(workdir: Path) -> list[list[str]]:
    return [call[4:] for call in calls(workdir) if call[:4] == ["gcloud", "run", "services", "update"]]


def test_changed_flags_update_the_service_in_the_stacks_project_and_region(workdir):
    config = dev_config()
    service = config["gyrinx-tasks:cloudRunService"]
    assert service, "Pulumi.dev.yaml names a Cloud Run service"
    result = run_flags_step(
        workdir,
        config,
        stack_outputs({"ENABLE_OLD": True}),
        stack_outputs({"ENABLE_BATCH_JOB": False}),
        cloud_run_service([{"name": "DB_HOST", "value": "10.0.0.3"}, {"name": "ENABLE_OLD", "value": "True"}]),
    )
    assert result is not None and result.returncode == 0, result.stderr
    assert gcloud_updates(workdir) == [
        [
            service,
            "--project",
            config["gcp:project"],
            "--region",
            config["gcp:region"],
            "--update-env-vars=ENABLE_BATCH_JOB=False,GYRINX_TASKS_MANAGED_FLAGS=ENABLE_BATCH_JOB",
            "--remove-env-vars=ENABLE_OLD",
        ]
    ]


def test_the_region_is_cloud_run_region_when_set(workdir):
    config = dev_config() | {"gyrinx-tasks:cloudRunRegion": "us-central1"}
    run_flags_step(workdir, config, {}, stack_outputs({"ENABLE_BATCH_JOB": True}), cloud_run_service([]))
    (update,) = gcloud_updates(workdir)
    assert update[update.index("--region") + 1] == "us-central1"


def test_a_service_that_already_has_the_flags_is_left_alone(workdir):
    flags = {"ENABLE_BATCH_JOB": False}
    result = run_flags_step(
        workdir,
        dev_config(),
        stack_outputs(flags),
        stack_outputs(flags),
        cloud_run_service(
            [
                {"name": "ENABLE_BATCH_JOB", "value": "False"},
                {"name": "GYRINX_TASKS_MANAGED_FLAGS", "value": "ENABLE_BATCH_JOB"},
            ]
        ),
    )
    assert result is not None and result.returncode == 0, result.stderr
    assert gcloud_updates(workdir) == [] and "already has" in result.stdout


def test_a_stack_without_a_cloud_run_service_touches_no_service(workdir):
    config = dev_config() | {"gyrinx-tasks:cloudRunService": ""}
    result = run_flags_step(workdir, config, {}, stack_outputs({"ENABLE_BATCH_JOB": False}), cloud_run_service([]))
    assert result is None
    assert not [call for call in calls(workdir) if call[0] == "gcloud"]
    for text in ("gcloud run services update", "--after outputs-planned.json"):
        assert deploy_step(text)["if"] == "steps.service.outputs.name != ''"


def test_an_unreadable_output_fails_the_step_instead_of_skipping_it(workdir):
    result = run_flags_step(workdir, dev_config(), {}, {"tasks": {}}, cloud_run_service([]))
    assert result is not None and result.returncode != 0
    assert gcloud_updates(workdir) == [] and "no `flags` output" in result.stderr


# --- CODEOWNERS and the policy pack's lock ---------------------------------------------------


def locked_versions(path: Path) -> dict[str, str]:
    text = path.read_text()
    return {name.lower(): version for name, version in re.findall(r"^([A-Za-z0-9_.-]+)==(\S+)", text, re.MULTILINE)}


def test_the_policy_pack_runs_on_the_versions_its_tests_import():
    policy = locked_versions(ROOT / "policy" / "requirements.txt")
    project = locked_versions(ROOT / "requirements.txt")
    assert {"pulumi", "pulumi-policy"} <= set(policy)
    assert {name: version for name, version in policy.items() if project.get(name) != version} == {}


def test_the_policy_pack_lock_hashes_every_package():
    blocks = re.split(r"\n(?=[A-Za-z0-9_.-]+==)", (ROOT / "policy" / "requirements.txt").read_text())
    packages = [block for block in blocks if re.match(r"[A-Za-z0-9_.-]+==", block)]
    assert packages and all("--hash=sha256:" in block for block in packages)


# --- the refresh's pull-request step, against a local remote and a stand-in gh ---------------


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True).stdout


@pytest.fixture
def clone(tmp_path) -> Path:
    """A clone of a repository holding registry/ and plans/ on main, its origin a local bare
    repository; gh stands in for GitHub's pull requests (one open once `pr create` ran)."""
    origin, work = tmp_path / "origin.git", tmp_path / "work"
    env = {"HOME": str(tmp_path), "GIT_CONFIG_NOSYSTEM": "1"}
    subprocess.run(
        ["git", "init", "--quiet", "--bare", "--initial-branch=main", str(origin)], check=True, env=os.environ | env
    )
    subprocess.run(["git", "clone", "--quiet", str(origin), str(work)], check=True, env=os.environ | env)
    for path, text in {"registry/gyrinx.json": "[]\n", "plans/dev.json": "{}\n"}.items():
        (work / path).parent.mkdir(parents=True, exist_ok=True)
        (work / path).write_text(text)
    for args in (["add", "."], ["-c", "user.name=t", "-c", "user.email=t@t", "commit", "--quiet", "-m", "init"]):
        subprocess.run(["git", *args], cwd=work, check=True, env=os.environ | env)
    subprocess.run(["git", "push", "--quiet", "origin", "main"], cwd=work, check=True, env=os.environ | env)
    (work / "bin").mkdir()
    fake_command(
        work / "bin",
        "gh",
        "if args[:2] == ['pr', 'list']:\n    print(open('open-pr').read() if os.path.exists('open-pr') else '')\n"
        "elif args[:2] == ['pr', 'create']:\n    open('open-pr', 'w').write('12')\n"
        "elif args[:2] == ['auth', 'git-credential']:\n    pass\n",
    )
    (work / ".git" / "info" / "exclude").write_text("bin/\nstep.sh\nlog\noutput\nopen-pr\n")
    return work


def run_refresh_step(clone: Path) -> subprocess.CompletedProcess[str]:
    job = workflow("registry-refresh.yml")["jobs"]["pull-request"]
    step = job["steps"][step_index(job["steps"], lambda s: runs(s, "gh pr create"))]
    env = {
        "GH_TOKEN": "t",
        "REPO": "org/gyrinx-tasks",
        "APP_REPOSITORY": "gyrinx-app/gyrinx",
        "APP_COMMIT": "d" * 40,
        "BRANCH": workflow("registry-refresh.yml")["env"]["BRANCH"],
        "GITHUB_SERVER_URL": "https://github.example",
        "GITHUB_REPOSITORY": "org/gyrinx-tasks",
        "GITHUB_RUN_ID": "1",
        "GIT_CONFIG_NOSYSTEM": "1",
    }
    return run_step(step, clone, env)


def gh_calls(clone: Path, *command: str) -> list[list[str]]:
    return [call for call in calls(clone) if call[: 1 + len(command)] == ["gh", *command]]


def test_an_unchanged_snapshot_opens_nothing(clone):
    result = run_refresh_step(clone)
    assert result.returncode == 0, result.stderr
    assert "already match" in result.stdout and gh_calls(clone, "pr") == []


def test_a_changed_snapshot_is_pushed_to_the_branch_and_gets_a_pull_request(clone):
    (clone / "registry" / "gyrinx.json").write_text('[{"name": "send_digest"}]\n')
    result = run_refresh_step(clone)
    assert result.returncode == 0, result.stderr
    branch = workflow("registry-refresh.yml")["env"]["BRANCH"]
    pushed = git(clone, "show", f"origin/{branch}:registry/gyrinx.json")
    assert "send_digest" in pushed
    assert git(clone, "log", "-1", "--format=%s", f"origin/{branch}").strip() == (
        f"Refresh the registry snapshot from gyrinx-app/gyrinx@{'d' * 12}"
    )
    (create,) = gh_calls(clone, "pr", "create")
    assert create[create.index("--base") + 1] == "main" and create[create.index("--head") + 1] == branch


def test_a_new_plan_file_counts_as_a_change(clone):
    (clone / "plans" / "staging.json").write_text("{}\n")
    assert run_refresh_step(clone).returncode == 0
    assert len(gh_calls(clone, "pr", "create")) == 1


def test_a_flag_on_a_variable_the_deploy_does_not_manage_stops_it_before_up(workdir):
    """Issue 15: with a route's kill switch named SECRET_KEY, the deploy would have set Django's
    signing key. The check runs before `pulumi up`, so nothing changes."""
    service = cloud_run_service([{"name": "SECRET_KEY", "valueFrom": {"secretKeyRef": {"name": "k", "key": "1"}}}])
    fake_cloud(workdir, dev_config() | {"gyrinx-tasks:flags": '{"SECRET_KEY": true}'}, {}, service)
    (workdir / "outputs-before.json").write_text("{}")
    check = deploy_step("--after outputs-planned.json")
    result = run_step(check, workdir, {"STACK": "dev", **service_of(workdir)})
    assert result.returncode == 2 and "SECRET_KEY" in result.stderr
    steps = deploy_stack_steps()
    assert steps.index(check) < step_index(steps, lambda s: runs(s, "pulumi up --stack"))


def test_flags_the_deploy_may_write_pass_the_check_before_up(workdir):
    service = cloud_run_service([{"name": "DB_HOST", "value": "10.0.0.3"}])
    fake_cloud(workdir, dev_config() | {"gyrinx-tasks:flags": '{"ENABLE_BATCH_JOB": true}'}, {}, service)
    (workdir / "outputs-before.json").write_text("{}")
    result = run_step(deploy_step("--after outputs-planned.json"), workdir, {"STACK": "dev", **service_of(workdir)})
    assert result.returncode == 0, result.stderr


def test_a_refresh_resets_the_branch_so_no_foreign_commit_survives(clone):
    """Anyone with write access can push to registry-refresh; each refresh makes the branch
    main plus the new export again, even when the snapshot itself did not change."""
    branch = workflow("registry-refresh.yml")["env"]["BRANCH"]
    (clone / "registry" / "gyrinx.json").write_text('[{"name": "send_digest"}]\n')
    assert run_refresh_step(clone).returncode == 0
    # A foreign commit on top of the proposed branch.
    git(clone, "switch", "--quiet", branch)
    (clone / "tools.py").write_text("print('not from the export')\n")
    git(clone, "add", "tools.py")
    git(clone, "-c", "user.name=x", "-c", "user.email=x@x", "commit", "--quiet", "-m", "sneak")
    git(clone, "push", "--quiet", "origin", branch)
    # The next refresh starts from main and exports the same snapshot.
    git(clone, "switch", "--quiet", "main")
    git(clone, "branch", "--quiet", "-D", branch)
    (clone / "registry" / "gyrinx.json").write_text('[{"name": "send_digest"}]\n')
    result = run_refresh_step(clone)
    assert result.returncode == 0, result.stderr
    git(clone, "fetch", "--quiet", "origin")
    assert git(clone, "rev-list", "--count", f"origin/main..origin/{branch}").strip() == "1"
    assert "tools.py" not in git(clone, "ls-tree", "-r", "--name-only", f"origin/{branch}")


def test_a_refresh_already_proposed_pushes_nothing_and_opens_no_second_pull_request(clone):
    (clone / "registry" / "gyrinx.json").write_text('[{"name": "send_digest"}]\n')
    assert run_refresh_step(clone).returncode == 0
    branch = workflow("registry-refresh.yml")["env"]["BRANCH"]
    first = git(clone, "rev-parse", f"origin/{branch}")
    git(clone, "switch", "--quiet", "main")
    git(clone, "branch", "--quiet", "-D", branch)
    (clone / "registry" / "gyrinx.json").write_text('[{"name": "send_digest"}]\n')
    result = run_refresh_step(clone)
    assert result.returncode == 0, result.stderr
    assert git(clone, "rev-parse", f"origin/{branch}") == first
    assert "already is main plus" in result.stdout and "up to date" in result.stdout
    assert len(gh_calls(clone, "pr", "create")) == 1
