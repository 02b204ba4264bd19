"""The config corpus of issue 16 §4: stack files and ``-c`` values on which the offline
model (``tools.stack_config`` plus the program) and the real Pulumi CLI must agree, or
where the offline tool is deliberately stricter, and why.

Each case is the repository's ``Pulumi.yaml`` and one of its stack files, changed as
``edit`` says, planned with ``overrides`` as ``-c`` values. ``offline`` is the expected
verdict here: None when the stack plans, else text the one-line refusal contains. ``cli``
is what the real CLI does with the same files (``pulumi preview --stack STACK -c ...``
on the local backend), read in its source and cited in ``source``; a real-engine test
runs the same cases through ``./dev pulumi`` and compares. ``stricter`` says why the
offline verdict differs from the CLI's where it does.

Secure values in the corpus are placeholders: a real-engine run writes them with
``pulumi config set --secret --path`` first (``secret_path``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ACCEPTS = "accepts"
REFUSES = "refuses"


def append(line: str) -> Callable[[str], str]:
    """An edit that adds ``line`` under ``config:`` (the stack files end inside it)."""
    return lambda text: f"{text.rstrip()}\n{line}\n"


def replace(old: str, new: str) -> Callable[[str], str]:
    def edit(text: str) -> str:
        assert old in text, old
        return text.replace(old, new)

    return edit


def prepend(line: str) -> Callable[[str], str]:
    return lambda text: f"{line}\n{text}"


@dataclass(frozen=True)
class Case:
    """One corpus entry (see the module's docstring)."""

    name: str
    stack: str
    offline: str | None
    cli: str
    source: str
    edit: Callable[[str], str] = lambda text: text
    project_edit: Callable[[str], str] = lambda text: text
    overrides: tuple[str, ...] = ()
    stricter: str = ""
    secret_path: str = ""  # `pulumi config set --secret --path KEY VALUE` before the preview
    notes: tuple[str, ...] = field(default_factory=tuple)

    def files(self, directory: Path) -> Path:
        """Write the case's Pulumi.yaml and stack file into ``directory``."""
        (directory / "Pulumi.yaml").write_text(self.project_edit((ROOT / "Pulumi.yaml").read_text()))
        stack_file = f"Pulumi.{self.stack}.yaml"
        (directory / stack_file).write_text(self.edit((ROOT / stack_file).read_text()))
        return directory


GO_YAML = "go-yaml v3.0.1 resolve.go (resolveMapList), via pulumi/pulumi sdk/go/common/encoding/marshal.go"
TYPE_CHECK = "pulumi/pulumi pkg/workspace/config.go validateStackConfigValue, sdk/go/common/workspace/project.go ValidateConfigValue"
PARSE_CONFIG = "pulumi/pulumi pkg/cmd/pulumi/project/newcmd/config.go parseConfig (config.NewValue, '' without '=')"

CORPUS = (
    Case(
        "yaml-1.1-yes-is-a-string",
        "dev",
        "Stack 'dev' with configuration key 'allowEmptyRegistry' must be of type 'boolean'",
        REFUSES,
        f"{GO_YAML}; {TYPE_CHECK}",
        edit=append("  gyrinx-tasks:allowEmptyRegistry: yes"),
    ),
    Case(
        "yaml-1.1-on-is-a-string",
        "dev",
        "Stack 'dev' with configuration key 'allowEmptyRegistry' must be of type 'boolean'",
        REFUSES,
        f"{GO_YAML}; {TYPE_CHECK}",
        edit=append("  gyrinx-tasks:allowEmptyRegistry: on"),
    ),
    Case(
        "yaml-1.2-True-is-a-boolean",
        "dev",
        None,
        ACCEPTS,
        GO_YAML,
        edit=append("  gyrinx-tasks:allowEmptyRegistry: False"),
    ),
    Case(
        "yaml-1.1-off-in-flags-reaches-the-program-as-text",
        "example",
        "flag ENABLE_BATCH_JOB is 'off'; it must be true or false",
        REFUSES,
        f"{GO_YAML}; the program refuses it (infra/settings.py)",
        edit=replace("ENABLE_BATCH_JOB: false", "ENABLE_BATCH_JOB: off"),
    ),
    Case(
        "yaml-null-is-the-empty-string",
        "dev",
        None,
        ACCEPTS,
        "pulumi/pulumi sdk/go/common/workspace/loaders.go checkForEmptyConfig (warns); go-yaml decode.go d.null",
        edit=replace("gyrinx-tasks:cloudRunService: gyrinx", "gyrinx-tasks:cloudRunService: ~"),
    ),
    Case(
        "secret-nested-by-path",
        "dev",
        None,
        ACCEPTS,
        "pulumi/pulumi sdk/go/common/resource/config/object.go (object.Secure, MarshalString)",
        edit=replace(
            "  gyrinx-tasks:labels:\n    team: platform", "  gyrinx-tasks:labels:\n    team:\n      secure: v1:x"
        ),
        secret_path="labels.team platform",
    ),
    Case(
        "c-value-is-a-plain-string",
        "dev",
        None,
        ACCEPTS,
        PARSE_CONFIG,
        overrides=('labels={"team": "platform"}',),
    ),
    Case(
        "c-key-without-value-is-empty",
        "dev",
        None,
        ACCEPTS,
        PARSE_CONFIG,
        overrides=("cloudRunService",),
    ),
    Case(
        "c-array-value-is-a-string-not-an-array",
        "dev",
        "Stack 'dev' with configuration key 'alertNotificationChannels' must be of type 'array<string>'",
        REFUSES,
        f"{PARSE_CONFIG}; {TYPE_CHECK}",
        overrides=('alertNotificationChannels=["projects/gyrinx-dev/notificationChannels/1"]',),
    ),
    Case(
        "ns-config-k-spelling",
        "dev",
        "is the old ns:config:k spelling, which the CLI reads as gcp:project",
        ACCEPTS,
        "pulumi/pulumi sdk/go/common/resource/config/key.go ParseKey",
        edit=replace("gcp:project:", "gcp:config:project:"),
        stricter="two spellings of one key collapse in a Go map and which wins is random (issue 15 §5)",
    ),
    Case(
        "value-and-default",
        "dev",
        "project config 'environment' cannot have both a 'default' and 'value' attribute",
        REFUSES,
        "pulumi/pulumi sdk/go/common/workspace/project.go Project.Validate",
        project_edit=replace('    default: ""\n  serviceUrl:', '    default: ""\n    value: x\n  serviceUrl:'),
    ),
    Case(
        "esc-environment-import",
        "dev",
        "environment: imports Pulumi ESC environments",
        REFUSES,
        "pulumi/pulumi pkg/cmd/pulumi/config/config.go checkStackEnv: a backend without ESC (the local one) "
        "refuses; Pulumi Cloud would merge the environment's pulumiConfig (pkg/workspace/config.go mergeConfig)",
        edit=prepend("environment:\n  - gyrinx/prod-overrides"),
        notes=(
            "refused offline on every backend: on Pulumi Cloud the imported values would reach the program unreviewed",
        ),
    ),
    Case(
        "repeated-key",
        "dev",
        'mapping key "gcp:region" already defined',
        REFUSES,
        "go-yaml v3.0.1 decode.go d.mapping (uniqueKeys)",
        edit=append("  gcp:region: us-central1"),
    ),
    Case(
        "gcp-provider-setting",
        "dev",
        "config gcp:pubsubCustomEndpoint: is not a gcp: setting this program accepts",
        REFUSES,
        "the program refuses it (infra/settings.py GCP_KEYS), under the CLI as offline",
        overrides=("gcp:pubsubCustomEndpoint=https://collector.example/v1/",),
    ),
    Case(
        "kms-secrets-provider",
        "example",  # a stack file without a secretsprovider of its own (dev and prod have one)
        None,
        ACCEPTS,
        "pulumi/pulumi sdk/go/common/workspace/project.go ProjectStack (secretsprovider, encryptedkey)",
        edit=prepend(
            "secretsprovider: gcpkms://projects/gyrinx-example/locations/global/keyRings/pulumi/cryptoKeys/example\n"
            "encryptedkey: CiQAb3J5cHRlZA=="
        ),
        notes=("a real-engine run needs a key it can use, or the stand-in secrets provider",),
    ),
)
