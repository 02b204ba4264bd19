"""Stack configuration as the Pulumi CLI assembles and checks it, for running without the CLI.

The CLI, not the SDK, applies ``Pulumi.yaml``'s declarations and the stack file, and it
refuses a stack before the program runs when

- a key of the project's namespace declared without ``default`` (or ``value``) has no
  value in the stack: ``Stack 'dev' is missing configuration values 'a' and 'b'``;
- a value does not have its key's declared ``type``:
  ``Stack 'dev' with configuration key 'a' must be of type 'array<string>'``.

Both rules and their wording follow pulumi/pulumi ``pkg/workspace/config.go``
(``mergeConfig``, ``formatMissingKeys``, ``validateStackConfigValue``) and
``sdk/go/common/workspace/project.go`` (``ValidateConfigValue``, ``Project.Validate``).
The CLI stops at the first wrong type; this reports every one, in the same words.

Both files are read as the CLI reads them (:mod:`tools.go_yaml`: go-yaml v3's YAML 1.2
rules, so ``yes`` is a string), each value becomes the text the CLI hands the program
(``sdk/go/common/resource/config/value.go`` and ``object.go``: a scalar as its text, an
object or list as Go's JSON), and ``--config KEY=VALUE`` stays a plain string, as
``pulumi preview -c`` keeps it (``pkg/cmd/pulumi/project/newcmd/config.go``,
``parseConfig``: ``config.NewValue(kvp[1])``, and ``""`` when there is no ``=``).

Refused here, before the program runs, because the program cannot see them:

- a stack file that is not a regular UTF-8 file of at most :data:`MAX_STACK_FILE_BYTES`,
  or not YAML the CLI reads (:mod:`tools.go_yaml`, which also refuses aliases);
- a stack name the CLI refuses (``tokens.ParseStackName``, pulumi/pulumi
  ``sdk/go/common/tokens/stack_name.go``);
- a key spelt ``ns:config:k``: the CLI reads it as ``ns:k``
  (``sdk/go/common/resource/config/key.go``, ``ParseKey``), so two spellings of one key
  collapse and which wins is random; likewise ``k`` beside ``gyrinx-tasks:k``;
- a stack file's ``environment:`` (Pulumi ESC imports, whose ``pulumiConfig`` the CLI
  merges into the config: offline tools and reviewers cannot see those values) and any
  top-level key a stack file does not hold (``ProjectStack`` in ``project.go``; the CLI
  ignores unknown ones, which would hide a typo such as ``confg:``).

Which ``gcp:`` keys a stack may set is the program's rule (``infra.settings``), which
it applies to every key the engine hands it, here and under the real CLI.
"""

from __future__ import annotations

import contextvars
import difflib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi

from infra import inputs, settings
from infra.errors import InputFileError
from tools import go_yaml
from tools.errors import StackConfigError

PROJECT_DIR = Path(__file__).resolve().parent.parent
# The committed review files, one offline plan per stack (./dev plans writes them).
PLANS_DIR = PROJECT_DIR / "plans"
PROJECT = settings.PROJECT
# What the CLI's JSON preview shows for a secret (pkg/display/json.go's blinding).
SECRET_MASK = "[secret]"  # noqa: S105 - a mask, not a password
# The most a project or stack file may hold; real ones are a few hundred bytes.
MAX_STACK_FILE_BYTES = 1024 * 1024
# What a stack file holds (ProjectStack, pulumi/pulumi sdk/go/common/workspace/project.go):
# its secrets provider (passphrase, or gcpkms://... per stack) and that provider's key
# material, and config. `environment` is ProjectStack's too, and refused (see above).
STACK_FILE_KEYS = frozenset({"secretsprovider", "encryptedkey", "encryptionsalt", "config"})
ESC_ENVIRONMENT_KEY = "environment"
# tokens.ParseStackName: at most 100 characters of [A-Za-z0-9_.-].
MAX_STACK_NAME = 100
_STACK_NAME = re.compile(r"[A-Za-z0-9_.-]+")
# strconv.Atoi, which ValidateConfigValue uses for an integer given as text.
_GO_ATOI = re.compile(r"[+-]?[0-9]+")
_INT64 = (-(2**63), 2**63 - 1)
# Offline there is no key to decrypt a `secure:` value with. The program is given a
# stand-in, marked secret, so it stays secret all the way through: the key's own from
# infra.settings.KEYS, or, for a key the program does not read, one of its declared type.
_SECRET_STAND_INS: Mapping[str, Any] = {
    "string": "secret.invalid",
    "integer": 0,
    "boolean": False,
    "array": [],
}
# A secret nested in an object (`pulumi config set --secret --path labels.team x`): a
# stand-in that is a valid label value, flag-free text and channel id alike.
_NESTED_STAND_IN = "secret-invalid"


def check_stack_name(stack: str) -> None:
    """Refuse a stack name the CLI refuses (pulumi/pulumi ``sdk/go/common/tokens/stack_name.go``,
    ``ParseStackName``: not empty, at most 100 characters, only ``[A-Za-z0-9_.-]``)."""
    shown = stack if len(stack) <= 40 else f"{stack[:40]}... ({len(stack)} characters)"
    if not stack:
        raise StackConfigError("--stack: a stack name may not be empty")
    if len(stack.encode()) > MAX_STACK_NAME:
        raise StackConfigError(f"--stack {shown!r}: a stack name cannot exceed {MAX_STACK_NAME} characters")
    if not _STACK_NAME.fullmatch(stack):
        position = next(i for i, char in enumerate(stack) if not _STACK_NAME.fullmatch(char))
        extra = " (give the stack's name, as in Pulumi.<stack>.yaml, not org/project/stack)" if "/" in stack else ""
        raise StackConfigError(
            f"--stack {shown!r}: a stack name may only contain alphanumeric, hyphens, underscores, or periods: "
            f"invalid character {stack[position]!r} at position {position}{extra}"
        )


def load_yaml(path: Path) -> dict[str, Any]:
    """A project or stack file as a mapping, read as the CLI reads it; a missing,
    unreadable, oversized, non-UTF-8 or malformed one is refused in one line."""
    try:
        text = inputs.read_text(path, path.name, MAX_STACK_FILE_BYTES)
    except InputFileError as exc:
        if exc.missing:
            raise StackConfigError(f"{path.name} not found in {path.parent}") from None
        raise StackConfigError(str(exc)) from None
    try:
        data = go_yaml.load(text)
    except go_yaml.GoYamlError as exc:
        raise StackConfigError(f"{path.name} is not valid YAML: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise StackConfigError(f"{path.name} must be a mapping")
    return data


def full_key(key: str) -> str:
    """``key`` with the project namespace added when it has none, as ``pulumi config`` does."""
    return key if ":" in key else f"{PROJECT}:{key}"


def parse_key(key: str, where: str) -> str:
    """``key`` as the CLI parses it (``config.ParseKey``, ``sdk/go/common/resource/config/key.go``),
    namespaced; the ``ns:config:k`` spelling, which the CLI turns into ``ns:k``, is refused
    rather than let two spellings of one key collapse."""
    colons = key.count(":")
    if colons <= 1:
        return full_key(key)
    namespace, middle, *rest = key.split(":")
    if colons == 2 and middle == "config":
        raise StackConfigError(
            f"{where}: config key {key!r} is the old ns:config:k spelling, which the CLI reads as "
            f"{namespace}:{rest[0]}; write {namespace}:{rest[0]}"
        )
    raise StackConfigError(
        f"{where}: could not parse {key!r} as a configuration key "
        "(configuration keys should be of the form `<namespace>:<name>`)"
    )


def _secure_text(value: Any) -> str | None:
    """The ciphertext of ``{secure: TEXT}`` (``isSecureValue``, object.go: a map of one
    key, ``secure``, whose value is a string), else None."""
    if isinstance(value, dict) and len(value) == 1 and isinstance(value.get("secure"), str):
        return str(value["secure"])
    return None


def _has_secret(value: Any) -> bool:
    """True when ``value`` is or holds a secure value (``object.Secure``)."""
    if _secure_text(value) is not None:
        return True
    if isinstance(value, dict):
        return any(_has_secret(item) for item in value.values())
    if isinstance(value, list):
        return any(_has_secret(item) for item in value)
    return False


def _without_secrets(value: Any) -> Any:
    """``value`` with each nested secure value replaced by a stand-in."""
    if _secure_text(value) is not None:
        return _NESTED_STAND_IN
    if isinstance(value, dict):
        return {key: _without_secrets(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_without_secrets(item) for item in value]
    return value


@dataclass(frozen=True)
class Value:
    """One config value as the CLI holds it (``config.Value``): its text, and whether
    that text is JSON (an object or list) and whether it is or holds a secret."""

    text: str
    object: bool = False
    secure: bool = False
    raw: Any = None  # as written, for a secure value's stand-in


def stack_value(raw: Any) -> Value:
    """A value of a stack file's ``config:`` as the CLI holds it (``Value.UnmarshalYAML``):
    a scalar as its text, null as ``""`` (``checkForEmptyConfig``, loaders.go), an object
    or list as Go's JSON; secret when it is or holds ``secure:``."""
    if raw is None:
        return Value("")
    if _secure_text(raw) is not None:
        return Value(str(raw["secure"]), secure=True, raw=raw)
    if isinstance(raw, (dict, list)):
        return Value(go_yaml.go_json(raw), object=True, secure=_has_secret(raw), raw=raw)
    return Value(go_yaml.scalar_text(raw))


def config_string(value: Any) -> str:
    """A Pulumi.yaml default as the CLI hands it over (``createConfigValue``,
    pkg/workspace/config.go: strings, integers and booleans as text, the rest as JSON)."""
    return stack_value(value).text


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


def _is_go_int_text(text: str) -> bool:
    return bool(_GO_ATOI.fullmatch(text)) and _INT64[0] <= int(text) <= _INT64[1]


def _type_matches(value: Any, type_: str | None, items: str | None) -> bool:
    """The CLI's ``ValidateConfigValue`` (project.go) on a value as it sees it: a
    scalar's text, or the decoded JSON of an object."""
    if type_ is None:
        return True
    if type_ == "string":
        return isinstance(value, str)
    if type_ == "integer":
        if isinstance(value, bool):
            return False
        if isinstance(value, int) or (isinstance(value, float) and value.is_integer()):
            return True
        return isinstance(value, str) and _is_go_int_text(value)
    if type_ == "boolean":
        return value in ("true", "false") or isinstance(value, bool)
    if type_ == "object":
        return isinstance(value, dict)
    if type_ == "array":
        return isinstance(value, list) and items is not None and all(_type_matches(i, items, None) for i in value)
    return False


def _project_problems(name: str, declared: Mapping[str, Any]) -> list[str]:
    """``Project.Validate`` (project.go), every problem rather than the first."""
    problems = []
    for key, declaration in declared.items():
        if not isinstance(declaration, dict):
            problems.append(f"Pulumi.yaml: config {key!r} must be a value or a mapping of type, default, ...")
            continue
        default, value, type_ = declaration.get("default"), declaration.get("value"), declaration.get("type")
        if default is not None and value is not None:
            problems.append(f"Pulumi.yaml: project config '{key}' cannot have both a 'default' and 'value' attribute")
            continue
        items = declaration.get("items")
        items_type = items.get("type") if isinstance(items, dict) else None
        if ":" not in key or key.startswith(f"{name}:"):
            if type_ == "array" and items is None:
                problems.append(
                    f"Pulumi.yaml: The configuration key '{key}' declares an array but does not specify the "
                    "underlying type via the 'items' attribute"
                )
            elif type_ is not None and default is not None and not _type_matches(default, type_, items_type):
                type_name = f"array<{items_type}>" if type_ == "array" and items_type else str(type_)
                problems.append(
                    f"Pulumi.yaml: The default value specified for configuration key '{key}' is not of the expected "
                    f"type '{type_name}'"
                )
        elif type_ is not None:
            problems.append(
                f"Pulumi.yaml: Configuration key '{key}' is not namespaced by the project and should not define a type"
            )
        elif default is not None:
            problems.append(
                f"Pulumi.yaml: Configuration key '{key}' is not namespaced by the project and should not define a "
                "default value. Did you mean to use the 'value' attribute instead of 'default'?"
            )
        elif value is None:
            problems.append(
                f"Pulumi.yaml: Configuration key '{key}' is namespaced and must provide an attribute 'value'"
            )
    return problems


def declarations(project_dir: Path = PROJECT_DIR) -> dict[str, Declaration]:
    """``Pulumi.yaml``'s config declarations by full key; the project is refused where
    the CLI refuses it (``Project.Validate``)."""
    project = load_yaml(project_dir / "Pulumi.yaml")
    declared = project.get("config") or {}
    if not isinstance(declared, dict):
        raise StackConfigError("Pulumi.yaml: config must be a mapping")
    name = str(project.get("name") or PROJECT)
    # Shorthand `key: value` (RewriteShorthandConfigValues): a default for the project's
    # own keys, a value for another namespace's.
    written = {
        key: (
            declaration
            if isinstance(declaration, dict)
            else {"default" if ":" not in key or key.startswith(f"{name}:") else "value": declaration}
        )
        for key, declaration in declared.items()
    }
    problems = _project_problems(name, written)
    if problems:
        raise StackConfigError("; ".join(problems))
    result = {}
    for key, declaration in written.items():
        items = declaration.get("items")
        # Never both (refused above); mergeConfig applies whichever is set.
        default = declaration.get("default")
        if default is None:
            default = declaration.get("value")
        result[parse_key(key, "Pulumi.yaml")] = Declaration(
            key=key,
            type=declaration.get("type"),
            items=items.get("type") if isinstance(items, dict) else None,
            default=default,
            has_default=default is not None,
        )
    return result


def _missing_message(stack: str, keys: list[str]) -> str:
    quoted = [f"'{key}'" for key in sorted(keys)]
    listed = quoted[0] if len(quoted) == 1 else f"{', '.join(quoted[:-1])} and {quoted[-1]}"
    return f"Stack '{stack}' is missing configuration value{'s' if len(keys) > 1 else ''} {listed}"


def stack_file(stack: str, project_dir: Path = PROJECT_DIR) -> Path:
    """The path of ``Pulumi.<stack>.yaml``; a name the CLI would refuse is refused."""
    check_stack_name(stack)
    return project_dir / f"Pulumi.{stack}.yaml"


def stack_names(project_dir: Path = PROJECT_DIR) -> list[str]:
    """Every stack with a ``Pulumi.<stack>.yaml`` file, sorted (a broken one too: its
    own plan says what is wrong with it)."""
    return sorted(path.name[len("Pulumi.") : -len(".yaml")] for path in project_dir.glob("Pulumi.*.yaml"))


def _top_level_problems(name: str, document: Mapping[str, Any]) -> list[str]:
    problems = []
    if ESC_ENVIRONMENT_KEY in document:
        problems.append(
            f"{name}: environment: imports Pulumi ESC environments, whose pulumiConfig the CLI merges into this "
            "stack's config where no review or offline check sees it; set the values under config: instead"
        )
    unknown = sorted(set(document) - STACK_FILE_KEYS - {ESC_ENVIRONMENT_KEY})
    for key in unknown:
        close = difflib.get_close_matches(key, sorted(STACK_FILE_KEYS), n=1)
        hint = f"; did you mean {close[0]}?" if close else ""
        problems.append(
            f"{name}: {key}: is not a stack file key (a stack file holds {', '.join(sorted(STACK_FILE_KEYS))}; "
            f"the CLI would ignore it){hint}"
        )
    for key in sorted(STACK_FILE_KEYS - {"config"}):
        if key in document and not isinstance(document[key], str | None):
            problems.append(f"{name}: {key}: must be a string")
    return problems


def stack_config(stack: str, project_dir: Path = PROJECT_DIR) -> dict[str, Any]:
    """The ``config:`` of ``Pulumi.<stack>.yaml`` as written, keys namespaced; the file is
    refused where the CLI would refuse it, or where it hides or repeats a value."""
    path = stack_file(stack, project_dir)
    if not path.exists() and not path.is_symlink():
        stacks = stack_names(project_dir)
        close = difflib.get_close_matches(stack, stacks, n=1)
        hint = f"; did you mean {close[0]}?" if close else ""
        raise StackConfigError(
            f"{path.name} not found in {path.parent}: stack {stack!r} has no stack file (the stacks here: "
            f"{', '.join(stacks) or 'none'}){hint}"
        )
    document = load_yaml(path)
    problems = _top_level_problems(path.name, document)
    config = document.get("config")
    if config is None:
        config = {}
    if not isinstance(config, dict):
        problems.append(f"{path.name}: config must be a mapping")
        config = {}
    result: dict[str, Any] = {}
    spelt: dict[str, str] = {}
    for key, value in config.items():
        try:
            namespaced = parse_key(key, path.name)
        except StackConfigError as exc:
            problems.append(str(exc))
            continue
        if namespaced in spelt:
            # stackConfigNamespacedWithProject (loaders.go) puts both in one Go map: one is lost at random.
            problems.append(
                f"{path.name}: config sets {namespaced} twice, as {spelt[namespaced]} and {key}; the CLI keeps one "
                "at random, so keep one"
            )
            continue
        spelt[namespaced] = key
        result[namespaced] = value
    if problems:
        raise StackConfigError("; ".join(problems))
    return result


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
            flags = (
                {}
                if key in config.secret_keys
                else inputs.parse_json(config.values.get(key, "{}") or "{}", f"{stack} flags")
            )
        except InputFileError:  # not an object: that stack's own plan refuses it
            continue
        result[stack] = flags if isinstance(flags, dict) else {}
    return result


def parse_override(item: str) -> tuple[str, Value]:
    """``KEY=VALUE`` from the command line, as ``pulumi preview -c`` reads it
    (``parseConfig``, pkg/cmd/pulumi/project/newcmd/config.go): split at the first
    ``=``, the value a plain string, never parsed, and ``""`` when there is no ``=``."""
    key, _, value = item.partition("=")
    if not key:
        raise StackConfigError(f"--config {item!r}: expected KEY=VALUE (no key before '=')")
    return parse_key(key, f"--config {item!r}"), Value(value)


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

    def read(self, stack: str) -> settings.ConfigRead:
        """The program's own read of this config (``infra.settings.read_config``: its
        table's types, defaults and checks), in a context of its own."""

        def read() -> settings.ConfigRead:
            self.hand_over()
            return settings.read_config(stack)

        return contextvars.Context().run(read)


def _stand_in(key: str, declaration: Declaration | None) -> Any:
    row = settings.KEY_BY_FULL_NAME.get(key)
    if row is not None:
        return row.stand_in
    return _SECRET_STAND_INS.get(declaration.type if declaration and declaration.type else "string", "secret.invalid")


def _seen_by_type_check(value: Value) -> Any:
    """What ``validateStackConfigValue`` checks: the text, or the JSON it holds."""
    return json.loads(value.text) if value.object else value.text


def merged_config(stack: str, overrides: Iterable[str] = (), project_dir: Path = PROJECT_DIR) -> StackConfig:
    """The config the program would see on ``pulumi preview`` of ``stack``, after the
    CLI's checks; raises :class:`StackConfigError` where the CLI would refuse the stack."""
    return merge(stack, stack_config(stack, project_dir), overrides, project_dir)


def merge(
    stack: str, written: Mapping[str, Any], overrides: Iterable[str] = (), project_dir: Path = PROJECT_DIR
) -> StackConfig:
    """What :func:`merged_config` does once the stack file is read: ``written`` is its
    ``config:`` (namespaced keys, values as YAML holds them), checked and merged with
    ``Pulumi.yaml``'s declarations and ``overrides`` as the CLI does (tests plan through
    it with the stack file's mapping built in memory)."""
    declared = declarations(project_dir)
    given = {key: stack_value(raw) for key, raw in written.items()}
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
            and not value.secure
            and not _type_matches(_seen_by_type_check(value), declaration.type, declaration.items)
        ):
            problems.append(
                f"Stack '{stack}' with configuration key '{declaration.key}' must be of type '{declaration.type_name}'"
            )
    if problems:
        raise StackConfigError("; ".join(problems))

    values = {key: config_string(d.default) for key, d in declared.items() if d.has_default}
    secret_keys, notes = [], []
    for key in sorted(key for key, raw in written.items() if raw is None):
        # checkForEmptyConfig (loaders.go) warns that this will mean null one day.
        notes.append(f"config {key} has no value: the CLI reads it as an empty string, and warns")
    for key, value in given.items():
        if not value.secure:
            values[key] = value.text
            continue
        secret_keys.append(key)
        if value.object and _secure_text(value.raw) is None:
            shown = go_yaml.go_json(_without_secrets(value.raw))
            notes.append(
                f"config {key} holds encrypted (secure:) values that cannot be decrypted offline: the plan uses "
                f"{json.dumps(_NESTED_STAND_IN)} for each, keeps the whole key secret as the CLI does, and shows it "
                f"as {SECRET_MASK}"
            )
            values[key] = shown
            continue
        stand_in = _stand_in(key, declared.get(key))
        notes.append(
            f"config {key} is encrypted (secure:) and cannot be decrypted offline: the plan uses a stand-in "
            f"secret of its type ({json.dumps(stand_in)}) and shows it as {SECRET_MASK}"
        )
        values[key] = config_string(stand_in)
    return StackConfig(values, tuple(sorted(secret_keys)), tuple(sorted(notes)))
