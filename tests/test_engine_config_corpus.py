"""Issue 16, section 4: a corpus of stack files gets the same verdict from the offline
config model (``tools.stack_config.merged_config``) as from the real CLI.

The CLI's verdict comes from a real ``pulumi preview`` of each case in a project folder
of its own: refused (the CLI exits non-zero before the program runs), or the config the
program is handed, which a probe program exports (``pulumi.runtime.config.CONFIG``, set
by the language server from the engine's ``RunRequest.config``). Where the CLI accepts,
the offline model must give the program the same values and the same secret keys (it
cannot decrypt a secret, so secret values themselves are not compared).

Marked ``engine``: it needs the built CLI (tools/pulumi_cli.py).
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tools import stack_config
from tools.pulumi_cli import PROGRAM_VARIABLE, REPO, Cli, Local, ensure_cli

pytestmark = pytest.mark.engine

STACK = "corpus"
BASE = """config:
  gcp:project: gyrinx-corpus
  gcp:region: europe-west2
  gyrinx-tasks:environment: corpus
  gyrinx-tasks:registry: file:registry/gyrinx.json
  gyrinx-tasks:serviceUrl: https://gyrinx-corpus-abc123-nw.a.run.app
  gyrinx-tasks:labels:
    team: platform
"""
PROBE = """import json, os
from pathlib import Path

from pulumi.runtime import config

values = dict(config.CONFIG.get())
secret = sorted(key for key in values if config.is_config_secret(key))
Path(os.environ["GYRINX_CORPUS_SEEN"]).write_text(json.dumps({"config": values, "secretKeys": secret}))
"""
# Runs one preview with the probe served as the program (tools.pulumi_cli.serving_program).
RUNNER = """import os, subprocess, sys
from tools.pulumi_cli import serving_program
with serving_program() as address:
    args = [sys.argv[1], *sys.argv[3:], f"--client={address}", "--exec-kind", "inline"]
    sys.exit(subprocess.run(args, cwd=sys.argv[2], env=os.environ, check=False).returncode)
"""


@dataclass(frozen=True)
class Case:
    """One stack file (``BASE`` plus ``extra`` under ``config:``, or ``top`` at the top),
    ``-c`` overrides, ``pulumi config set`` commands run first, and a Pulumi.yaml edit."""

    extra: str = ""
    top: str = ""
    overrides: tuple[str, ...] = ()
    setup: tuple[tuple[str, ...], ...] = ()
    project_edit: tuple[str, str] | None = None
    # The offline model refuses, on purpose, what the CLI accepts (its message says what
    # the CLI would read instead): the test then checks exactly that, so a change on
    # either side shows.
    offline_stricter: bool = False


CASES = {
    "yes-for-a-boolean": Case(extra="  gyrinx-tasks:allowEmptyRegistry: yes\n"),
    "no-for-a-boolean": Case(extra="  gyrinx-tasks:allowEmptyRegistry: no\n"),
    "true-for-a-boolean": Case(extra="  gyrinx-tasks:allowEmptyRegistry: true\n"),
    "off-in-an-object": Case(extra="  gyrinx-tasks:flags:\n    ENABLE_BATCH_JOB: off\n"),
    "on-in-an-object": Case(extra="  gyrinx-tasks:flags:\n    ENABLE_BATCH_JOB: on\n"),
    "tilde": Case(extra="  gyrinx-tasks:cloudRunService: ~\n"),
    "secret-path": Case(setup=(("config", "set", "--secret", "--path", "gyrinx-tasks:labels.team", "platform"),)),
    "c-key-value-is-a-string": Case(overrides=("gyrinx-tasks:cloudRunService=123",)),
    "c-key-json-is-a-string": Case(overrides=('gyrinx-tasks:cloudRunService={"a": 1}',)),
    "c-key-without-value": Case(overrides=("gyrinx-tasks:cloudRunService",)),
    "namespaced-config-spelling": Case(
        extra="  gyrinx-tasks:config:cloudRunRegion: europe-west1\n", offline_stricter=True
    ),
    "value-and-default": Case(
        project_edit=('    default: ""\n  appServiceAccount:', '    default: ""\n    value: x\n  appServiceAccount:')
    ),
    "esc-environment": Case(top="environment:\n  - gyrinx/corpus\n"),
    "repeated-key": Case(extra="  gyrinx-tasks:cloudRunService: a\n  gyrinx-tasks:cloudRunService: b\n"),
}


@pytest.fixture(scope="module")
def cli() -> Cli:
    return ensure_cli()


def _project(case: Case, folder: Path) -> Path:
    project = folder / "project"
    project.mkdir()
    text = (REPO / "Pulumi.yaml").read_text()
    if case.project_edit:
        old, new = case.project_edit
        assert old in text, "the corpus case no longer matches Pulumi.yaml"
        text = text.replace(old, new, 1)
    (project / "Pulumi.yaml").write_text(text)
    return project


def _cli_verdict(cli: Cli, case: Case, folder: Path, project: Path) -> tuple[bool, Any, str]:
    """``(accepted, {"config", "secretKeys"} or None, output)`` from the real CLI."""
    local = Local(folder / "local")
    local.prepare(cli)
    seen = folder / "seen.json"
    env = {
        **local.env(cli),
        "PYTHONPATH": str(REPO),
        PROGRAM_VARIABLE: str(folder / "probe.py"),
        "GYRINX_CORPUS_SEEN": str(seen),
    }
    (folder / "probe.py").write_text(PROBE)

    def pulumi(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(cli.binary), *args], cwd=project, env=env, capture_output=True, text=True, check=False
        )

    created = pulumi("stack", "init", STACK, "--secrets-provider", "passphrase", "--no-select")
    if created.returncode != 0:  # the CLI refuses the project itself (Pulumi.yaml)
        return False, None, created.stdout + created.stderr
    salt = next(
        line for line in (project / f"Pulumi.{STACK}.yaml").read_text().splitlines() if "encryptionsalt" in line
    )
    (project / f"Pulumi.{STACK}.yaml").write_text(case.top + BASE + case.extra + salt + "\n")
    for command in case.setup:
        done = pulumi(*command, "--stack", STACK)
        assert done.returncode == 0, done.stderr
    overrides = [arg for item in case.overrides for arg in ("-c", item)]
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            RUNNER,
            str(cli.binary),
            str(project),
            "preview",
            "--stack",
            STACK,
            "--json",
            *overrides,
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    output = result.stdout + result.stderr
    if result.returncode != 0:
        return False, None, output
    return True, json.loads(seen.read_text()), output


def _offline_verdict(case: Case, project: Path) -> tuple[bool, Any, str]:
    try:
        config = stack_config.merged_config(STACK, case.overrides, project_dir=project)
    except stack_config.StackConfigError as error:
        return False, None, str(error)
    return True, config, ""


@pytest.mark.parametrize("name", sorted(CASES))
def test_the_offline_config_model_agrees_with_the_cli(name: str, cli: Cli, tmp_path: Path) -> None:
    case = CASES[name]
    project = _project(case, tmp_path)
    cli_accepts, seen, cli_output = _cli_verdict(cli, case, tmp_path, project)
    offline_accepts, offline, offline_output = _offline_verdict(case, project)
    if case.offline_stricter:
        assert (cli_accepts, offline_accepts) == (True, False), f"CLI: {cli_output[-1500:]}\noffline: {offline_output}"
        return
    assert offline_accepts == cli_accepts, f"CLI: {cli_output[-1500:]}\noffline: {offline_output}"
    if not cli_accepts:
        return
    secret = set(seen["secretKeys"])
    assert set(offline.secret_keys) == secret
    plain_cli = {key: value for key, value in seen["config"].items() if key not in secret}
    plain_offline = {key: value for key, value in offline.values.items() if key not in secret}
    assert plain_offline == plain_cli
