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

from tools import deletion_guard, stack_config

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
DEPLOY_IDENTITY = "GCP_DEPLOY_SERVICE_ACCOUNT"
PREVIEW_SECRETS = {"PULUMI_ACCESS_TOKEN", "PULUMI_CONFIG_PASSPHRASE"}
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
            target = line.split("uses:", 1)[1].split("#")[0].strip() if "uses:" in line else ""
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


def test_only_the_preview_may_write_to_pull_requests_and_only_the_refresh_may_push():
    for name, job_id, job in all_jobs():
        permissions = job.get("permissions", {})
        if permissions.get("pull-requests") == "write":
            assert (name, job_id) in {("pull-request.yml", "preview"), ("registry-refresh.yml", "pull-request")}
        if permissions.get("contents") == "write":
            assert (name, job_id) == ("registry-refresh.yml", "pull-request")


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


def pull_request_jobs() -> Iterator[tuple[str, str, dict[str, Any]]]:
    """Every job a pull request runs, with the jobs of the reusable workflows they call."""
    for path in WORKFLOWS:
        document = workflow(path.name)
        if {"pull_request", "pull_request_target"} & set(triggers(document)):
            for job_id, job in document["jobs"].items():
                yield path.name, job_id, job
                for called in called_jobs(job):
                    yield path.name, job_id, called


def test_no_pull_request_job_uses_an_environment_or_the_deploy_identity():
    # Without `environment:` the OIDC subject is repo:ORG/REPO:pull_request, which the deploy
    # identity's binding refuses; and environment variables (the deploy identity's email) are
    # not even visible to a job outside its environment.
    jobs = list(pull_request_jobs())
    assert jobs
    for name, job_id, job in jobs:
        assert "environment" not in job, f"{name} {job_id}"
        assert DEPLOY_IDENTITY not in yaml.safe_dump(job), f"{name} {job_id}"


def test_previews_authenticate_as_the_stacks_preview_identity():
    steps = workflow("pull-request.yml")["jobs"]["preview"]["steps"]
    auth = steps[step_index(steps, lambda s: uses(s, "google-github-actions/auth"))]["with"]
    assert auth["service_account"] == "${{ fromJSON(vars.GCP_PREVIEW_SERVICE_ACCOUNTS)[matrix.stack] }}"
    assert auth["workload_identity_provider"] == "${{ fromJSON(vars.GCP_WORKLOAD_IDENTITY_PROVIDERS)[matrix.stack] }}"


def test_a_pull_request_reads_only_the_secrets_a_preview_needs():
    text = (GITHUB / "workflows" / "pull-request.yml").read_text()
    assert set(re.findall(r"secrets\.(\w+)", text)) == PREVIEW_SECRETS
    jobs = workflow("pull-request.yml")["jobs"]
    for job_id in ("test", "stacks"):
        assert "secrets." not in yaml.safe_dump(jobs[job_id]), job_id


def test_deploys_run_in_the_stacks_environment_as_its_deploy_identity_one_at_a_time():
    job = workflow("deploy-stack.yml")["jobs"]["up"]
    assert job["environment"] == "${{ inputs.stack }}"
    assert job["concurrency"] == {"group": "pulumi-up-${{ inputs.stack }}", "cancel-in-progress": False}
    steps = job["steps"]
    auth = steps[step_index(steps, lambda s: uses(s, "google-github-actions/auth"))]["with"]
    assert auth["service_account"] == f"${{{{ vars.{DEPLOY_IDENTITY} }}}}"


# --- the pull-request workflow ---------------------------------------------------------------


def test_label_changes_rerun_the_pull_request_checks():
    # The default types are opened, synchronize and reopened (docs: events-that-trigger-workflows#pull_request).
    types = triggers(workflow("pull-request.yml"))["pull_request"]["types"]
    assert {"opened", "synchronize", "reopened", "labeled", "unlabeled"} <= set(types)


def test_pull_requests_run_the_tests_on_every_supported_python():
    jobs = workflow("pull-request.yml")["jobs"]
    assert any(step.get("run") == "./dev test" for step in jobs["test"]["steps"])
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


def test_each_preview_is_commented_policy_checked_and_guarded_with_the_label():
    steps = workflow("pull-request.yml")["jobs"]["preview"]["steps"]
    comment = steps[step_index(steps, lambda s: s.get("with", {}).get("command") == "preview")]["with"]
    assert comment["comment-on-pr"] is True and comment["policyPacks"] == "policy"
    guard = step_index(steps, lambda s: runs(s, "./dev guard"))
    assert steps[guard]["run"] == "./dev guard preview.json --mentioned-in pr.diff"
    assert steps[guard]["env"][deletion_guard.ALLOW_ENV] == (
        f"${{{{ contains(github.event.pull_request.labels.*.name, '{deletion_guard.ALLOW_LABEL}') }}}}"
    )
    assert step_index(steps, lambda s: runs(s, "pulumi preview --stack")) < guard
    assert step_index(steps, lambda s: runs(s, "> pr.diff")) < guard


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


def test_the_guard_reads_a_fresh_preview_and_the_merged_pull_request_before_up():
    steps = deploy_stack_steps()
    up = step_index(steps, lambda s: s.get("with", {}).get("command") == "up")
    guard = step_index(steps, lambda s: runs(s, "./dev guard"))
    assert steps[guard]["run"] == "./dev guard preview.json --mentioned-in pr.diff"
    pr = step_index(steps, lambda s: runs(s, "/commits/${SHA}/pulls"))
    assert (
        steps[guard]["env"][deletion_guard.ALLOW_ENV]
        == f"${{{{ steps.{steps[pr]['id']}.outputs.allow-task-deletions }}}}"
    )
    preview = step_index(steps, lambda s: runs(s, "pulumi preview --stack"))
    assert runs(steps[preview], "--json --policy-pack policy > preview.json")
    assert pr < guard and preview < guard < up
    assert steps[up]["with"]["policyPacks"] == "policy"


def test_the_flags_reach_the_cloud_run_service_after_up():
    steps = deploy_stack_steps()
    up = step_index(steps, lambda s: s.get("with", {}).get("command") == "up")
    before = step_index(steps, lambda s: runs(s, "> outputs-before.json"))
    flags = step_index(steps, lambda s: runs(s, "gcloud run services update"))
    assert before < up < flags


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


def test_cloud_stacks_are_the_stack_files_less_example():
    names = stack_config.stack_names()
    listed = json.loads(cloud_stacks(ROOT).stdout)
    assert "example" in names and "example" not in listed
    assert listed == [name for name in names if name != "example"]


def test_a_new_stack_file_is_a_new_cloud_stack(tmp_path):
    stack_files(tmp_path, "example", "dev", "staging")
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


def merged_pull(number: int, labels: list[str]) -> dict[str, Any]:
    """One entry of GET /repos/{owner}/{repo}/commits/{sha}/pulls: a "pull-request-simple"
    (docs.github.com/rest/commits/commits#list-pull-requests-associated-with-a-commit), cut to
    the fields the step reads and a few around them."""
    return {
        "number": number,
        "state": "closed",
        "title": "Remove send_digest",
        "merged_at": "2026-03-01T10:00:00Z",
        "merge_commit_sha": "f" * 40,
        "labels": [{"id": i, "name": name, "color": "ededed", "default": False} for i, name in enumerate(labels)],
        "base": {"ref": "main", "sha": "a" * 40},
        "head": {"ref": "remove-digest", "sha": "b" * 40},
    }


def pr_step() -> dict[str, Any]:
    steps = deploy_stack_steps()
    return steps[step_index(steps, lambda s: runs(s, "/commits/${SHA}/pulls"))]


def run_pr_step(workdir: Path, pulls: list[dict[str, Any]]) -> subprocess.CompletedProcess[str]:
    (workdir / "pulls.json").write_text(json.dumps(pulls))
    fake_command(
        workdir / "bin",
        "gh",
        "if args[0] == 'api':\n    print(open('pulls.json').read())\n"
        "elif args[:2] == ['pr', 'diff']:\n    print(f'diff --git a/registry/gyrinx.json b/registry/gyrinx.json (#{args[2]})')\n",
    )
    return run_step(pr_step(), workdir, {"GH_TOKEN": "t", "REPO": "org/gyrinx-tasks", "SHA": "c" * 40})


def step_outputs(workdir: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in (workdir / "output").read_text().splitlines())


def test_the_deploy_reads_the_merged_pull_requests_diff_and_label(workdir):
    result = run_pr_step(workdir, [merged_pull(42, ["infra", deletion_guard.ALLOW_LABEL])])
    assert result.returncode == 0, result.stderr
    assert step_outputs(workdir) == {"allow-task-deletions": "true"}
    assert "(#42)" in (workdir / "pr.diff").read_text()
    assert ["gh", "api", f"repos/org/gyrinx-tasks/commits/{'c' * 40}/pulls"] in calls(workdir)


def test_a_merged_pull_request_without_the_label_approves_nothing(workdir):
    assert run_pr_step(workdir, [merged_pull(7, ["infra"])]).returncode == 0
    assert step_outputs(workdir) == {"allow-task-deletions": "false"}


def test_a_commit_without_a_merged_pull_request_gets_no_diff_and_no_approval(workdir):
    result = run_pr_step(workdir, [])
    assert result.returncode == 0, result.stderr
    assert step_outputs(workdir) == {"allow-task-deletions": "false"}
    assert (workdir / "pr.diff").read_text() == ""
    assert "::warning::" in result.stdout


def flags_step() -> dict[str, Any]:
    steps = deploy_stack_steps()
    return steps[step_index(steps, lambda s: runs(s, "gcloud run services update"))]


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
            },
            "traffic": [{"latestRevision": True, "percent": 100}],
        },
    }


def run_flags_step(workdir: Path, config: dict[str, str], before: dict, after: dict, service: dict):
    """Runs the flags step with ``pulumi config get`` answering from ``config`` as the CLI does
    with Pulumi.yaml's defaults applied (pkg/cmd/pulumi/config/config.go: ApplyProjectConfig,
    then "configuration key ... not found" for a key with no value and no default)."""
    (workdir / "config.json").write_text(json.dumps(config))
    (workdir / "after.json").write_text(json.dumps(after))
    (workdir / "service.json.fake").write_text(json.dumps(service))
    (workdir / "outputs-before.json").write_text(json.dumps(before))
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
        "    print(open('after.json').read())\n",
    )
    fake_command(
        workdir / "bin",
        "gcloud",
        "if args[:3] == ['run', 'services', 'describe']:\n    print(open('service.json.fake').read())\n",
    )
    return run_step(flags_step(), workdir, {"STACK": "dev"})


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
    assert result.returncode == 0, result.stderr
    assert gcloud_updates(workdir) == [
        [
            service,
            "--project",
            config["gcp:project"],
            "--region",
            config["gcp:region"],
            "--update-env-vars=ENABLE_BATCH_JOB=False",
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
        cloud_run_service([{"name": "ENABLE_BATCH_JOB", "value": "False"}]),
    )
    assert result.returncode == 0, result.stderr
    assert gcloud_updates(workdir) == [] and "already has" in result.stdout


def test_a_stack_without_a_cloud_run_service_touches_no_service(workdir):
    config = dev_config() | {"gyrinx-tasks:cloudRunService": ""}
    result = run_flags_step(workdir, config, {}, stack_outputs({"ENABLE_BATCH_JOB": False}), cloud_run_service([]))
    assert result.returncode == 0, result.stderr
    assert not [call for call in calls(workdir) if call[0] == "gcloud"]


def test_an_unreadable_output_fails_the_step_instead_of_skipping_it(workdir):
    result = run_flags_step(workdir, dev_config(), {}, {"tasks": {}}, cloud_run_service([]))
    assert result.returncode != 0
    assert gcloud_updates(workdir) == [] and "no `flags` output" in result.stderr


# --- CODEOWNERS and the policy pack's lock ---------------------------------------------------

OWNED = [".github/workflows/deploy.yml", ".github/CODEOWNERS", "policy/policies.py", "policy/requirements.txt"]
OWNED += ["tools/deletion_guard.py", "tools/plan_diff.py", "infra/ownership.py"]


def codeowners() -> list[tuple[str, list[str]]]:
    rules = []
    for line in (GITHUB / "CODEOWNERS").read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            pattern, *owners = line.split()
            rules.append((pattern, owners))
    return rules


def owners_of(path: str) -> list[str]:
    """The owners of ``path``: the last matching rule wins (docs.github.com "About code owners").
    Only anchored patterns are used (checked below), so a pattern matches its own path and,
    ending in /, everything under it."""
    owners: list[str] = []
    for pattern, rule_owners in codeowners():
        bare = pattern.lstrip("/")
        if path == bare or (bare.endswith("/") and path.startswith(bare)):
            owners = rule_owners
    return owners


def test_codeowners_patterns_are_anchored_and_name_existing_paths():
    for pattern, owners in codeowners():
        assert pattern.startswith("/") and owners, pattern
        assert (ROOT / pattern.lstrip("/")).exists(), pattern


@pytest.mark.parametrize("path", OWNED)
def test_what_guards_a_deploy_has_code_owners(path):
    assert (ROOT / path).exists()
    owners = owners_of(path)
    assert owners and all(owner.startswith("@") for owner in owners)


def test_codeowners_matching_leaves_other_files_unowned():
    assert owners_of("infra/task_queue.py") == []


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


def test_a_refresh_already_proposed_pushes_nothing_and_opens_no_second_pull_request(clone):
    (clone / "registry" / "gyrinx.json").write_text('[{"name": "send_digest"}]\n')
    assert run_refresh_step(clone).returncode == 0
    branch = workflow("registry-refresh.yml")["env"]["BRANCH"]
    first = git(clone, "rev-parse", f"origin/{branch}")
    # The next run starts from main again and takes the same refreshed files.
    git(clone, "switch", "--quiet", "main")
    git(clone, "branch", "--quiet", "-D", branch)
    (clone / "registry" / "gyrinx.json").write_text('[{"name": "send_digest"}]\n')
    result = run_refresh_step(clone)
    assert result.returncode == 0, result.stderr
    assert git(clone, "rev-parse", f"origin/{branch}") == first
    assert "already carries" in result.stdout and "up to date" in result.stdout
    assert len(gh_calls(clone, "pr", "create")) == 1


# --- the identity checks before Google authentication ----------------------------------------

PROVIDER = "projects/1/locations/global/workloadIdentityPools/github/providers/github"


def identity_check(name: str, job_id: str) -> dict[str, Any]:
    steps = workflow(name)["jobs"][job_id]["steps"]
    return steps[step_index(steps, lambda s: str(s.get("name", "")).startswith("Check the"))]


@pytest.mark.parametrize(
    ("providers", "accounts", "missing"),
    [
        ("", "", "GCP_WORKLOAD_IDENTITY_PROVIDERS"),
        (json.dumps({"prod": PROVIDER}), json.dumps({"dev": "p@x"}), "GCP_WORKLOAD_IDENTITY_PROVIDERS"),
        (json.dumps({"dev": PROVIDER}), "not json", "GCP_PREVIEW_SERVICE_ACCOUNTS"),
        (json.dumps({"dev": PROVIDER}), json.dumps({"dev": ""}), "GCP_PREVIEW_SERVICE_ACCOUNTS"),
    ],
)
def test_a_preview_without_its_identity_configured_names_the_variable(tmp_path, providers, accounts, missing):
    env = {"STACK": "dev", "PROVIDERS": providers, "ACCOUNTS": accounts}
    result = run_step(identity_check("pull-request.yml", "preview"), tmp_path, env)
    assert result.returncode == 1 and f"::error::repository variable {missing} " in result.stdout


def test_a_configured_preview_identity_passes_the_check(tmp_path):
    env = {"STACK": "dev", "PROVIDERS": json.dumps({"dev": PROVIDER}), "ACCOUNTS": json.dumps({"dev": "p@x"})}
    assert run_step(identity_check("pull-request.yml", "preview"), tmp_path, env).returncode == 0


def test_a_deploy_without_its_identity_configured_stops(tmp_path):
    providers = json.dumps({"prod": PROVIDER})
    result = run_step(identity_check("deploy-stack.yml", "up"), tmp_path, {"STACK": "prod", "PROVIDERS": providers})
    assert result.returncode == 1 and f"no variable {DEPLOY_IDENTITY}" in result.stdout
    env = {"STACK": "prod", "PROVIDERS": providers, "ACCOUNT": "pulumi-deployer@p.iam.gserviceaccount.com"}
    assert run_step(identity_check("deploy-stack.yml", "up"), tmp_path, env).returncode == 0
