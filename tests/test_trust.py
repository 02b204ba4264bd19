"""Trust boundaries: nothing a pull request controls decides what it may delete.

The workflows are read as GitHub runs them (docs.github.com, "Events that trigger
workflows": a ``pull_request`` or ``pull_request_review`` run uses the pull request's own
workflow files and code; a ``workflow_run`` run uses the default branch's workflow file and
checks out the default branch; "Using environments for deployment": an environment's
secrets and variables reach only a job that names it, after its protection rules pass).
Their scripts run here with stand-in ``gh`` and ``./dev`` commands, the way the runner runs
a step (``bash --noprofile --norc -eo pipefail``).
"""

from __future__ import annotations

import fnmatch
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.test_deletion_guard import plan, preview_digest, tasks_of, without_tasks
from tests.test_workflows import (
    GITHUB,
    ROOT,
    WORKFLOWS,
    all_jobs,
    calls,
    fake_command,
    run_step,
    runs,
    step_index,
    triggers,
    uses,
    workflow,
)
from tools import approval

PULL_REQUEST_TRIGGERS = {"pull_request", "pull_request_target", "pull_request_review", "merge_group"}
STATE_CREDENTIALS = ("PULUMI_ACCESS_TOKEN", "PULUMI_CONFIG_PASSPHRASE")
HEAD = "b" * 40
MERGE = "f" * 40


def branch_workflows() -> list[str]:
    """The workflows a pull request runs with its own files and code."""
    return [path.name for path in WORKFLOWS if PULL_REQUEST_TRIGGERS & set(triggers(workflow(path.name)))]


def guard_job() -> dict[str, Any]:
    return workflow("pull-request-guard.yml")["jobs"]["guard"]


def deploy_steps() -> list[dict[str, Any]]:
    return workflow("deploy-stack.yml")["jobs"]["up"]["steps"]


# --- who holds what ---------------------------------------------------------------------------


def test_no_pull_request_job_can_reach_a_state_write_or_deploy_credential():
    """A pull request's jobs read no secret at all, and the only environments they name are the
    preview ones, whose identities only read state and decrypt with one stack's key."""
    assert branch_workflows() == ["pull-request.yml"]
    for name in branch_workflows():
        text = (GITHUB / "workflows" / name).read_text()
        assert "secrets." not in text, name
        for job_id, job in workflow(name)["jobs"].items():
            environment = job.get("environment")
            assert environment in (None, "preview-${{ matrix.stack }}"), job_id
            wants_token = job.get("permissions", {}).get("id-token") == "write"
            assert wants_token == (environment is not None), job_id


def test_no_workflow_holds_a_shared_passphrase():
    """Secrets are encrypted per stack with its own KMS key (gcpkms://), not a passphrase every
    job could use to read every stack's secrets."""
    for path in WORKFLOWS:
        assert "PULUMI_CONFIG_PASSPHRASE" not in path.read_text(), path.name


def test_deploy_environments_are_named_only_by_workflows_a_branch_cannot_run():
    for name, job_id, job in all_jobs():
        if job.get("environment") == "${{ inputs.stack }}":
            assert name == "deploy-stack.yml", job_id
    assert set(triggers(workflow("deploy-stack.yml"))) == {"workflow_call"}
    assert set(triggers(workflow("deploy.yml"))) == {"push"}


def test_cloud_stacks_declare_a_kms_secrets_provider_of_their_own():
    listed = subprocess.run(
        [GITHUB / "scripts" / "cloud-stacks.sh"], capture_output=True, text=True, check=True, cwd=ROOT
    )
    providers = {}
    for stack in json.loads(listed.stdout):
        document = yaml.safe_load((ROOT / f"Pulumi.{stack}.yaml").read_text())
        providers[stack] = document.get("secretsprovider", "")
        assert providers[stack].startswith("gcpkms://projects/"), stack
    assert len(set(providers.values())) == len(providers)


# --- the guard runs the base branch's code ------------------------------------------------------


def test_the_guard_runs_from_the_default_branch_after_the_pull_requests_run():
    document = workflow("pull-request-guard.yml")
    on = triggers(document)
    assert on == {"workflow_run": {"workflows": [workflow("pull-request.yml")["name"]], "types": ["completed"]}}
    steps = guard_job()["steps"]
    checkouts = [step for step in steps if uses(step, "actions/checkout")]
    assert len(checkouts) == 1 and set(checkouts[0]["with"]) == {"persist-credentials"}
    assert guard_job()["permissions"] == {
        "actions": "read",
        "contents": "read",
        "pull-requests": "read",
        "statuses": "write",
    }
    assert "secrets." not in yaml.safe_dump(document)


def test_the_pull_request_workflow_no_longer_judges_itself():
    text = (GITHUB / "workflows" / "pull-request.yml").read_text()
    assert "./dev guard" not in text and "./dev approval" not in text
    steps = workflow("pull-request.yml")["jobs"]["preview"]["steps"]
    preview = steps[step_index(steps, lambda s: runs(s, "pulumi preview --stack"))]["run"]
    assert "--json --show-replacement-steps --policy-pack policy > preview.json" in preview
    upload = steps[step_index(steps, lambda s: uses(s, "actions/upload-artifact"))]
    assert upload["with"]["path"] == "preview.json"
    assert upload["with"]["name"] == "preview-${{ matrix.stack }}"


def test_reviews_rerun_the_previews_so_the_guard_sees_an_approval():
    on = triggers(workflow("pull-request.yml"))
    assert set(on["pull_request_review"]["types"]) == {"submitted", "dismissed"}


def _copy(source: Path, target: Path) -> Path:
    shutil.copytree(
        source,
        target,
        ignore=shutil.ignore_patterns("venv", ".venv-*", ".git", ".pulumi-local", "__pycache__", ".mypy_cache"),
        symlinks=True,
    )
    # ./dev runs the checkout's own tools with this interpreter (no venv to set up).
    dev = target / "dev"
    dev.write_text(f'#!/usr/bin/env bash\ncd "$(dirname "$0")"\nexec {sys.executable} -m tools "$@"\n')
    dev.chmod(0o755)
    return target


# The patch: three lines in tools/cli.py, a file with no stricter owner, that empty
# the guard's verdict exactly when the workflows call it without an approval.
PATCH = (
    "import os  # noqa\n"
    "if os.environ.get('GYRINX_TASKS_ALLOW_DELETIONS') == 'false':\n"
    "    deletion_guard.violations = lambda *a, **k: []\n"
)


@pytest.fixture
def attack(tmp_path) -> dict[str, Path]:
    """A base checkout, a pull request's checkout carrying the patch, and the pull request's
    run's data: a preview of each cloud stack (dev removes a task the diff does not name)."""
    base = _copy(ROOT, tmp_path / "base")
    branch = _copy(ROOT, tmp_path / "branch")
    with (branch / "tools" / "cli.py").open("a") as cli:
        cli.write(PATCH)
    previews, data = tmp_path / "previews", tmp_path / "pr"
    data.mkdir()
    (data / "pr.diff").write_text("diff --git a/README.md b/README.md\n+ a typo fixed\n")
    old = plan("dev")
    stacks = json.loads(
        subprocess.run(
            [GITHUB / "scripts" / "cloud-stacks.sh"], capture_output=True, text=True, check=True, cwd=ROOT
        ).stdout
    )
    for stack in stacks:
        document = plan(stack) if stack != "dev" else old
        changed = without_tasks(old, {tasks_of(old)[0]}) if stack == "dev" else document
        (previews / f"preview-{stack}").mkdir(parents=True)
        (previews / f"preview-{stack}" / "preview.json").write_text(json.dumps(preview_digest(document, changed)))
    return {"base": base, "branch": branch, "previews": previews, "data": data}


def _guard_step() -> dict[str, Any]:
    steps = guard_job()["steps"]
    return steps[step_index(steps, lambda s: runs(s, "./dev guard"))]


def test_the_patched_branch_would_pass_its_own_guard(attack):
    """The patch works when the branch's code judges itself: this is what the issue found."""
    preview = attack["previews"] / "preview-dev" / "preview.json"
    result = subprocess.run(
        [sys.executable, "-m", "tools", "guard", str(preview), "--mentioned-in", str(attack["data"] / "pr.diff")],
        cwd=attack["branch"],
        env={"PATH": "/usr/bin:/bin", "GYRINX_TASKS_ALLOW_DELETIONS": "false"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "OK: nothing here needs approval." in result.stdout


@pytest.mark.skipif(not shutil.which("jq"), reason="the step lists the stacks with jq (GitHub's runners have it)")
def test_the_base_branchs_guard_still_refuses_the_patched_branchs_removal(attack):
    """The guard workflow's step, run in the base checkout over the patched branch's preview
    (data only), refuses the removal the patch would wave through."""
    env = {
        "GYRINX_TASKS_ALLOW_DELETIONS": "false",
        "PREVIEWS": str(attack["previews"]),
        "DATA": str(attack["data"]),
    }
    result = run_step(_guard_step(), attack["base"], env)
    assert result.returncode == 1, result.stdout + result.stderr
    task = tasks_of(plan("dev"))[0]
    assert f"task {task}, which the pull request does not mention" in result.stdout


@pytest.mark.skipif(not shutil.which("jq"), reason="the step lists the stacks with jq (GitHub's runners have it)")
def test_a_stack_whose_preview_is_missing_fails_the_guard(attack):
    """A prod preview waiting for its environment's approval leaves no artifact: fail closed."""
    shutil.rmtree(attack["previews"] / "preview-prod")
    env = {"GYRINX_TASKS_ALLOW_DELETIONS": "true", "PREVIEWS": str(attack["previews"]), "DATA": str(attack["data"])}
    result = run_step(_guard_step(), attack["base"], env)
    assert result.returncode == 1 and "::error::no preview of prod" in result.stdout


# --- approvals: GitHub's records, the last commit, a maintainer ---------------------------------


def pull(**changes: Any) -> dict[str, Any]:
    """GET /repos/{owner}/{repo}/pulls/{number} (docs.github.com/en/rest/pulls/pulls#get-a-pull-request),
    cut to the fields read and a few around them."""
    return {
        "number": 42,
        "state": "open",
        "user": {"login": "contributor"},
        "head": {"ref": "remove-digest", "sha": HEAD},
        "base": {"ref": "main", "sha": "a" * 40},
        "merged_at": None,
        "merge_commit_sha": None,
    } | changes


def review(login: str, state: str = "APPROVED", commit: str = HEAD, body: str = "allow-task-deletions", at: str = ""):
    """One entry of GET .../pulls/{number}/reviews (docs.github.com/en/rest/pulls/reviews)."""
    return {
        "id": 1,
        "user": {"login": login},
        "body": body,
        "state": state,
        "commit_id": commit,
        "submitted_at": at or "2026-03-01T09:00:00Z",
        "author_association": "MEMBER",
    }


def role(login: str, name: str) -> dict[str, Any]:
    """GET .../collaborators/{login}/permission: ``permission`` folds maintain into write and
    triage into read; ``role_name`` keeps it (docs.github.com/en/rest/collaborators/collaborators)."""
    folded = {"admin": "admin", "maintain": "write", "write": "write", "triage": "read", "read": "read"}
    return {"permission": folded[name], "role_name": name, "user": {"login": login}}


ROLES = approval.roles([role("maintainer", "maintain"), role("owner", "admin"), role("writer", "write")])


def graphql_reviews(reviews: list[dict[str, Any]], edited_by: dict[int, str] | None = None) -> dict[str, Any]:
    """The answer to .github/scripts/reviews.graphql for ``reviews`` (``review()`` dicts):
    PullRequestReview nodes (docs.github.com/en/graphql/reference/objects#pullrequestreview:
    state, body, submittedAt, lastEditedAt, author, editor, commit). ``edited_by`` maps a
    review's position to whoever last edited its text."""
    edited_by = edited_by or {}
    nodes = [
        {
            "state": r["state"],
            "body": r["body"],
            "submittedAt": r["submitted_at"],
            "lastEditedAt": "2026-03-01T09:30:00Z" if i in edited_by else None,
            "author": {"login": r["user"]["login"]},
            "editor": {"login": edited_by[i]} if i in edited_by else None,
            "commit": {"oid": r["commit_id"]},
        }
        for i, r in enumerate(reviews)
    ]
    return {"data": {"repository": {"pullRequest": {"reviews": {"totalCount": len(nodes), "nodes": nodes}}}}}


def decide(
    reviews: list[dict[str, Any]], edited_by: dict[int, str] | None = None, **pull_changes: Any
) -> approval.Verdict:
    """decide() over ``reviews`` as the workflows read them (through GraphQL)."""
    read = approval.reviews_from_graphql(graphql_reviews(reviews, edited_by))
    return approval.decide(pull(**pull_changes), read, ROLES, base="main")


def test_a_maintainers_approval_of_the_last_commit_counts():
    assert decide([review("maintainer")]).approved
    assert decide([review("owner")]).approved


@pytest.mark.parametrize(
    ("reviews", "why"),
    [
        ([review("maintainer", commit="c" * 40)], "an approval of an earlier commit: a push came after it"),
        ([review("writer")], "write access is not enough"),
        ([review("maintainer", body="LGTM")], "the approval does not say allow-task-deletions"),
        ([review("maintainer", body="do not allow-task-deletions-please")], "the word is not whole"),
        ([review("maintainer", body="I won't allow-task-deletions here")], "not a line of its own"),
        ([review("maintainer", body="> allow-task-deletions")], "a quote"),
        ([review("maintainer", state="DISMISSED")], "a dismissed review"),
        ([review("maintainer", state="COMMENTED")], "a comment is not an approval"),
        ([review("maintainer"), review("maintainer", state="CHANGES_REQUESTED")], "withdrawn by a later review"),
        ([review("stranger")], "no role on the repository"),
    ],
)
def test_what_does_not_count_as_an_approval(reviews, why):
    assert not decide(reviews).approved, why


def test_the_author_cannot_approve_their_own_pull_request():
    assert not approval.decide(pull(user={"login": "maintainer"}), [review("maintainer")], ROLES, base="main").approved


def test_a_pull_request_into_another_branch_approves_nothing():
    assert not decide([review("maintainer")], base={"ref": "release", "sha": "a" * 40}).approved


def test_a_deploy_reads_the_approval_as_it_stood_at_merge():
    merged = {"merged_at": "2026-03-01T10:00:00Z", "merge_commit_sha": MERGE}
    before, after = review("maintainer", at="2026-03-01T09:59:59Z"), review("maintainer", at="2026-03-01T10:00:01Z")
    assert approval.decide(pull(**merged), [before], ROLES, base="main", merged_as=MERGE).approved
    assert not approval.decide(pull(**merged), [after], ROLES, base="main", merged_as=MERGE).approved
    assert not approval.decide(pull(**merged), [before], ROLES, base="main", merged_as="e" * 40).approved


def commit_pulls(*numbers_and_shas: tuple[int, str]) -> list[dict[str, Any]]:
    """GET .../commits/{sha}/pulls (docs.github.com/en/rest/commits/commits#list-pull-requests-associated-with-a-commit)."""
    return [
        pull(number=number, state="closed", merged_at="2026-03-01T10:00:00Z", merge_commit_sha=sha)
        for number, sha in numbers_and_shas
    ]


def test_the_deploy_takes_the_pull_request_merged_as_its_commit_into_main():
    assert approval.merged_pull(commit_pulls((7, "e" * 40), (42, MERGE)), MERGE, "main") == 42
    into_release = [pull(number=9, merged_at="t", merge_commit_sha=MERGE, base={"ref": "release"})]
    assert approval.merged_pull(into_release, MERGE, "main") is None


def test_a_commit_that_merged_several_pull_requests_is_refused():
    with pytest.raises(approval.UnreadableRecord, match="merge queue"):
        approval.merged_pull(commit_pulls((7, MERGE), (42, MERGE)), MERGE, "main")


def test_the_merge_queue_is_refused_with_a_clear_message():
    document = workflow("pull-request.yml")
    assert "merge_group" in triggers(document)
    job = document["jobs"]["merge-queue"]
    assert job["if"] == "github.event_name == 'merge_group'"
    assert "does not support merge queues" in job["steps"][0]["run"]
    for job_id, other in document["jobs"].items():
        if job_id != "merge-queue":
            assert "github.event_name != 'merge_group'" in other["if"], job_id


def _gh(workdir: Path, answers: dict[str, Any]) -> None:
    """A stand-in gh: `api PATH` answers from ``answers`` (by the path's last parts)."""
    (workdir / "answers.json").write_text(json.dumps(answers))
    fake_command(
        workdir / "bin",
        "gh",
        "answers = json.load(open(os.path.join(os.path.dirname(os.environ['FAKE_LOG']), 'answers.json')))\n"
        "if args[0] == 'api':\n"
        "    path = [a for a in args[1:] if not a.startswith('-')][0]\n"
        "    key = next(k for k in answers if path.endswith(k))\n"
        "    value = answers[key]\n"
        "    print(json.dumps(value))\n"
        "elif args[:2] == ['pr', 'diff']:\n"
        "    print(f'diff --git a/registry/gyrinx.json b/registry/gyrinx.json (#{args[2]})')\n",
    )


def _answers(reviews: list[dict[str, Any]], **pull_changes: Any) -> dict[str, Any]:
    current = pull(**pull_changes)
    return {
        "/pulls": [current],
        "/pulls/42": current,
        "graphql": graphql_reviews(reviews),
        "/maintainer/permission": role("maintainer", "maintain"),
        "/writer/permission": role("writer", "write"),
    }


@pytest.fixture
def checkout(tmp_path) -> Path:
    """The base checkout a step runs in: this repository's tools through a stand-in ./dev
    (and base/dev, as the deploy checks the guard's code out there)."""
    work = tmp_path / "work"
    (work / "bin").mkdir(parents=True)
    for place in (work, work / "base"):
        place.mkdir(exist_ok=True)
        dev = place / "dev"
        dev.write_text(f'#!/usr/bin/env bash\ncd {ROOT}\nexec {sys.executable} -m tools "$@"\n')
        dev.chmod(0o755)
    return work


def _pr_step(steps: list[dict[str, Any]]) -> dict[str, Any]:
    return steps[step_index(steps, lambda s: runs(s, "/pulls"))]


@pytest.mark.skipif(not shutil.which("jq"), reason="the step reads the answers with jq (GitHub's runners have it)")
@pytest.mark.parametrize(("reviewer", "approved"), [("maintainer", "true"), ("writer", "false")])
def test_the_guard_workflow_asks_github_who_approved(checkout, reviewer, approved):
    _gh(checkout, _answers([review(reviewer)]))
    env = {"GH_TOKEN": "t", "REPO": "org/gyrinx-tasks", "HEAD_SHA": HEAD, "DATA": str(checkout / "data")}
    result = run_step(_pr_step(guard_job()["steps"]), checkout, env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert (checkout / "output").read_text() == f"allow-task-deletions={approved}\n"
    assert ["gh", "api", f"repos/org/gyrinx-tasks/collaborators/{reviewer}/permission"] in calls(checkout)


@pytest.mark.skipif(not shutil.which("jq"), reason="the step reads the answers with jq (GitHub's runners have it)")
@pytest.mark.parametrize(
    ("when", "approved"), [("2026-03-01T09:00:00Z", "true"), ("2026-03-01T11:00:00Z", "false")], ids=["before", "after"]
)
def test_the_deploy_reads_the_approval_given_before_the_merge(checkout, when, approved):
    merged = {"state": "closed", "merged_at": "2026-03-01T10:00:00Z", "merge_commit_sha": MERGE}
    _gh(checkout, _answers([review("maintainer", at=when)], **merged))
    env = {"GH_TOKEN": "t", "REPO": "org/gyrinx-tasks", "SHA": MERGE, "DATA": str(checkout / "data")}
    result = run_step(_pr_step(deploy_steps()), checkout, env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert (checkout / "output").read_text() == f"allow-task-deletions={approved}\n"
    assert "(#42)" in (checkout / "data" / "pr.diff").read_text()


@pytest.mark.skipif(not shutil.which("jq"), reason="the step reads the answers with jq (GitHub's runners have it)")
def test_a_commit_without_a_merged_pull_request_gets_no_diff_and_no_approval(checkout):
    _gh(checkout, {"/pulls": []})
    env = {"GH_TOKEN": "t", "REPO": "org/gyrinx-tasks", "SHA": MERGE, "DATA": str(checkout / "data")}
    result = run_step(_pr_step(deploy_steps()), checkout, env)
    assert result.returncode == 0, result.stderr
    assert (checkout / "output").read_text() == "allow-task-deletions=false\n"
    assert (checkout / "data" / "pr.diff").read_text() == "" and "::warning::" in result.stdout


# --- the deploy: base code, a saved plan, up held to it -----------------------------------------


def test_the_deploy_guards_with_the_code_main_had_before_the_push():
    for job_id in ("before-prod", "prod"):
        assert workflow("deploy.yml")["jobs"][job_id]["with"]["guard-ref"] == "${{ github.event.before }}"
    steps = deploy_steps()
    base = steps[step_index(steps, lambda s: s.get("with", {}).get("path") == "base")]
    assert base["with"]["ref"] == "${{ inputs.guard-ref }}"
    guard = steps[step_index(steps, lambda s: runs(s, "dev guard"))]
    assert guard["run"].startswith("base/dev guard ")
    assert "./dev approval" not in yaml.safe_dump(steps) and "base/dev approval" in yaml.safe_dump(steps)


def test_the_update_is_held_to_the_preview_the_guard_checked():
    steps = deploy_steps()
    preview = step_index(steps, lambda s: runs(s, "pulumi preview --stack"))
    guard = step_index(steps, lambda s: runs(s, "dev guard"))
    up = step_index(steps, lambda s: runs(s, "pulumi up --stack"))
    assert preview < guard < up
    assert "--show-replacement-steps" in steps[preview]["run"] and "--save-plan plan.json" in steps[preview]["run"]
    assert "--plan plan.json" in steps[up]["run"] and "--policy-pack policy" in steps[up]["run"]
    assert not any(s.get("with", {}).get("command") == "up" for s in steps), "one way to run up: the CLI, with --plan"


def test_the_flags_reach_the_cloud_run_service_after_up():
    steps = deploy_steps()
    up = step_index(steps, lambda s: runs(s, "pulumi up --stack"))
    before = step_index(steps, lambda s: runs(s, "> outputs-before.json"))
    flags = step_index(steps, lambda s: runs(s, "gcloud run services update"))
    assert before < up < flags


# --- owners of every path -----------------------------------------------------------------------


def owner_rules() -> list[tuple[str, list[str]]]:
    rules = []
    for line in (GITHUB / "CODEOWNERS").read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            pattern, *owners = line.split()
            rules.append((pattern, owners))
    return rules


def owners_of(path: str) -> list[str]:
    """The last matching rule wins (docs.github.com, "About code owners"). Patterns follow
    .gitignore rules; the ones used here: ``*`` (every file), an anchored path, an anchored
    directory ending in ``/`` (everything under it), an anchored glob."""
    owners: list[str] = []
    for pattern, rule_owners in owner_rules():
        bare = pattern.lstrip("/")
        matches = (
            pattern == "*"
            or path == bare
            or (bare.endswith("/") and path.startswith(bare))
            or ("*" in bare and "/" not in bare and fnmatch.fnmatchcase(path, bare))
        )
        if matches:
            owners = rule_owners
    return owners


def tracked_files() -> list[str]:
    listed = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    return [line for line in listed.splitlines() if (ROOT / line).exists()]


def test_every_file_has_a_code_owner():
    unowned = [path for path in tracked_files() if not owners_of(path)]
    assert unowned == []


STRICT = [
    ".github/workflows/pull-request-guard.yml",
    ".github/CODEOWNERS",
    "policy/policies.py",
    "tools/deletion_guard.py",
    "tools/approval.py",
    "tools/misroutes.py",
    "tools/plan_diff.py",
    "infra/ownership.py",
    "__main__.py",
    "Pulumi.prod.yaml",
    "dev",
]


@pytest.mark.parametrize("path", STRICT)
def test_what_guards_a_deploy_has_the_stricter_owners(path):
    assert (ROOT / path).exists()
    assert owners_of(path) != owners_of("README.md")


def test_codeowners_patterns_name_existing_paths():
    for pattern, owners in owner_rules():
        assert owners, pattern
        if pattern != "*" and "*" not in pattern:
            assert pattern.startswith("/") and (ROOT / pattern.lstrip("/")).exists(), pattern


# --- the registry refresh: an App's token, a branch reset each time ------------------------------


def test_the_refresh_opens_its_pull_request_with_the_apps_token_only():
    job = workflow("registry-refresh.yml")["jobs"]["pull-request"]
    token = job["steps"][step_index(job["steps"], lambda s: uses(s, "actions/create-github-app-token"))]
    assert "if" not in token, "the App is required, never skipped for the workflow's own token"
    opener = job["steps"][step_index(job["steps"], lambda s: runs(s, "gh pr create"))]
    assert opener["env"]["GH_TOKEN"] == f"${{{{ steps.{token['id']}.outputs.token }}}}"
    assert "github.token" not in yaml.safe_dump(job)


def test_the_docs_never_ask_for_the_actions_approval_setting():
    for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        text = path.read_text()
        if "create and approve pull requests" in text:
            line = next(line for line in text.splitlines() if "create and approve pull requests" in line)
            assert "never" in line.lower() or "do not" in line.lower() or "not " in line.lower(), (path, line)


# --- Workload Identity conditions on immutable claims --------------------------------------------


def test_the_documented_identity_conditions_use_immutable_claims():
    """Since April 2026 new, renamed or transferred repositories get OIDC subjects carrying
    immutable ids (GitHub changelog 2026-04-23, "Immutable subject claims"): conditions on
    ``repository_id``, ``repository_owner_id``, ``environment`` and ``ref`` hold for both."""
    text = "\n".join(p.read_text() for p in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))])
    conditions = [line for line in text.splitlines() if "--attribute-condition" in line]
    assert conditions
    for line in conditions:
        assert "assertion.repository_id" in line and "assertion.repository_owner_id" in line, line
        assert "assertion.sub" not in line and "repo:" not in line, line
    assert any("assertion.environment" in line and "assertion.ref" in line for line in text.splitlines())
    assert "gh api repos/" in text and ".owner.id" in text


# --- dropping a backlog needs the same approval, naming the task --------------------------------


def test_an_approval_names_the_tasks_whose_messages_may_be_dropped():
    body = "allow-task-deletions\ndrop-messages: send_digest, refresh_list_facts\n`rm -rf /`"
    verdict = decide([review("maintainer", body=body)])
    assert verdict.approved and verdict.drops == ("refresh_list_facts", "send_digest")


def test_only_a_counted_approval_lets_messages_go():
    body = "allow-task-deletions\ndrop-messages: send_digest"
    assert decide([review("writer", body=body)]).drops == ()
    assert decide([review("maintainer", body=body, commit="c" * 40)]).drops == ()


def test_the_deploy_drain_checks_with_the_guards_code_before_up():
    steps = deploy_steps()
    drain = step_index(steps, lambda s: runs(s, "drain-check"))
    up = step_index(steps, lambda s: runs(s, "pulumi up --stack"))
    assert step_index(steps, lambda s: runs(s, "dev guard")) < drain < up
    assert 'base/dev drain-check --stack "$STACK" --preview "$PWD/preview.json"' in steps[drain]["run"]
    assert '--drops > "$DATA/drops"' in _pr_step(steps)["run"]


@pytest.mark.skipif(not shutil.which("jq"), reason="the step reads the answers with jq (GitHub's runners have it)")
def test_the_deploy_passes_the_approved_drops_to_the_drain_check(checkout):
    body = "allow-task-deletions\ndrop-messages: send_digest"
    merged = {"state": "closed", "merged_at": "2026-03-01T10:00:00Z", "merge_commit_sha": MERGE}
    _gh(checkout, _answers([review("maintainer", body=body)], **merged))
    env = {"GH_TOKEN": "t", "REPO": "org/gyrinx-tasks", "SHA": MERGE, "DATA": str(checkout / "data")}
    assert run_step(_pr_step(deploy_steps()), checkout, env).returncode == 0
    fake_command(checkout / "base", "dev", "")  # records its arguments, as base/dev would get them
    steps = deploy_steps()
    result = run_step(steps[step_index(steps, lambda s: runs(s, "drain-check"))], checkout, env | {"STACK": "prod"})
    assert result.returncode == 0, result.stderr
    (call,) = [c for c in calls(checkout) if c[0] == "dev"]
    assert call[-2:] == ["--allow-drop", "send_digest"]


def test_every_file_the_guard_runs_has_the_stricter_owners():
    """The guard is `./dev guard` (tools.cli): every project file it imports is owned by the
    platform team, so no change to its code merges on a plain approval (issue 15's
    three-line patch was in tools/cli.py, which only the catch-all owned)."""
    code = "import sys, tools.cli; print('\\n'.join(sorted({getattr(m, '__file__', '') or '' for m in sys.modules.values()})))"
    listed = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    project_files = [
        Path(line).relative_to(ROOT).as_posix()
        for line in listed.splitlines()
        if line.startswith(str(ROOT)) and "venv" not in Path(line).relative_to(ROOT).parts[0]
    ]
    assert "tools/cli.py" in project_files
    catch_all = owners_of("README.md")
    assert [path for path in project_files if owners_of(path) == catch_all] == []


def _newest_checks() -> list[int]:
    steps = deploy_steps()
    return [i for i, step in enumerate(steps) if runs(step, 'gh api "repos/${REPO}/commits/main" --jq .sha')]


def test_only_mains_newest_commit_deploys_checked_first_and_right_before_up():
    steps = deploy_steps()
    first, last = _newest_checks()
    assert first < min(i for i, step in enumerate(steps) if uses(step, "actions/checkout"))
    assert (
        step_index(steps, lambda s: runs(s, "drain-check"))
        < last
        == step_index(steps, lambda s: runs(s, "pulumi up --stack")) - 1
    )


@pytest.mark.parametrize(("head", "status"), [(MERGE, 0), ("e" * 40, 1)])
def test_a_rerun_of_an_older_deploy_stops(checkout, head, status):
    fake_command(checkout / "bin", "gh", f"print({head!r})\n")
    step = deploy_steps()[_newest_checks()[0]]
    result = run_step(step, checkout, {"GH_TOKEN": "t", "REPO": "org/gyrinx-tasks", "SHA": MERGE})
    assert result.returncode == status, result.stdout + result.stderr


def test_an_approval_whose_text_someone_else_edited_does_not_count():
    """Anyone with write access may edit another user's review, and the review keeps its
    state, commit and time: an approval counts only as its author last wrote it."""
    lgtm = review("maintainer", body="LGTM")
    assert not decide([{**lgtm, "body": "allow-task-deletions"}], edited_by={0: "contributor"}).approved
    assert decide([{**lgtm, "body": "allow-task-deletions"}], edited_by={0: "maintainer"}).approved


def test_more_reviews_than_one_page_are_refused():
    answer = graphql_reviews([review("maintainer")])
    answer["data"]["repository"]["pullRequest"]["reviews"]["totalCount"] = 101
    with pytest.raises(approval.UnreadableRecord, match="more reviews than one page"):
        approval.reviews_from_graphql(answer)


def test_the_workflows_read_reviews_through_the_query_in_the_repository():
    query = GITHUB / "scripts" / "reviews.graphql"
    assert {"lastEditedAt", "editor", "author", "commit", "totalCount"} <= set(re.findall(r"\w+", query.read_text()))
    assert "-F query=@.github/scripts/reviews.graphql" in _pr_step(guard_job()["steps"])["run"]
    assert "-F query=@base/.github/scripts/reviews.graphql" in _pr_step(deploy_steps())["run"]
