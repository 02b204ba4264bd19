"""Stack configuration as the Pulumi CLI assembles and checks it, for running without the CLI.

The CLI, not the SDK, applies ``Pulumi.yaml``'s declarations and the stack file, and it
refuses a stack before the program runs when

- a key of the project's namespace declared without ``default`` (or ``value``) has no
  value in the stack: ``Stack 'dev' is missing configuration values 'a' and 'b'``;
- a value does not have its key's declared ``type``:
  ``Stack 'dev' with configuration key 'a' must be of type 'array<string>'``.

Both rules and their wording follow pulumi/pulumi ``pkg/workspace/config.go``
(``ValidateStackConfigAndApplyProjectConfig``, ``formatMissingKeys``,
``validateStackConfigValue``) and ``sdk/go/common/workspace/project.go``
(``ValidateConfigValue``). The CLI stops at the first wrong type; this reports every
one, in the same words. Then the merge: ``Pulumi.yaml`` defaults, then
``Pulumi.<stack>.yaml``, then explicit ``KEY=VALUE`` overrides (what
``pulumi config set`` would have written), every value turned into the string the SDK
expects.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi
import yaml

from tools.errors import ToolError

PROJECT_DIR = Path(__file__).resolve().parent.parent
PROJECT = "gyrinx-tasks"
# What the CLI's JSON preview shows for a secret (pkg/display/json.go's blinding).
SECRET_MASK = "[secret]"  # noqa: S105 - a mask, not a password
# Offline there is no key to decrypt a `secure:` value with. The program is given a
# stand-in of the declared type, marked secret, so it stays secret all the way through;
# a stand-in string is valid wherever one of these is expected.
_SECRET_STAND_INS: Mapping[str, Any] = {
    "string": "secret.invalid",
    "integer": 0,
    "boolean": False,
    "array": [],
}
# Stand-ins that pass the program's checks for keys with a format of their own.
_STAND_INS: Mapping[str, Any] = {
    "flags": {},
    "labels": {},
    "alertNotificationChannels": [],
    "serviceUrl": "https://secret.invalid",
    "cloudRunService": "secret-invalid",
    "cloudRunRegion": "secret-invalid1",
    "project": "secret-invalid",
    "region": "secret-invalid1",
}
_EMAIL_KEYS = frozenset({"pushServiceAccountEmail", "appServiceAccount", "deployServiceAccount"})


class StackConfigError(ToolError):
    """A stack or project file the CLI would refuse, or a malformed override."""


class _UniqueKeyLoader(yaml.SafeLoader):
    """YAML's safe loader, refusing a mapping that repeats a key instead of letting the
    last one silently win."""


def _unique_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r} (only one value per key)", key_node.start_mark
            )
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _unique_mapping)


def load_yaml(path: Path) -> dict[str, Any]:
    """A project or stack file as a mapping; a missing, malformed or repeating one is refused."""
    try:
        data = yaml.load(path.read_text(), Loader=_UniqueKeyLoader) or {}  # noqa: S506 - a SafeLoader subclass
    except FileNotFoundError:
        raise StackConfigError(f"{path.name} not found in {path.parent}") from None
    except yaml.YAMLError as exc:
        raise StackConfigError(f"{path.name} is not valid YAML: {' '.join(str(exc).split())}") from None
    if not isinstance(data, dict):
        raise StackConfigError(f"{path.name} must be a mapping")
    return data


def full_key(key: str) -> str:
    """``key`` with the project namespace added when it has none, as ``pulumi config`` does."""
    return key if ":" in key else f"{PROJECT}:{key}"


def config_string(value: Any) -> str:
    """A config value as the SDK receives it: scalars as text, structures as JSON."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True)
    return str(value)


def _is_secure(value: Any) -> bool:
    return isinstance(value, dict) and set(value) == {"secure"}


@dataclass(frozen=True)
class Declaration:
    """One key declared under ``config:`` in ``Pulumi.yaml``."""

    key: str  # as written in Pulumi.yaml: the CLI's messages name it so
    type: str | None
    items: str | None
    default: Any
    has_default: bool

    @property
    def type_name(self) -> str:
        """The type as the CLI names it in its message (``InferFullTypeName``)."""
        return f"array<{self.items}>" if self.type == "array" and self.items else str(self.type)


def declarations(project_dir: Path = PROJECT_DIR) -> dict[str, Declaration]:
    """``Pulumi.yaml``'s config declarations by full key."""
    declared = load_yaml(project_dir / "Pulumi.yaml").get("config") or {}
    result = {}
    for key, written in declared.items():
        # Shorthand `key: value` is a default (the CLI's RewriteShorthandConfigValues).
        declaration = written if isinstance(written, dict) else {"default": written}
        has_default = declaration.get("default") is not None or declaration.get("value") is not None
        items = declaration.get("items")
        result[full_key(key)] = Declaration(
            key=key,
            type=declaration.get("type"),
            items=items.get("type") if isinstance(items, dict) else None,
            default=declaration.get("value", declaration.get("default")),
            has_default=has_default,
        )
    return result


def _type_matches(value: Any, type_: str | None, items: str | None, scalar_as_text: bool) -> bool:
    """The CLI's ValidateConfigValue. A stack file's scalars reach it as text (so `5` and
    `true` are strings too); array items keep their JSON types."""
    if type_ is None:
        return True
    if scalar_as_text and isinstance(value, (bool, int, float)):
        value = config_string(value)
    if type_ == "string":
        return isinstance(value, str)
    if type_ == "integer":
        if isinstance(value, bool):
            return False
        if isinstance(value, int) or (isinstance(value, float) and value.is_integer()):
            return True
        if isinstance(value, str):
            try:
                int(value, 10)
            except ValueError:
                return False
            return value.strip() == value and "_" not in value
        return False
    if type_ == "boolean":
        return value in ("true", "false") or isinstance(value, bool)
    if type_ == "object":
        return isinstance(value, dict)
    if type_ == "array":
        return isinstance(value, list) and all(_type_matches(item, items, None, False) for item in value)
    return False


def _missing_message(stack: str, keys: list[str]) -> str:
    quoted = [f"'{key}'" for key in sorted(keys)]
    listed = quoted[0] if len(quoted) == 1 else f"{', '.join(quoted[:-1])} and {quoted[-1]}"
    return f"Stack '{stack}' is missing configuration value{'s' if len(keys) > 1 else ''} {listed}"


def stack_file(stack: str, project_dir: Path = PROJECT_DIR) -> Path:
    """The path of ``Pulumi.<stack>.yaml``."""
    return project_dir / f"Pulumi.{stack}.yaml"


def stack_names(project_dir: Path = PROJECT_DIR) -> list[str]:
    """Every stack with a ``Pulumi.<stack>.yaml`` file, sorted."""
    return sorted(path.name[len("Pulumi.") : -len(".yaml")] for path in project_dir.glob("Pulumi.*.yaml"))


def stack_config(stack: str, project_dir: Path = PROJECT_DIR) -> dict[str, Any]:
    """The ``config:`` of ``Pulumi.<stack>.yaml`` as written, keys namespaced."""
    config = load_yaml(stack_file(stack, project_dir)).get("config") or {}
    if not isinstance(config, dict):
        raise StackConfigError(f"Pulumi.{stack}.yaml: config must be a mapping")
    return {full_key(str(key)): value for key, value in config.items()}


def merged_configs(
    planned: str | None = None, overrides: Iterable[str] = (), project_dir: Path = PROJECT_DIR
) -> dict[str, StackConfig]:
    """Every stack's config as the CLI would hand it to its program (``overrides`` apply
    to the ``planned`` stack), for checks across stacks. A stack file the CLI would
    refuse is left out, not fatal: its own plan says why, and it must not break another's."""
    overrides = tuple(overrides)
    configs = {}
    for stack in stack_names(project_dir):
        try:
            configs[stack] = merged_config(stack, overrides if stack == planned else (), project_dir)
        except StackConfigError:
            continue
    return configs


def flags_by_stack(
    planned: str | None = None, overrides: Iterable[str] = (), project_dir: Path = PROJECT_DIR
) -> dict[str, dict[str, Any]]:
    """Each stack's ``gyrinx-tasks:flags`` (see :func:`merged_configs`)."""
    return flags_of(merged_configs(planned, overrides, project_dir))


def flags_of(configs: Mapping[str, StackConfig]) -> dict[str, dict[str, Any]]:
    """The ``gyrinx-tasks:flags`` of each of ``configs``. Encrypted flags are unknown
    offline and count as none; flags that are not an object leave their stack out."""
    result = {}
    key = f"{PROJECT}:flags"
    for stack, config in configs.items():
        try:
            flags = {} if key in config.secret_keys else json.loads(config.values.get(key, "{}") or "{}")
        except ValueError:  # not an object: that stack's own plan refuses it
            continue
        result[stack] = flags if isinstance(flags, dict) else {}
    return result


def parse_override(item: str) -> tuple[str, Any]:
    """``KEY=VALUE`` from the command line; a VALUE that is JSON is parsed first."""
    key, sep, value = item.partition("=")
    if not sep or not key:
        raise StackConfigError(f"--config {item!r}: expected KEY=VALUE")
    try:
        parsed: Any = json.loads(value)
    except ValueError:
        parsed = value
    return full_key(key), parsed


@dataclass(frozen=True)
class StackConfig:
    """What the program of ``stack`` is given: config values as strings, the keys that
    are secret, and a note for each secret the offline run could not decrypt."""

    values: dict[str, str]
    secret_keys: tuple[str, ...]
    notes: tuple[str, ...]

    def hand_over(self) -> None:
        """Give this config to the SDK in the current context, as the language host does
        (``set_all_config(config, secret_keys)``, pulumi-language-python-exec)."""
        pulumi.runtime.set_all_config(dict(self.values), list(self.secret_keys))


def _stand_in(key: str, declaration: Declaration | None) -> Any:
    name = key.split(":", 1)[1]
    if name in _STAND_INS:
        return _STAND_INS[name]
    if name in _EMAIL_KEYS:
        return "secret@secret.invalid"
    return _SECRET_STAND_INS.get(declaration.type if declaration and declaration.type else "string", "secret.invalid")


def merged_config(stack: str, overrides: Iterable[str] = (), project_dir: Path = PROJECT_DIR) -> StackConfig:
    """The config the program would see on ``pulumi preview`` of ``stack``, after the
    CLI's checks; raises :class:`StackConfigError` where the CLI would refuse the stack."""
    declared = declarations(project_dir)
    given = stack_config(stack, project_dir)
    given.update(parse_override(item) for item in overrides)

    problems = []
    missing = [
        d.key for key, d in declared.items() if key.startswith(f"{PROJECT}:") and not d.has_default and key not in given
    ]
    if missing:
        problems.append(_missing_message(stack, missing))
    for key in sorted(given):
        declaration = declared.get(key)
        value = given[key]
        if (
            declaration
            and not _is_secure(value)
            and not _type_matches(value, declaration.type, declaration.items, True)
        ):
            problems.append(
                f"Stack '{stack}' with configuration key '{declaration.key}' must be of type '{declaration.type_name}'"
            )
    if problems:
        raise StackConfigError("; ".join(problems))

    values = {key: config_string(d.default) for key, d in declared.items() if d.has_default}
    secret_keys, notes = [], []
    for key, value in given.items():
        if _is_secure(value):
            stand_in = _stand_in(key, declared.get(key))
            secret_keys.append(key)
            notes.append(
                f"config {key} is encrypted (secure:) and cannot be decrypted offline: the plan uses a stand-in "
                f"secret of its type ({json.dumps(stand_in)}) and shows it as {SECRET_MASK}"
            )
            values[key] = config_string(stand_in)
        else:
            values[key] = config_string(value)
    return StackConfig(values, tuple(sorted(secret_keys)), tuple(sorted(notes)))
