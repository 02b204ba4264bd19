"""How ``./dev pulumi`` sets the real CLI up (tools/pulumi_cli.py), checked without running it:
the pin, the environment that keeps a user's Pulumi out of reach, and the stand-in's guards.
The engine itself is exercised in tests/test_engine.py (marked ``engine``)."""

from __future__ import annotations

import os
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

from tests.engine_support import STACKS
from tools import runner
from tools.pulumi_cli import (
    CLI_MODULE,
    REPO,
    SDK_MODULE,
    Cli,
    Local,
    _standin_launcher,
    _without_secrets_provider,
    cli_version,
    command_of,
    go_mod,
    sdk_pin,
)
from tools.standin.gcp_provider import FORCE_NEW


def test_the_pin_is_the_pulumi_sdk_installed_from_the_lock() -> None:
    assert sdk_pin() == metadata.version("pulumi")


def test_the_wrapper_module_builds_cli_and_sdk_at_one_version() -> None:
    recipe = go_mod(cli_version())
    assert f"\t{CLI_MODULE} v{cli_version()}\n" in recipe
    assert f"\t{SDK_MODULE} v{cli_version()}\n" in recipe


def test_the_cli_environment_replaces_a_users_pulumi_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PULUMI_BACKEND_URL", "gs://someone-elses-state")
    monkeypatch.setenv("PULUMI_ACCESS_TOKEN", "pul-not-ours")
    monkeypatch.setenv("PULUMI_HOME", str(Path.home() / ".pulumi"))
    env = Local(tmp_path).env(Cli(tmp_path / "pulumi", "v0"))
    assert env["PULUMI_BACKEND_URL"] == f"file://{tmp_path / 'state'}"
    assert env["PULUMI_HOME"] == str(tmp_path / "home")
    assert "PULUMI_ACCESS_TOKEN" not in env


def test_the_cli_environment_turns_off_downloads_update_checks_and_ambient_plugins(tmp_path: Path) -> None:
    env = Local(tmp_path).env(Cli(tmp_path / "pulumi", "v0"))
    for variable in (
        "PULUMI_SKIP_UPDATE_CHECK",
        "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION",
        "PULUMI_DISABLE_REGISTRY_RESOLVE",
        "PULUMI_IGNORE_AMBIENT_PLUGINS",
    ):
        assert env[variable] == "true", variable


def test_the_standin_launcher_refuses_any_other_pulumi_home(tmp_path: Path) -> None:
    launcher = tmp_path / "pulumi-resource-gcp"
    launcher.write_text(_standin_launcher(tmp_path / "home"))
    launcher.chmod(0o755)
    result = subprocess.run(
        [str(launcher)],
        env={**os.environ, "PULUMI_HOME": str(Path.home() / ".pulumi")},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1
    assert "stand-in" in result.stderr


def test_the_standin_refuses_to_serve_outside_the_home_it_was_installed_into() -> None:
    environ = {key: value for key, value in os.environ.items() if not key.startswith(("PULUMI_", "GYRINX_STANDIN"))}
    result = subprocess.run(
        [sys.executable, "-m", "tools.standin.gcp_provider", "127.0.0.1:1"],
        cwd=REPO,
        env=environ,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 1
    assert "STAND-IN" in result.stderr


@pytest.mark.parametrize("stack", STACKS)
def test_the_standin_models_every_gcp_resource_the_stack_declares(stack: str) -> None:
    declared = {r.type for r in runner.run_plan(stack).registrations if r.type.startswith("gcp:")}
    assert declared <= set(FORCE_NEW)


@pytest.mark.parametrize(
    ("args", "command"),
    [
        (["preview", "--stack", "dev"], "preview"),
        (["--non-interactive", "up"], "up"),
        (["config", "set", "k", "v"], "config"),
    ],
)
def test_the_command_is_the_first_word_that_is_not_a_flag(args: list[str], command: str) -> None:
    assert command_of(args) == command


def test_a_local_stack_copy_leaves_out_the_cloud_stacks_secrets_provider() -> None:
    committed = (
        "secretsprovider: gcpkms://projects/p/locations/l/keyRings/r/cryptoKeys/k\nencryptedkey: abc\nconfig:\n  a: b\n"
    )
    assert _without_secrets_provider(committed) == "config:\n  a: b\n"
