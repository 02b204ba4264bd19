"""Stack configuration as the Pulumi CLI assembles it, for running without the CLI.

The CLI, not the SDK, applies ``Pulumi.yaml`` defaults and the stack file. The offline
runner does the same here: ``Pulumi.yaml`` defaults, then ``Pulumi.<stack>.yaml``, then
explicit ``KEY=VALUE`` overrides, every value turned into the string the SDK expects.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

PROJECT_DIR = Path(__file__).resolve().parent.parent
PROJECT = "gyrinx-tasks"
# Offline there is no key to decrypt a secure value with; the program sees this instead.
SECRET_PLACEHOLDER = "[secret]"


class StackConfigError(ValueError):
    """A stack or project file that cannot be read, or a malformed override."""


def _load_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except FileNotFoundError:
        raise StackConfigError(f"{path.name} not found in {path.parent}") from None
    except yaml.YAMLError as exc:
        raise StackConfigError(f"{path.name} is not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise StackConfigError(f"{path.name} must be a mapping")
    return data


def full_key(key: str) -> str:
    """``key`` with the project namespace added when it has none, as ``pulumi config`` does."""
    return key if ":" in key else f"{PROJECT}:{key}"


def config_string(value: Any) -> str:
    """A config value as the SDK receives it: scalars as text, structures as JSON."""
    if isinstance(value, dict) and set(value) == {"secure"}:
        return SECRET_PLACEHOLDER
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True)
    return str(value)


def project_defaults(project_dir: Path = PROJECT_DIR) -> dict[str, str]:
    """Defaults declared under ``config:`` in ``Pulumi.yaml``."""
    declared = _load_yaml(project_dir / "Pulumi.yaml").get("config") or {}
    defaults = {}
    for key, declaration in declared.items():
        if isinstance(declaration, dict):
            for field in ("value", "default"):
                if field in declaration:
                    defaults[full_key(key)] = config_string(declaration[field])
                    break
        else:
            defaults[full_key(key)] = config_string(declaration)
    return defaults


def stack_file(stack: str, project_dir: Path = PROJECT_DIR) -> Path:
    """The path of ``Pulumi.<stack>.yaml``."""
    return project_dir / f"Pulumi.{stack}.yaml"


def stack_names(project_dir: Path = PROJECT_DIR) -> list[str]:
    """Every stack with a ``Pulumi.<stack>.yaml`` file, sorted."""
    return sorted(path.name[len("Pulumi.") : -len(".yaml")] for path in project_dir.glob("Pulumi.*.yaml"))


def _stack_config(stack: str, project_dir: Path) -> dict[str, Any]:
    return _load_yaml(stack_file(stack, project_dir)).get("config") or {}


def stack_values(stack: str, project_dir: Path = PROJECT_DIR) -> dict[str, str]:
    """The ``config:`` of ``Pulumi.<stack>.yaml``, keys namespaced, values as strings."""
    return {full_key(key): config_string(value) for key, value in _stack_config(stack, project_dir).items()}


def flags_by_stack(project_dir: Path = PROJECT_DIR) -> dict[str, dict[str, Any]]:
    """Each stack file's ``gyrinx-tasks:flags`` (empty when unset or not an object)."""
    result = {}
    for stack in stack_names(project_dir):
        flags = _stack_config(stack, project_dir).get(f"{PROJECT}:flags")
        result[stack] = flags if isinstance(flags, dict) else {}
    return result


def parse_override(item: str) -> tuple[str, str]:
    """``KEY=VALUE`` from the command line; a VALUE that is JSON is parsed first."""
    key, sep, value = item.partition("=")
    if not sep or not key:
        raise StackConfigError(f"--config {item!r}: expected KEY=VALUE")
    try:
        parsed: Any = json.loads(value)
    except ValueError:
        parsed = value
    return full_key(key), config_string(parsed)


def merged_config(
    stack: str, overrides: Iterable[str] = (), project_dir: Path = PROJECT_DIR, extra: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The config the program would see on ``pulumi preview`` of ``stack``."""
    config = project_defaults(project_dir)
    config.update(stack_values(stack, project_dir))
    config.update(extra or {})
    config.update(parse_override(item) for item in overrides)
    return config
