"""``Pulumi.yaml``'s ``config:`` block and docs/configuration.md's key table, written from
the one table of config keys (``infra.settings.KEYS``); docs/resources.md's table of
resource kinds, from the one catalogue of them (``infra.ownership.KINDS``).

``./dev config-docs`` rewrites both; ``--check`` only says which is stale (and
tests/test_config_keys.py fails while one is). Everything else in both files is
handwritten and kept as it is: in ``Pulumi.yaml`` the generated part is the top-level
``config:`` block (with the comment line above it), in the document the lines between
:data:`DOC_BEGIN` and :data:`DOC_END`. The same habit as a Terraform module's
``variables.tf`` and the README table generated from it (e.g. GoogleCloudPlatform's
cloud-foundation-fabric, whose ``tools/tfdoc.py`` rewrites the table between markers).
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path
from typing import Any

import yaml

from infra import ownership, settings
from tools.errors import StaleError

PROJECT_DIR = Path(__file__).resolve().parent.parent
PULUMI_YAML = "Pulumi.yaml"
CONFIGURATION_MD = "docs/configuration.md"
PULUMI_COMMENT = "# Generated from infra/settings.py KEYS by ./dev config-docs: edit the table, not this block."
DOC_BEGIN = "<!-- generated: config keys (./dev config-docs, from infra/settings.py KEYS) -->"
DOC_END = "<!-- end: config keys -->"
RESOURCES_MD = "docs/resources.md"
KINDS_BEGIN = "<!-- generated: resource kinds (./dev config-docs, from infra/ownership.py KINDS) -->"
KINDS_END = "<!-- end: resource kinds -->"
# The top-level `config:` key and its indented (or blank) lines, after the comment if any.
_CONFIG_BLOCK = re.compile(rf"^(?:{re.escape(PULUMI_COMMENT)}\n)?config:[^\n]*\n(?:(?:[ \t][^\n]*)?\n)*", re.MULTILINE)


class _Dumper(yaml.SafeDumper):
    """PyYAML's safe dumper, writing an empty string as ``""`` (the file's own style)."""


def _string(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style='"' if value == "" else None)


_Dumper.add_representer(str, _string)


def pulumi_config_block() -> str:
    """``Pulumi.yaml``'s ``config:`` block: every key the project may declare (its own
    namespace's, no objects), in the table's order."""
    declared = {key.name: key.declaration() for key in settings.KEYS if key.declared}
    body = yaml.dump({"config": declared}, Dumper=_Dumper, sort_keys=False, width=10_000, allow_unicode=True)
    return f"{PULUMI_COMMENT}\n{body}"


def render_pulumi_yaml(text: str) -> str:
    """``text`` (a Pulumi.yaml) with its ``config:`` block generated; one is appended
    when it has none."""
    block = pulumi_config_block()
    if _CONFIG_BLOCK.search(text):
        return _CONFIG_BLOCK.sub(lambda _: block, text, count=1)
    return text.rstrip("\n") + "\n" + block


def _type(key: settings.Key) -> str:
    return f"array of {key.items}s" if key.type == "array" else key.type


def _default(key: settings.Key) -> str:
    if key.required is not None:
        return "required"
    if key.default_shown is not None:
        return key.default_shown
    if key.default == "":
        return "unset"
    shown = key.default if isinstance(key.default, str) else json.dumps(key.default)
    return f"`{shown}`"


def docs_table() -> str:
    """The Markdown table of every key, in the table's order."""
    lines = ["| key | type | default | may be secret | meaning |", "| --- | --- | --- | --- | --- |"]
    for key in settings.KEYS:
        name = key.full_name if key.namespace != settings.PROJECT else key.name
        meaning = key.description.replace("|", "\\|")
        lines.append(
            f"| `{name}` | {_type(key)} | {_default(key)} | {'yes' if key.secret_able else 'no'} | {meaning} |"
        )
    return "\n".join(lines) + "\n"


def _between(text: str, name: str, begin_marker: str, end_marker: str, body: str) -> str:
    begin, end = text.find(begin_marker), text.find(end_marker)
    if begin < 0 or end < begin:
        raise StaleError(f"{name}: the markers {begin_marker} and {end_marker} are missing")
    return f"{text[: begin + len(begin_marker)]}\n{body}{text[end:]}"


def render_configuration_md(text: str) -> str:
    """``text`` (docs/configuration.md) with the part between the markers generated."""
    return _between(text, CONFIGURATION_MD, DOC_BEGIN, DOC_END, docs_table())


def kinds_table() -> str:
    """The Markdown table of every resource kind the program declares."""
    lines = [
        "| type | what | replaced when these inputs change | adopted by import-file | holds messages |",
        "| --- | --- | --- | --- | --- |",
    ]
    for kind in ownership.KINDS:
        immutable = ", ".join(f"`{name}`" for name in sorted(kind.immutable)) or "—"
        source = f" ({kind.source})" if kind.source else ""
        lines.append(
            f"| `{kind.token}` | {kind.label} | {immutable}{source} | {'yes' if kind.adopted else 'no'} "
            f"| {'yes' if kind.holds_messages else 'no'} |"
        )
    return "\n".join(lines) + "\n"


def render_resources_md(text: str) -> str:
    """``text`` (docs/resources.md) with the part between the markers generated."""
    return _between(text, RESOURCES_MD, KINDS_BEGIN, KINDS_END, kinds_table())


def _targets(project_dir: Path) -> list[tuple[Path, Any]]:
    return [
        (project_dir / PULUMI_YAML, render_pulumi_yaml),
        (project_dir / CONFIGURATION_MD, render_configuration_md),
        (project_dir / RESOURCES_MD, render_resources_md),
    ]


def stale(project_dir: Path = PROJECT_DIR) -> list[str]:
    """The generated files (relative paths) that differ from what the table gives."""
    return [
        str(path.relative_to(project_dir))
        for path, render in _targets(project_dir)
        if render(path.read_text()) != path.read_text()
    ]


def write(project_dir: Path = PROJECT_DIR) -> list[str]:
    """Rewrite the generated parts; the files that changed."""
    changed = []
    for path, render in _targets(project_dir):
        text = path.read_text()
        new = render(text)
        if new != text:
            path.write_text(new)
            changed.append(str(path.relative_to(project_dir)))
    return changed


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--check", action="store_true", help="only fail (exit 2) when a generated part is stale")


def run(args: argparse.Namespace) -> int:
    if args.check:
        out_of_date = stale()
        if out_of_date:
            raise StaleError(
                f"{', '.join(out_of_date)} out of date with infra/settings.py KEYS or infra/ownership.py KINDS: "
                "run ./dev config-docs"
            )
        return 0
    for name in write():
        print(f"wrote {name}")
    return 0
