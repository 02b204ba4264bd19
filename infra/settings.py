"""The stack's settings: read once from ``pulumi.Config``, validated once, frozen.

Every config key the program reads is read here and nowhere else. A bad value, or a
``gyrinx-tasks:`` key the program does not know (a typo in a stack file), is reported
with the key's name, together with every other problem.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import pulumi
from pulumi.runtime import config as runtime_config

PROJECT = "gyrinx-tasks"
DEFAULT_PUSH_ACCOUNT_ID = "pubsub-invoker"

# Every key of the project's namespace the program reads, and the Settings attribute it
# fills; anything else in the namespace is a typo.
SETTING_OF_KEY: Mapping[str, str] = MappingProxyType(
    {
        "environment": "environment",
        "serviceUrl": "service_url",
        "pushServiceAccountId": "push_service_account_id",
        "pushServiceAccountEmail": "push_service_account_email",
        "appServiceAccount": "app_service_account",
        "cloudRunService": "cloud_run_service",
        "cloudRunRegion": "cloud_run_region",
        "flags": "flags",
        "labels": "labels",
        "registry": "registry",
        "allowEmptyRegistry": "allow_empty_registry",
        "alertNotificationChannels": "alert_notification_channels",
        "deployServiceAccount": "deploy_service_account",
        "djangoSettingsModule": "django_settings_module",
    }
)
KNOWN_KEYS = frozenset(SETTING_OF_KEY)
# Settings that may be secret: each reaches resources only through Settings.input or
# secret_if, and none is part of a resource's id, so it stays secret in every input,
# output and id. The others are refused as secrets rather than leaked: they are part of
# resource ids and names (the project, region, environment, the push account; IAM
# members' ids are "{resource}/{role}/{member}", so every account email and the Cloud Run
# service name are in one), which Pulumi and Google show in plain text, or they are
# shown anyway (flags become Cloud Run environment variables and each job's `paused`).
SECRET_ABLE = frozenset({"service_url", "labels", "alert_notification_channels"})

# Config namespaces this program reads, plus the engine's own. A key in any other
# namespace (say ``gyrinx_tasks:cloudRunService``) is a typo that would otherwise be
# silently ignored, and with it, say, a grant.
KNOWN_NAMESPACES = frozenset({"gcp", PROJECT, "pulumi"})

_ENVIRONMENT = re.compile(r"[a-z][a-z0-9-]{0,29}")
_ACCOUNT_ID = re.compile(r"[a-z][a-z0-9-]{4,28}[a-z0-9]")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_FLAG = re.compile(r"[A-Z][A-Z0-9_]*")
# Project ids: "6 to 30 lowercase letters, digits, or hyphens. It must start with a
# letter, and cannot have a trailing hyphen"
# (https://cloud.google.com/resource-manager/docs/creating-managing-projects).
_PROJECT = re.compile(r"[a-z][a-z0-9-]{4,28}[a-z0-9]")
# Region names are {geography}-{direction}{number}: europe-west2, us-central1,
# northamerica-northeast1, me-central2 (https://cloud.google.com/compute/docs/regions-zones).
# A pattern rather than a list, which would go stale as regions open; it refuses a
# zone (europe-west2-a), a multi-region (europe) and a typo of the shape.
_REGION = re.compile(r"[a-z]+(?:-[a-z]+)+[0-9]+")
_ZONE = re.compile(r"(?P<region>[a-z]+(?:-[a-z]+)+[0-9]+)-[a-z]")
# Cloud Run service ids: lowercase letters, digits and hyphens; "must begin with
# letter, and cannot end with hyphen; must contain fewer than 50 characters"
# (https://cloud.google.com/run/docs/reference/rest/v2/projects.locations.services/create).
_CLOUD_RUN_SERVICE = re.compile(r"[a-z](?:[a-z0-9-]{0,47}[a-z0-9])?")
# Labels go on topics and subscriptions (Resource Manager's rules: keys 1-63
# characters starting with a lowercase letter, values 0-63, lowercase letters, digits,
# _ and -, "international characters are allowed",
# https://cloud.google.com/resource-manager/docs/labels-overview) and on the alert
# policy's user_labels (Monitoring: "lowercase letters, numerals, underscores, and
# dashes", each at most 63 characters or 128 bytes, https://cloud.google.com/monitoring/api/ref_v3/rest/v3/projects.alertPolicies).
# ASCII only: the rule both accept, and "lowercase" means one thing in it.
_LABEL_KEY = re.compile(r"[a-z][a-z0-9_-]{0,62}")
_LABEL_VALUE = re.compile(r"[a-z0-9_-]{0,63}")
# "Each resource can have multiple labels, up to a maximum of 64" (labels-overview);
# the program's own fixed_labels count towards it.
MAX_LABELS = 64
# A DNS host name as the app's CLOUD_RUN_SERVICE_URL spells it: lowercase labels of
# letters, digits and inner hyphens, at most 63 characters each, joined by dots.
_HOST = re.compile(r"(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*")
_SCHEME = "https://"


@dataclass(frozen=True)
class Settings:
    """One stack's validated settings. Build them with :func:`read_config`."""

    stack: str
    project: str
    region: str
    environment: str
    service_url: str
    push_service_account_id: str
    # An existing account to push as; None means the program creates and manages one.
    push_service_account_email: str | None
    app_service_account: str | None
    cloud_run_service: str | None
    cloud_run_region: str
    registry: str
    allow_empty_registry: bool
    # The identity that runs `pulumi up`; it must be able to act as the push account
    # when it creates a push subscription, so a stack that creates that account grants
    # it roles/iam.serviceAccountUser on it.
    deploy_service_account: str | None = None
    # For a module:attribute registry of an app that shares this virtualenv: the Django
    # settings module to set up before importing it.
    django_settings_module: str | None = None
    flags: Mapping[str, bool] = field(default_factory=dict)
    labels: Mapping[str, str] = field(default_factory=dict)
    alert_notification_channels: tuple[str, ...] = ()
    # Settings (by attribute name, within SECRET_ABLE) whose config key the user marked secret.
    secret: frozenset[str] = frozenset()

    def input(self, attribute: str) -> pulumi.Input[Any]:
        """The setting as a resource input: a secret ``Output`` when its config key is
        secret (``pulumi config set --secret``), so it stays secret in every input and
        output it reaches; the plain value otherwise."""
        return self.secret_if(attribute, getattr(self, attribute))

    def secret_if(self, attribute: str, value: Any) -> pulumi.Input[Any]:
        """``value``, derived from the setting ``attribute``, as a secret when that is one."""
        return pulumi.Output.secret(value) if attribute in self.secret else value

    @property
    def push_endpoint(self) -> str:
        """Where every push subscription delivers (the trailing slash is required)."""
        return f"{self.service_url}/tasks/pubsub/"

    @property
    def manages_push_service_account(self) -> bool:
        """True when this stack creates the push service account itself."""
        return self.push_service_account_email is None

    @property
    def resource_labels(self) -> dict[str, str]:
        """Labels for every labelled resource: the stack's own plus the fixed ones."""
        return {**self.labels, **fixed_labels(self.environment)}


def fixed_labels(environment: str) -> dict[str, str]:
    """The labels the program sets on every labelled resource, whatever the stack says."""
    return {"environment": environment, "managed-by": "pulumi"}


class _Reader:
    """Reads typed values from one config namespace, collecting problems by key."""

    def __init__(self, namespace: str):
        self.namespace = namespace
        self.config = pulumi.Config(namespace)
        self.problems: list[str] = []
        self.secret_keys: set[str] = set()

    def _key(self, key: str) -> str:
        return f"{self.namespace}:{key}"

    def problem(self, key: str, message: str) -> None:
        self.problems.append(f"config {self._key(key)}: {message}")

    def raw(self, key: str) -> str | None:
        # Read as plain text to validate; a key the user marked secret is remembered so
        # Settings.input hands it to resources as a secret again.
        if pulumi.runtime.is_config_secret(self._key(key)):
            self.secret_keys.add(key)
        return self.config.get(key)

    def string(self, key: str, default: str | None = None, required: bool = False) -> str | None:
        value = self.raw(key)
        if value is None or value == "":
            if required:
                self.problem(key, "is required but not set")
            return default
        return value

    def boolean(self, key: str, default: bool) -> bool:
        value = self.raw(key)
        if value is None:
            return default
        if value.lower() in ("true", "false"):
            return value.lower() == "true"
        self.problem(key, f"{value!r} is not a boolean (true or false)")
        return default

    def structured(self, key: str, expected: type, default: Any) -> Any:
        value = self.raw(key)
        if value is None or value == "":
            return default
        try:
            parsed = json.loads(value)
        except ValueError:
            self.problem(key, f"{value!r} is not valid JSON")
            return default
        if not isinstance(parsed, expected):
            self.problem(key, f"must be {'an object' if expected is dict else 'a list'}, got {value!r}")
            return default
        return parsed

    def matching(self, key: str, value: str | None, pattern: re.Pattern[str], rule: str) -> str | None:
        if value is not None and not pattern.fullmatch(value):
            self.problem(key, f"{value!r} {rule}")
        return value


def _all_config_keys() -> set[str]:
    # Every key the engine passed in. The SDK has no public way to list them, so this
    # reads its config map (set by the language host through set_all_config) and the
    # PULUMI_CONFIG bag it falls back to.
    return set(runtime_config.CONFIG.get()) | set(runtime_config.get_config_env())


def _bare(reason: str) -> str:
    return (
        f"{reason}; it must be the bare service URL https://HOST[:PORT], exactly the app's "
        "CLOUD_RUN_SERVICE_URL: it is the OIDC audience, and any difference fails every push with 403"
    )


def service_url_problem(url: str) -> str | None:
    """Why ``url`` cannot equal the app's ``CLOUD_RUN_SERVICE_URL``, or None.

    That is lowercase ``https://host[:port]`` and nothing else. Checked on the text
    itself, not on ``urllib.parse.urlsplit``'s reading of it: urlsplit drops an empty
    query or fragment, strips whitespace and removes tabs and newlines, and the audience
    is compared as a string.
    """
    if any(char.isspace() or unicodedata.category(char).startswith("C") for char in url):
        return _bare("contains whitespace or a control character")
    if not url.isascii():
        return _bare("contains non-ASCII characters (an internationalised host is written in its xn-- form)")
    if not url.startswith(_SCHEME):
        if url.lower().startswith(_SCHEME):
            return _bare("must start with https:// in lowercase")
        return "must be an https:// URL (Pub/Sub only pushes to https with OIDC)"
    rest = url[len(_SCHEME) :]
    for mark, part in (
        ("@", "user info (user@)"),
        ("?", "a query (even an empty '?')"),
        ("#", "a fragment (even an empty '#')"),
        ("/", "a path (even a trailing '/')"),
    ):
        if mark in rest:
            return _bare(f"has {part}")
    host, colon, port = rest.partition(":")
    if not host:
        return _bare("has no host")
    if host.endswith("."):
        return _bare(f"host {host!r} ends with a dot")
    if host != host.lower():
        return _bare(f"host {host!r} has uppercase letters")
    if not _HOST.fullmatch(host):
        return _bare(f"host {host!r} is not a DNS name (lowercase letters, digits and inner hyphens, dot-separated)")
    if colon:
        if not port:
            return _bare("has an empty port after ':'")
        if not port.isdigit() or port != str(int(port)) or not 1 <= int(port) <= 65535:
            return _bare(f"port {port!r} is not a number 1-65535 (without leading zeros)")
    return None


def _flags(reader: _Reader) -> dict[str, bool]:
    raw = reader.structured("flags", dict, {})
    flags = {}
    for name, value in sorted(raw.items()):
        if not _FLAG.fullmatch(name):
            reader.problem("flags", f"flag name {name!r} must be UPPER_SNAKE_CASE like ENABLE_BATCH_JOB")
        elif not isinstance(value, bool):
            reader.problem("flags", f"flag {name} is {value!r}; it must be true or false")
        else:
            flags[name] = value
    return flags


def _labels(reader: _Reader, environment: str) -> dict[str, str]:
    raw = reader.structured("labels", dict, {})
    fixed = fixed_labels(environment)
    labels = {}
    for key, value in sorted(raw.items()):
        if key in fixed:
            reader.problem("labels", f"label {key!r} is set by the program and cannot be overridden")
        elif not _LABEL_KEY.fullmatch(key):
            reader.problem(
                "labels",
                f"label key {key!r} must be lowercase letters, digits, _ or -, starting with a letter, at most 63 characters",
            )
        elif not isinstance(value, str):
            reader.problem("labels", f"label {key}={value!r}: values must be strings, not {type(value).__name__}")
        elif not _LABEL_VALUE.fullmatch(value):
            reader.problem(
                "labels",
                f"label {key}={value!r}: values must be lowercase letters, digits, _ or -, at most 63 characters",
            )
        else:
            labels[key] = value
    total = len(raw) + len(fixed)
    if total > MAX_LABELS:
        reader.problem(
            "labels",
            f"{len(raw)} labels plus the {len(fixed)} the program sets ({', '.join(fixed)}) make {total}; "
            f"Google allows at most {MAX_LABELS} per resource",
        )
    return labels


def _channels(reader: _Reader) -> tuple[str, ...]:
    raw = reader.structured("alertNotificationChannels", list, [])
    channels = []
    for channel in raw:
        if (
            not isinstance(channel, str)
            or not channel.startswith("projects/")
            or "/notificationChannels/" not in channel
        ):
            reader.problem(
                "alertNotificationChannels",
                f"{channel!r} is not a channel name like projects/PROJECT/notificationChannels/ID",
            )
        else:
            channels.append(channel)
    return tuple(channels)


def _region(reader: _Reader, key: str, value: str | None) -> str | None:
    if value is None or _REGION.fullmatch(value):
        return value
    zone = _ZONE.fullmatch(value)
    if zone:
        reader.problem(key, f"{value!r} is a zone; give its region, {zone['region']}")
    else:
        reader.problem(key, f"{value!r} is not a region name like europe-west2 or us-central1")
    return value


@dataclass(frozen=True)
class ConfigRead:
    """One read of the stack's config.

    ``settings`` is None when any problem was found; the registry reference, the
    environment and the empty-registry switch are read in the same pass, so the
    registry's own problems are reported alongside the settings' (never by reading
    the keys a second time).
    """

    settings: Settings | None
    problems: tuple[str, ...]
    registry: str
    environment: str
    allow_empty_registry: bool
    django_settings_module: str | None = None


def _unknown_key_problems(own: _Reader) -> None:
    for key in sorted(_all_config_keys()):
        namespace, _, name = key.partition(":")
        if namespace not in KNOWN_NAMESPACES:
            own.problems.append(
                f"config {key}: namespace {namespace!r} is not one this program reads "
                f"({', '.join(sorted(KNOWN_NAMESPACES - {'pulumi'}))}); is it a typo of {PROJECT}?"
            )
        elif namespace == PROJECT and name not in KNOWN_KEYS:
            own.problem(name, f"is not a setting this program reads (known: {', '.join(sorted(KNOWN_KEYS))})")


def read_config(stack: str | None = None) -> ConfigRead:
    """Read and validate the current stack's config, once.

    Every problem names its config key; all of them are returned together.
    """
    stack = stack or pulumi.get_stack()
    gcp = _Reader("gcp")
    own = _Reader(PROJECT)
    _unknown_key_problems(own)

    project = gcp.matching(
        "project",
        gcp.string("project", required=True),
        _PROJECT,
        "is not a project id: 6-30 lowercase letters, digits or hyphens, starting with a letter and not "
        "ending with a hyphen",
    )
    region = _region(gcp, "region", gcp.string("region", required=True))

    environment = own.string("environment", default=stack) or stack
    own.matching(
        "environment",
        environment,
        _ENVIRONMENT,
        "must be lowercase letters, digits and -, starting with a letter, at most 30 characters "
        "(it prefixes every resource id and is a label value)",
    )

    service_url = own.string("serviceUrl", required=True) or ""
    if service_url:
        problem = service_url_problem(service_url)
        if problem:
            own.problem("serviceUrl", f"{service_url!r} {problem}")

    push_id = own.string("pushServiceAccountId", default=DEFAULT_PUSH_ACCOUNT_ID)
    own.matching(
        "pushServiceAccountId",
        push_id,
        _ACCOUNT_ID,
        "must be 6-30 lowercase letters, digits or -, starting with a letter",
    )
    push_email = own.matching(
        "pushServiceAccountEmail", own.string("pushServiceAccountEmail"), _EMAIL, "is not an email address"
    )
    app_account = own.matching("appServiceAccount", own.string("appServiceAccount"), _EMAIL, "is not an email address")
    deployer = own.matching(
        "deployServiceAccount", own.string("deployServiceAccount"), _EMAIL, "is not an email address"
    )
    if push_email is None and deployer is None:
        own.problem(
            "deployServiceAccount",
            "is required when the stack creates the push service account (pushServiceAccountEmail unset): "
            "creating an OIDC push subscription needs iam.serviceAccounts.actAs on that account, so the "
            "program grants it to the deploying identity named here",
        )
    # The registry reference is checked where it is loaded (infra.registry), so a bad one
    # is reported once.
    registry = own.string("registry") or ""
    if not registry:
        own.problem("registry", "is required: the task registry, as module:attribute or file:PATH")
    allow_empty = own.boolean("allowEmptyRegistry", False)
    django_settings = own.string("djangoSettingsModule")
    cloud_run_service = own.matching(
        "cloudRunService",
        own.string("cloudRunService"),
        _CLOUD_RUN_SERVICE,
        "is not a Cloud Run service name: lowercase letters, digits and -, starting with a letter, not ending "
        "with -, fewer than 50 characters",
    )
    cloud_run_region = _region(own, "cloudRunRegion", own.string("cloudRunRegion")) or region

    settings = Settings(
        stack=stack,
        project=project or "",
        region=region or "",
        environment=environment,
        service_url=service_url,
        push_service_account_id=push_id or DEFAULT_PUSH_ACCOUNT_ID,
        push_service_account_email=push_email,
        app_service_account=app_account,
        cloud_run_service=cloud_run_service,
        cloud_run_region=cloud_run_region or "",
        registry=registry,
        allow_empty_registry=allow_empty,
        deploy_service_account=deployer,
        django_settings_module=django_settings,
        flags=MappingProxyType(_flags(own)),
        labels=MappingProxyType(_labels(own, environment)),
        alert_notification_channels=_channels(own),
        secret=frozenset(SETTING_OF_KEY[key] for key in own.secret_keys if key in SETTING_OF_KEY) & SECRET_ABLE,
    )
    for reader in (gcp, own):
        for key in sorted(reader.secret_keys):
            if reader.namespace == "gcp" or SETTING_OF_KEY.get(key) not in SECRET_ABLE:
                reader.problem(
                    key,
                    "is set as a secret, but it ends up in resource ids, names or the service's environment, "
                    "which Google and Pulumi show in plain text: set it without --secret",
                )
    problems = tuple(gcp.problems + own.problems)
    return ConfigRead(
        settings=None if problems else settings,
        problems=problems,
        registry=registry,
        environment=environment,
        allow_empty_registry=allow_empty,
        django_settings_module=django_settings,
    )
