"""Reading an input file that a user, a pull request or another tool wrote: one way, bounded.

Every file this project reads as data goes through :func:`read_bytes`, and every JSON
document through :func:`parse_json` (or both, :func:`read_json`), so each hostile shape
is refused in one place, as one line naming the file:

- only a regular file is read: a directory, ``/dev/zero``, ``/dev/stdin`` or a FIFO is
  refused at once instead of raising, filling memory or waiting forever. The file is
  opened with ``O_NONBLOCK`` and checked with ``fstat`` on the open descriptor, so
  swapping in a FIFO after a check cannot make the open hang (open(2): a FIFO opened
  ``O_RDONLY | O_NONBLOCK`` returns at once);
- at most :data:`MAX_INPUT_BYTES` are read;
- the text must be UTF-8 (a UTF-8 byte order mark is dropped, as the Pulumi CLI's
  ``readFileStripUTF8BOM`` does, pulumi/pulumi ``sdk/go/common/workspace/loaders.go``);
- a JSON document may nest at most :data:`MAX_JSON_DEPTH` arrays and objects: Python's
  ``json`` decoder recurses per level and raises ``RecursionError`` on deep input
  (100,000 levels), so the depth is counted first, without recursion;
- a repeated name in one JSON object is refused (``json`` would keep the last one
  silently), and so are ``NaN`` and ``Infinity``, which Python accepts but JSON
  (RFC 8259 section 6) does not.

The program (``infra/``) and the offline tools share it; tools import it, never the
reverse.
"""

from __future__ import annotations

import json
import os
import re
import stat
from pathlib import Path
from typing import Any

from infra.errors import InputFileError

# The most any input file may hold. The largest real inputs are `pulumi preview --json`
# and offline plans of a 1,000-task registry (a few MB); 64 MiB leaves room for ten
# times that and still stops /dev/zero-like input long before memory runs out.
MAX_INPUT_BYTES = 64 * 1024 * 1024
# The deepest nesting of arrays and objects a JSON input may have. The documents read
# here (previews, plans, snapshots, gcloud listings) nest fewer than 20 levels.
MAX_JSON_DEPTH = 100
_UTF8_BOM = b"\xef\xbb\xbf"
# A JSON string (skipped whole, so brackets inside it do not count) or a bracket.
_JSON_TOKENS = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]', re.DOTALL)
_FILE_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISFIFO, "a pipe (FIFO)"),
    (stat.S_ISSOCK, "a socket"),
)


def _kind(mode: int) -> str:
    return next((name for test, name in _FILE_KINDS if test(mode)), "not a regular file")


def read_bytes(path: Path, label: str, limit: int = MAX_INPUT_BYTES) -> bytes:
    """The bytes of the regular file ``path``, at most ``limit`` of them.

    Raises :class:`InputFileError` (``label: reason``) when it cannot be opened, is not
    a regular file, or holds more than ``limit`` bytes.
    """
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except (OSError, ValueError) as exc:  # ValueError: a path with a NUL byte
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        missing = isinstance(exc, FileNotFoundError)
        raise InputFileError(label, f"cannot read it: {reason}", missing=missing) from None
    try:
        mode = os.fstat(descriptor).st_mode
    except OSError:
        os.close(descriptor)
        raise
    if not stat.S_ISREG(mode):
        os.close(descriptor)
        raise InputFileError(label, f"is {_kind(mode)}, not a regular file; only regular files are read")
    with os.fdopen(descriptor, "rb") as stream:
        try:
            data = stream.read(limit + 1)
        except OSError as exc:
            raise InputFileError(label, f"cannot read it: {exc.strerror or exc}") from None
    if len(data) > limit:
        raise InputFileError(label, f"is larger than {limit:,} bytes, the most an input file may hold")
    return data


def decode_text(data: bytes, label: str) -> str:
    """``data`` as UTF-8 text, without a leading byte order mark."""
    data = data.removeprefix(_UTF8_BOM)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputFileError(
            label, f"is not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start})", content=True
        ) from None


def read_text(path: Path, label: str, limit: int = MAX_INPUT_BYTES) -> str:
    """The UTF-8 text of the regular file ``path`` (see :func:`read_bytes`)."""
    return decode_text(read_bytes(path, label, limit), label)


def json_depth(text: str) -> int:
    """The deepest nesting of arrays and objects in the JSON ``text`` (strings skipped),
    counted without recursion."""
    depth = deepest = 0
    for match in _JSON_TOKENS.finditer(text):
        first = match.group()[0]  # a bracket, or the quote opening a string
        if first in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif first in "]}":
            depth -= 1
    return deepest


class _Repeated(ValueError):
    """A JSON object naming one key twice."""


def _unique_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    document: dict[str, Any] = {}
    for key, value in pairs:
        if key in document:
            raise _Repeated(key)
        document[key] = value
    return document


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


def parse_json(text: str, label: str) -> Any:
    """The JSON document ``text``; :class:`InputFileError` when it is not one, nests
    deeper than :data:`MAX_JSON_DEPTH`, repeats a key in an object or holds NaN."""
    depth = json_depth(text)
    if depth > MAX_JSON_DEPTH:
        raise InputFileError(
            label, f"not JSON this program reads: it nests {depth} levels deep (at most {MAX_JSON_DEPTH})", content=True
        )
    try:
        return json.loads(text, object_pairs_hook=_unique_object, parse_constant=_no_constant)
    except _Repeated as exc:
        raise InputFileError(label, f"names the key {exc.args[0]!r} twice in one object", content=True) from None
    except RecursionError:  # not reached after the depth count; kept so no input can raise it
        raise InputFileError(label, "not JSON this program reads: it nests too deeply", content=True) from None
    except ValueError as exc:
        raise InputFileError(label, f"not JSON ({exc})", content=True) from None


def read_json(path: Path, label: str, limit: int = MAX_INPUT_BYTES) -> Any:
    """The JSON document in the regular file ``path``: :func:`read_text` then
    :func:`parse_json`."""
    return parse_json(read_text(path, label, limit), label)
