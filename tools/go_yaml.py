"""YAML read as the Pulumi CLI reads ``Pulumi.yaml`` and ``Pulumi.<stack>.yaml``: go-yaml v3.

The CLI decodes both with ``gopkg.in/yaml.v3`` (pulumi/pulumi
``sdk/go/common/encoding/marshal.go``, ``yamlMarshaler.Unmarshal``; ``sdk/go.mod`` pins
v3.0.1), whose plain scalars follow YAML 1.2's core schema, not PyYAML's YAML 1.1
(go-yaml v3.0.1 ``resolve.go``, ``resolve``):

- booleans are only ``true True TRUE false False FALSE``; ``yes no on off y n`` are strings;
- null is ``~ null Null NULL`` or nothing;
- integers are what Go's ``strconv.ParseInt(s, 0, 64)`` reads once every ``_`` is
  removed (``0x1f``, ``0o17``, ``0b11``, and ``017``, octal), then ``ParseUint``; then
  ``[-+]?(\\.[0-9]+|[0-9]+(\\.[0-9]*)?)([eE][-+]?[0-9]+)?`` is a float; ``1:30`` (YAML
  1.1's base 60) is a string;
- ``.inf``/``.nan`` are floats, which the CLI then cannot turn into config (JSON has no
  such number: ``encoding/json``, "unsupported value");
- an unquoted ``2024-01-01`` is a timestamp, which the CLI hands the program as Go's
  ``time.Time.String()`` (``2024-01-01 00:00:00 +0000 UTC``; pulumi/pulumi
  ``sdk/go/common/resource/config/object.go``, ``unmarshalObject``);
- a mapping key may be defined once (go-yaml ``decode.go``: "mapping key %#v already
  defined at line %d") and must be a string (``SimplifyMarshalledValue``, pulumi/pulumi
  ``sdk/go/common/workspace/project.go``: "expected only string keys").

Stricter than the CLI, on purpose (a stack file has no use for them, and each is a way
to hide or multiply a value): an alias (``*name``) and a merge key (``<<``) are refused
at once, so a 1 KB "billion laughs" document costs nothing to refuse; a document nests at
most :data:`MAX_DEPTH` levels; a second document (``---``) is refused, where go-yaml's
``Unmarshal`` silently reads only the first; a timestamp, ``.inf`` and ``.nan`` are
refused with what to write instead; an explicit tag other than ``!!str`` is refused.

The document is read from the parser's events with an explicit stack, never PyYAML's
recursive composer or constructor, so no input can raise ``RecursionError``.
"""

from __future__ import annotations

import datetime
import json
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import yaml

# Deeper than any project or stack file needs (config objects nest two or three levels).
MAX_DEPTH = 64
_STR_TAG = "tag:yaml.org,2002:str"
_MAP_TAG = "tag:yaml.org,2002:map"
_SEQ_TAG = "tag:yaml.org,2002:seq"
# go-yaml v3.0.1 resolve.go, resolveMapList.
_WORDS: dict[str, Any] = {
    **dict.fromkeys(("true", "True", "TRUE"), True),
    **dict.fromkeys(("false", "False", "FALSE"), False),
    **dict.fromkeys(("", "~", "null", "Null", "NULL"), None),
    **dict.fromkeys((".nan", ".NaN", ".NAN"), math.nan),
    **dict.fromkeys((".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF"), math.inf),
    **dict.fromkeys(("-.inf", "-.Inf", "-.INF"), -math.inf),
}
_MERGE = "<<"
# resolveTable: the first characters that may start something other than a string.
_HINT_DIGIT_OR_SIGN = frozenset("0123456789+-")
_YAML_FLOAT = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?")
# Go's strconv.ParseFloat on what resolve.go's '.' hint leaves (".5", ".5e3").
_DOT_FLOAT = re.compile(r"\.[0-9]+([eE][-+]?[0-9]+)?")
# resolve.go's allowedTimestampFormats, as Go's time.Parse reads them.
_TIMESTAMP = re.compile(
    r"(?P<year>[0-9]{4})-(?P<month>[0-9]{1,2})-(?P<day>[0-9]{1,2})"
    r"(?:(?P<sep>[Tt ])(?P<hour>[0-9]{1,2}):(?P<minute>[0-9]{1,2}):(?P<second>[0-9]{1,2})(?:\.[0-9]+)?"
    r"(?P<zone>Z|[+-][0-9]{2}:[0-9]{2})?)?"
)
_INT64 = (-(2**63), 2**63 - 1)
_UINT64_MAX = 2**64 - 1
# Go's encoding/json escapes these in strings (encodeState.string, HTMLEscape).
_GO_JSON_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}


class GoYamlError(ValueError):
    """A document the CLI would refuse, or one this reader refuses; the message names
    the line."""


@dataclass
class _Collection:
    value: dict[str, Any] | list[Any]
    key: str | None = None
    key_lines: dict[str, int] = field(default_factory=dict)


def _go_int(text: str) -> int | None:
    """``strconv.ParseInt(text, 0, 64)``, else ``ParseUint(text, 0, 64)``; None when
    neither reads it."""
    sign, body = (text[0], text[1:]) if text[:1] in "+-" else ("", text)
    lowered = body.lower()
    if lowered.startswith(("0x", "0o", "0b")):
        digits, base = body[2:], {"x": 16, "o": 8, "b": 2}[lowered[1]]
    elif len(body) > 1 and body.startswith("0"):
        digits, base = body[1:], 8
    else:
        digits, base = body, 10
    allowed = "0123456789abcdef"[:base]
    if not digits or any(char not in allowed for char in digits.lower()):
        return None
    number = int(digits, base) * (-1 if sign == "-" else 1)
    # ParseUint takes no sign.
    if _INT64[0] <= number <= _INT64[1] or (not sign and number <= _UINT64_MAX):
        return number
    return None


def _is_timestamp(text: str) -> bool:
    match = _TIMESTAMP.fullmatch(text)
    if not match:
        return False
    # Layouts: "2006-1-2T15:4:5.999999999Z07:00" (a zone is required after T or t),
    # "2006-1-2 15:4:5.999999999" (no zone after a space), "2006-1-2".
    if match["sep"] and (match["sep"] == " ") == bool(match["zone"]):
        return False
    try:
        datetime.date(int(match["year"]), int(match["month"]), int(match["day"]))
        if match["sep"]:
            datetime.time(int(match["hour"]), int(match["minute"]), int(match["second"]))
    except ValueError:
        return False
    return True


def resolve_plain(text: str, line: int) -> Any:
    """An untagged plain scalar as go-yaml v3 resolves it (``resolve.go``)."""
    if text in _WORDS:
        value = _WORDS[text]
        if isinstance(value, float):
            raise GoYamlError(
                f"line {line}: {text} is a YAML float JSON cannot hold, and the CLI refuses it in config; "
                f"quote it ('{text}') for the text"
            )
        return value
    if not text:
        return None
    first = text[0]
    if first == ".":
        return float(text) if _DOT_FLOAT.fullmatch(text) else text
    if first not in _HINT_DIGIT_OR_SIGN:
        return text
    if _is_timestamp(text):
        raise GoYamlError(
            f"line {line}: {text} is a YAML timestamp, which the CLI hands the program as Go's time text "
            f"(like '2024-01-01 00:00:00 +0000 UTC'); quote it ('{text}') for the text"
        )
    plain = text.replace("_", "")
    integer = _go_int(plain)
    if integer is not None:
        return integer
    if _YAML_FLOAT.fullmatch(plain):
        number = float(plain)
        # Go's ParseFloat fails on overflow (ErrRange), and the text stays a string.
        return number if math.isfinite(number) else text
    return text


def _scalar(event: yaml.ScalarEvent, line: int) -> Any:
    if event.tag not in (None, "!", _STR_TAG):
        raise GoYamlError(f"line {line}: the explicit tag {event.tag} is not read here; write the value plainly")
    plain_untagged = event.implicit[0] and event.tag is None
    return resolve_plain(event.value, line) if plain_untagged else event.value


def _events(text: str) -> Iterator[yaml.Event]:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        yield from yaml.parse(text, Loader=loader)
    except yaml.YAMLError as exc:
        raise GoYamlError(" ".join(str(exc).split())) from None


def load(text: str) -> Any:
    """The first and only document of ``text`` as go-yaml v3 decodes it into ``any``:
    dicts with string keys, lists, strings, bools, ints, floats and None."""
    stack: list[_Collection] = []
    documents = 0
    result: Any = None

    def add(value: Any, line: int, is_key_candidate: bool) -> None:
        nonlocal result
        if not stack:
            result = value
            return
        top = stack[-1]
        if isinstance(top.value, list):
            top.value.append(value)
            return
        if top.key is None:
            if not is_key_candidate or not isinstance(value, str):
                shown = "a mapping or list" if not is_key_candidate else json.dumps(value)
                raise GoYamlError(f"line {line}: expected only string keys, got {shown}")
            if value == _MERGE:
                raise GoYamlError(f"line {line}: merge keys (<<) are not read here; write each key out")
            if value in top.key_lines:
                raise GoYamlError(
                    f"line {line}: mapping key {json.dumps(value)} already defined at line {top.key_lines[value]}"
                )
            top.key_lines[value] = line
            top.key = value
            return
        top.value[top.key] = value
        top.key = None

    for event in _events(text):
        line = event.start_mark.line + 1 if event.start_mark else 0
        if isinstance(event, yaml.DocumentStartEvent):
            documents += 1
            if documents > 1:
                raise GoYamlError(
                    f"line {line}: a second YAML document (---); the CLI reads only the first, so keep one"
                )
        elif isinstance(event, yaml.AliasEvent):
            raise GoYamlError(
                f"line {line}: the alias *{event.anchor} is not allowed: write the value out (aliases can "
                "repeat a value without bound)"
            )
        elif isinstance(event, yaml.ScalarEvent):
            add(_scalar(event, line), line, True)
        elif isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
            expected = _MAP_TAG if isinstance(event, yaml.MappingStartEvent) else _SEQ_TAG
            if event.tag not in (None, "!", expected):
                raise GoYamlError(f"line {line}: the explicit tag {event.tag} is not read here")
            if len(stack) >= MAX_DEPTH:
                raise GoYamlError(f"line {line}: nests deeper than {MAX_DEPTH} levels")
            container: dict[str, Any] | list[Any] = {} if isinstance(event, yaml.MappingStartEvent) else []
            add(container, line, False)
            stack.append(_Collection(container))
        elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
            stack.pop()
    return result


def _go_float(number: float) -> str:
    """``encoding/json``'s text of a float64 (floatEncoder): shortest digits, fixed
    notation unless below 1e-6 or from 1e21, ``e-07`` written ``e-7``."""
    magnitude = abs(number)
    if magnitude != 0 and (magnitude < 1e-6 or magnitude >= 1e21):
        text = repr(number)
        return re.sub(r"e([-+])0(\d)$", r"e\g<1>\g<2>", text) if "e-0" in text else text
    fixed = format(Decimal(repr(number)), "f")
    return fixed.rstrip("0").rstrip(".") if "." in fixed else fixed


def go_json(value: Any) -> str:
    """``value`` as Go's ``json.Marshal`` writes it, which is how the CLI hands an
    object-valued config key to the program: keys sorted, no spaces, ``<>&`` escaped."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise GoYamlError(f"{value} cannot be written as JSON")
        return _go_float(value)
    if isinstance(value, str):
        text = json.dumps(value, ensure_ascii=False)
        for char, escape in _GO_JSON_ESCAPES.items():
            text = text.replace(char, escape)
        return text
    if isinstance(value, dict):
        return "{" + ",".join(f"{go_json(str(key))}:{go_json(value[key])}" for key in sorted(value)) + "}"
    if isinstance(value, list):
        return "[" + ",".join(go_json(item) for item in value) + "]"
    raise TypeError(f"not a YAML value: {type(value).__name__}")


def scalar_text(value: bool | int | float | str) -> str:
    """A top-level config scalar as the CLI stores it (``object.MarshalString``: strings
    as they are, booleans and numbers as their JSON text)."""
    return value if isinstance(value, str) else go_json(value)
