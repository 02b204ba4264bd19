"""The stack's settings: read once from ``pulumi.Config``, validated once, frozen.

Every config key the program reads is one row of :data:`KEYS` (its name, attribute,
type, default, whether it may be secret, its check, a line of description and its
offline stand-in), and :func:`read_config` reads them by iterating that table.
``Pulumi.yaml``'s ``config:`` block and the key table of ``docs/configuration.md`` are
generated from it (``./dev config-docs``, checked by tests/test_config_keys.py). A bad
value, or a ``gyrinx-tasks:`` key the program does not know (a typo in a stack file),
is reported with the key's name, together with every other problem.
"""

from __future__ import annotations

import difflib
import json
import re
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, ClassVar, TypeVar

import pulumi

from infra import locations, sdk_internals

PROJECT = "gyrinx-tasks"
DEFAULT_PUSH_ACCOUNT_ID = "pubsub-invoker"

# Config namespaces this program reads, plus the engine's own. A key in any other
# namespace (say ``gyrinx_tasks:cloudRunService``) is a typo that would otherwise be
# silently ignored, and with it, say, a grant.
KNOWN_NAMESPACES = frozenset({"gcp", PROJECT, "pulumi"})
_ENVIRONMENT = re.compile(r"[a-z][a-z0-9-]{0,29}")
_ACCOUNT_ID = re.compile(r"[a-z][a-z0-9-]{4,28}[a-z0-9]")
# Service accounts, the only principals these keys name (each becomes an IAM member
# "serviceAccount:EMAIL"). A user-managed one is ACCOUNT_ID@PROJECT.iam.gserviceaccount.com,
# its account id "6-30 characters long, and match the regular expression
# [a-z]([-a-z0-9]*[a-z0-9])" (IAM v1 CreateServiceAccountRequest.account_id); Compute
# Engine's default one, which Cloud Run runs as unless told otherwise, is
# PROJECT_NUMBER-compute@developer.gserviceaccount.com (Cloud Functions v2
# ServiceConfig.serviceAccountEmail). ASCII only, no prefix (user:), list, quotes or path.
_USER_MANAGED_ACCOUNT = re.compile(
    r"(?P<id>[a-z](?:[-a-z0-9]{4,28})[a-z0-9])@(?P<project>[a-z][a-z0-9-]{4,28}[a-z0-9])\.iam\.gserviceaccount\.com"
)
_COMPUTE_DEFAULT_ACCOUNT = re.compile(r"[0-9]{1,20}-compute@developer\.gserviceaccount\.com")
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
# Label keys starting with "goog" are Google's (issue 18; Pub/Sub reserves the prefix
# for ids the same way, infra/naming.py).
_RESERVED_LABEL_PREFIX = "goog"
# "projects/[PROJECT_ID_OR_NUMBER]/notificationChannels/[CHANNEL_ID]", the id assigned
# by the server on creation (Monitoring v3 projects.notificationChannels, field "name"):
# a project id or number, then digits; no empty part, dot segment, query or fragment.
_CHANNEL = re.compile(r"projects/[a-z0-9](?:[a-z0-9-]{0,28}[a-z0-9])?/notificationChannels/[0-9]{1,20}")
# "Each resource can have multiple labels, up to a maximum of 64" (labels-overview);
# the program's own fixed_labels count towards it.
MAX_LABELS = 64
# A DNS host name as the app's CLOUD_RUN_SERVICE_URL spells it: lowercase labels of
# letters, digits and inner hyphens, at most 63 characters each, joined by dots.
_HOST = re.compile(r"(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*")
_SCHEME = "https://"
_MAX_HOST = 253  # RFC 1035's limit on a name, less the root's dot
_IPV4 = re.compile(r"[0-9]{1,3}(?:\.[0-9]{1,3}){3}")
_HTTPS_PORT = 443
# Cloud Run's own URLs: https://SERVICE-PROJECT_NUMBER.REGION.run.app or
# https://SERVICE-HASH-REGION_CODE.a.run.app (https://cloud.google.com/run/docs/triggering/https-request).
_RUN_APP = ".run.app"
# Dead letters are kept as long as Pub/Sub allows unless a stack says less: a
# subscription's and a topic's messageRetentionDuration "Cannot be more than 31 days"
# (Subscription and Topic REST references). Google's Pub/Sub emulator refuses a
# subscription's above 7 days, so the local stack sets 7.
MAX_RETENTION_DAYS = 31
SECONDS_PER_DAY = 86400


T = TypeVar("T")


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
    # How long dead letters are kept, on the dead-letter subscription and topic.
    dead_letter_retention_days: int = MAX_RETENTION_DAYS
    # The full names of the keys (each a SecretAbleKey) the user marked secret.
    secret: frozenset[str] = frozenset()

    def input(self, key: SecretAbleKey) -> pulumi.Input[Any]:
        """The setting of ``key`` as a resource input: a secret ``Output`` when the key
        is secret (``pulumi config set --secret``), so it stays secret in every input and
        output it reaches; the plain value otherwise."""
        return self.secret_if(key, getattr(self, key.attribute))

    def secret_if(self, key: SecretAbleKey, value: T) -> pulumi.Input[T]:
        """``value``, derived from the setting of ``key``, as a secret when that is one.

        ``key`` is a row of :data:`KEYS` that may be secret, never a string: a misspelt
        or plain key is a type error (mypy) and an ``AttributeError``, not a value that
        silently stays plain."""
        if not key.secret_able:
            raise TypeError(f"{key.full_name} may not be secret, so secret_if would always return it plain")
        return pulumi.Output.secret(value) if key.full_name in self.secret else value

    @property
    def push_endpoint(self) -> str:
        """Where every push subscription delivers (the trailing slash is required)."""
        return f"{self.service_url}/tasks/pubsub/"

    @property
    def dead_letter_retention(self) -> str:
        """:attr:`dead_letter_retention_days` as Pub/Sub's duration ("2678400s")."""
        return f"{self.dead_letter_retention_days * SECONDS_PER_DAY}s"

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

    def string(self, key: str, default: str | None = None, required: str | None = None) -> str | None:
        """The text of ``key``; ``default`` when unset or empty (a problem ``required``
        when one is given)."""
        value = self.raw(key)
        if value is None or value == "":
            if required:
                self.problem(key, required)
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

    def integer(self, key: str, default: int) -> int:
        value = self.raw(key)
        if value is None or value == "":
            return default
        # strconv.Atoi's form, which the CLI checks an integer key against (project.go).
        if not re.fullmatch(r"[+-]?[0-9]+", value):
            self.problem(key, f"{_shown(value)} is not a whole number")
            return default
        return int(value)

    def structured(self, key: str, expected: type, default: Any) -> Any:
        value = self.raw(key)
        if value is None or value == "":
            return default
        repeated: list[str] = []
        try:
            parsed = json.loads(value, object_pairs_hook=lambda pairs: _unique_object(pairs, repeated))
        except ValueError:
            self.problem(key, f"{_shown(value)} is not valid JSON")
            return default
        except RecursionError:
            self.problem(key, "nests JSON too deeply to read")
            return default
        if repeated:
            # json.loads keeps the last of a repeated name; the user meant one of them.
            names = ", ".join(sorted(set(repeated)))
            self.problem(key, f"repeats {names}: give each name once (JSON would keep only the last)")
            return default
        if not isinstance(parsed, expected):
            self.problem(key, f"must be {'an object' if expected is dict else 'a list'}, got {value!r}")
            return default
        return parsed

    def matching(self, key: str, value: str | None, pattern: re.Pattern[str], rule: str) -> str | None:
        if value is not None and not pattern.fullmatch(value):
            self.problem(key, f"{value!r} {rule}")
        return value


def _unique_object(pairs: list[tuple[str, Any]], repeated: list[str]) -> dict[str, Any]:
    """A JSON object, noting in ``repeated`` each name it holds more than once."""
    seen: dict[str, Any] = {}
    for name, value in pairs:
        if name in seen:
            repeated.append(name)
        seen[name] = value
    return seen


def _shown(value: str, limit: int = 80) -> str:
    """``value`` quoted for a one-line message, shortened when long."""
    return repr(value) if len(value) <= limit else f"{value[:limit]!r}... ({len(value)} characters)"


def _all_config_keys() -> set[str]:
    # Every key the engine passed in; the SDK has no public way to list them.
    return sdk_internals.config_keys()


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
    if len(host) > _MAX_HOST:
        return _bare(f"host is {len(host)} characters long; a DNS name has at most {_MAX_HOST}")
    if not _HOST.fullmatch(host):
        return _bare(f"host {host!r} is not a DNS name (lowercase letters, digits and inner hyphens, dot-separated)")
    if _IPV4.fullmatch(host) and not host.startswith("127."):
        # The audience is the app's CLOUD_RUN_SERVICE_URL: a run.app URL or a custom
        # domain (a certificate names a host, rarely an address); only the local stack's
        # loopback server is reached by address.
        return _bare(f"host {host!r} is an IP address, not the service's name")
    if colon:
        if not port:
            return _bare("has an empty port after ':'")
        if not port.isdigit() or port != str(int(port)) or not 1 <= int(port) <= 65535:
            return _bare(f"port {port!r} is not a number 1-65535 (without leading zeros)")
        if int(port) == _HTTPS_PORT:
            # Same server, different string: the token's audience would not equal the
            # app's CLOUD_RUN_SERVICE_URL (compared as text), so every push gets 403.
            return _bare("spells out the default port :443, which the app's URL does not")
        if host.endswith(_RUN_APP):
            return _bare(f"has port {port}, but a {_RUN_APP} URL serves only on the default port")
    return None


# --- The local stack: plain http to a development server on this machine -------------
#
# The `local` stack deploys into Google's Pub/Sub emulator, which pushes without OIDC
# tokens, to the app's development server (`manage.py runserver`, 127.0.0.1:8000). Only
# that stack may name a plain-http service URL, and only on a loopback host, so no real
# stack can push task payloads unencrypted or to another machine.
LOCAL_STACK = "local"
_PLAIN_SCHEME = "http://"
_LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost"})


def local_service_url_problem(url: str, stack: str) -> str | None:
    """Why the plain-http ``url`` cannot be ``stack``'s service URL, or None: allowed
    only in :data:`LOCAL_STACK`, for a loopback host, otherwise as bare as an https one."""
    if not url.startswith(_PLAIN_SCHEME):
        return service_url_problem(url)
    if stack != LOCAL_STACK:
        return (
            "must be an https:// URL (Pub/Sub only pushes to https with OIDC); plain http is allowed only in "
            f"the {LOCAL_STACK!r} stack (Google's Pub/Sub emulator), to a loopback host"
        )
    rest = url[len(_PLAIN_SCHEME) :]
    host = re.split(r"[:/?#@]", rest, maxsplit=1)[0]
    if host not in _LOOPBACK_HOSTS:
        return (
            f"is plain http to host {host!r}; the {LOCAL_STACK} stack may push over http only to this "
            f"machine ({', '.join(sorted(_LOOPBACK_HOSTS))})"
        )
    problem = service_url_problem(_SCHEME + rest)
    return problem.replace("https://HOST[:PORT]", "http://HOST[:PORT]") if problem else None


# --- The table of config keys: each key declared once ---------------------------------


class _Read:
    """One pass over the stack's config: the readers of both namespaces, the stack, and
    the values read so far by attribute (a key's check may use a key read before it)."""

    def __init__(self, stack: str):
        self.stack = stack
        self.gcp = _Reader("gcp")
        self.own = _Reader(PROJECT)
        self.values: dict[str, Any] = {}

    def reader(self, key: Key) -> _Reader:
        return self.gcp if key.namespace == "gcp" else self.own

    def problem(self, key: Key, message: str) -> None:
        self.reader(key).problem(key.name, message)

    def is_secret(self, key: Key) -> bool:
        return key.name in self.reader(key).secret_keys


# A key's check: given the value read with the key's type (or its default), it reports
# problems through ``_Read.problem`` and returns the setting.
Check = Callable[[_Read, "Key", Any], Any]


@dataclass(frozen=True)
class Key:
    """One config key the program reads, and everything said about it.

    ``type`` is Pulumi's config type (``string``, ``integer``, ``boolean``, ``array`` of
    ``items``), or ``object``, which Pulumi.yaml cannot declare (its schema's
    ``simpleConfigType``), so the program alone reads it as JSON. ``default`` is the
    value the key has when a stack does not set it (Pulumi.yaml's ``default``; an empty
    string means unset), ``required`` the problem when a required key is unset.
    ``stand_in`` is what an offline plan gives the program for an encrypted value of the
    key (it cannot decrypt one): valid for the key's check wherever that is possible.
    """

    name: str
    attribute: str
    type: str
    description: str
    check: Check
    default: Any = None
    required: str | None = None
    namespace: str = PROJECT
    items: str | None = None
    stand_in: Any = "secret.invalid"
    # The docs' wording of the default when the value alone does not tell it.
    default_shown: str | None = None

    # Settings that may be secret are SecretAbleKey rows; see there.
    secret_able: ClassVar[bool] = False

    @property
    def full_name(self) -> str:
        """``namespace:name``, as the engine hands the key to the program."""
        return f"{self.namespace}:{self.name}"

    @property
    def declared(self) -> bool:
        """Whether Pulumi.yaml declares the key: the project may declare only its own
        namespace's keys (``Project.Validate``), and no ``object`` type."""
        return self.namespace == PROJECT and self.type != "object"

    def declaration(self) -> dict[str, Any]:
        """The key's entry in Pulumi.yaml's ``config:`` block."""
        entry: dict[str, Any] = {"type": self.type}
        if self.items:
            entry["items"] = {"type": self.items}
        entry["description"] = self.description
        if self.required is None:
            entry["default"] = self.default
        return entry

    def typed(self, read: _Read) -> Any:
        """The key's value read with its type; its default when unset, with a problem
        when it is required."""
        reader = read.reader(self)
        if self.type == "boolean":
            return reader.boolean(self.name, self.default)
        if self.type == "integer":
            return reader.integer(self.name, self.default)
        if self.type in ("array", "object"):
            return reader.structured(self.name, list if self.type == "array" else dict, self.default)
        return reader.string(self.name, self.default or None, self.required)


@dataclass(frozen=True)
class SecretAbleKey(Key):
    """A key that may be secret: its setting reaches resources only through
    :meth:`Settings.input` or :meth:`Settings.secret_if`, and none is part of a resource's
    id, so it stays secret in every input, output and id.

    Every other key is refused as a secret rather than leaked: those are part of resource
    ids and names (the project, region, environment, the push account; IAM members' ids
    are "{resource}/{role}/{member}", so every account email and the Cloud Run service
    name are in one), which Pulumi and Google show in plain text, or they are shown
    anyway (flags become Cloud Run environment variables and each job's ``paused``).
    """

    secret_able: ClassVar[bool] = True


def _check_project(read: _Read, key: Key, value: str | None) -> str:
    read.reader(key).matching(
        key.name,
        value,
        _PROJECT,
        "is not a project id: 6-30 lowercase letters, digits or hyphens, starting with a letter and not "
        "ending with a hyphen",
    )
    return value or ""


def _check_region(read: _Read, key: Key, value: str | None) -> str:
    _region(read, key, value)
    _offered(read, key, value, locations.cloud_scheduler())
    return value or ""


def _check_environment(read: _Read, key: Key, value: str | None) -> str:
    environment = value or read.stack
    read.reader(key).matching(
        key.name,
        environment,
        _ENVIRONMENT,
        "must be lowercase letters, digits and -, starting with a letter, at most 30 characters "
        "(it prefixes every resource id and is a label value)",
    )
    return environment


def _check_service_url(read: _Read, key: Key, value: str | None) -> str:
    if value:
        problem = local_service_url_problem(value, read.stack)
        if problem:
            read.problem(key, f"{value!r} {problem}")
    return value or ""


def _check_account_id(read: _Read, key: Key, value: str) -> str:
    read.reader(key).matching(
        key.name, value, _ACCOUNT_ID, "must be 6-30 lowercase letters, digits or -, starting with a letter"
    )
    return value


def _account(read: _Read, key: Key, value: str | None, *, compute_default: bool) -> str | None:
    """The service account email ``value`` of ``key``, or None when unset; a problem when
    it is not one of the forms Google gives a service account that ``key`` can name."""
    if value is None or read.is_secret(key):  # a secret is refused as such, and is a stand-in offline
        return value
    if _USER_MANAGED_ACCOUNT.fullmatch(value) or (compute_default and _COMPUTE_DEFAULT_ACCOUNT.fullmatch(value)):
        return value
    forms = "ACCOUNT_ID@PROJECT.iam.gserviceaccount.com (account id: 6-30 lowercase letters, digits or -, starting with a letter)"
    if compute_default:
        forms += " or PROJECT_NUMBER-compute@developer.gserviceaccount.com"
    why = ""
    if not value.isascii():
        why = " (it has non-ASCII characters, such as a Cyrillic letter that looks like a Latin one)"
    elif ":" in value:
        why = " (give the bare email, without a prefix like user: or serviceAccount:)"
    read.problem(key, f"{_shown(value)} is not a service account email{why}; it must be {forms}")
    return value


def _any_account(read: _Read, key: Key, value: str | None) -> str | None:
    # The push account and the app's may be Compute Engine's default account (Cloud
    # Run's default identity).
    return _account(read, key, value, compute_default=True)


def _made_account(read: _Read, key: Key, value: str | None) -> str | None:
    # The deploying identity is one made for the deploy (docs/deploying.md).
    return _account(read, key, value, compute_default=False)


def _check_cloud_run_service(read: _Read, key: Key, value: str | None) -> str | None:
    return read.reader(key).matching(
        key.name,
        value,
        _CLOUD_RUN_SERVICE,
        "is not a Cloud Run service name: lowercase letters, digits and -, starting with a letter, not ending "
        "with -, fewer than 50 characters",
    )


def _check_cloud_run_region(read: _Read, key: Key, value: str | None) -> str | None:
    # Unset means gcp:region, which read_config checks against Cloud Run's locations.
    _region(read, key, value)
    _offered(read, key, value, locations.cloud_run())
    return value


def _unchecked(read: _Read, key: Key, value: Any) -> Any:
    # The registry reference is checked where it is loaded (infra.registry), so a bad
    # one is reported once; the Django settings module where it is imported.
    return value


def _check_registry(read: _Read, key: Key, value: str | None) -> str:
    return value or ""


def _check_retention(read: _Read, key: Key, value: int) -> int:
    if not 1 <= value <= MAX_RETENTION_DAYS:
        read.problem(key, f"{str(value)!r} is not a whole number of days from 1 to {MAX_RETENTION_DAYS}")
        return MAX_RETENTION_DAYS
    return value


def _check_flags(read: _Read, key: Key, raw: Mapping[str, Any]) -> Mapping[str, bool]:
    flags = {}
    for name, value in sorted(raw.items()):
        if not _FLAG.fullmatch(name):
            read.problem(key, f"flag name {name!r} must be UPPER_SNAKE_CASE like ENABLE_BATCH_JOB")
        elif not isinstance(value, bool):
            read.problem(key, f"flag {name} is {value!r}; it must be true or false")
        else:
            flags[name] = value
    return MappingProxyType(flags)


def _valid_labels(reader: _Reader, key: str, raw: Mapping[str, Any], fixed: Mapping[str, str]) -> dict[str, str]:
    """The well-formed labels of ``raw`` (config ``key``), each bad one a problem."""
    labels = {}
    for name, value in sorted(raw.items()):
        if name in fixed:
            reader.problem(key, f"label {name!r} is set by the program and cannot be overridden")
        elif not _LABEL_KEY.fullmatch(name):
            reader.problem(
                key,
                f"label key {name!r} must be lowercase letters, digits, _ or -, starting with a letter, at most 63 characters",
            )
        elif name.startswith(_RESERVED_LABEL_PREFIX):
            reader.problem(key, f"label key {name!r} starts with {_RESERVED_LABEL_PREFIX!r}, which Google reserves")
        elif not isinstance(value, str):
            reader.problem(key, f"label {name}={value!r}: values must be strings, not {type(value).__name__}")
        elif not _LABEL_VALUE.fullmatch(value):
            reader.problem(
                key,
                f"label {name}={value!r}: values must be lowercase letters, digits, _ or -, at most 63 characters",
            )
        else:
            labels[name] = value
    return labels


def _check_labels(read: _Read, key: Key, raw: Mapping[str, Any]) -> Mapping[str, str]:
    fixed = fixed_labels(read.values.get("environment", read.stack))
    labels = _valid_labels(read.own, key.name, raw, fixed)
    # The provider adds gcp:defaultLabels to every labelled resource, under the stack's
    # own (pulumi-gcp's "defaultLabels" provider setting; a resource's labels win a
    # clash), and Google's limit counts what the resource ends up with.
    defaults = read.gcp.structured("defaultLabels", dict, {})
    _valid_labels(read.gcp, "defaultLabels", defaults, {})
    total = len(set(raw) | set(fixed) | set(defaults))
    if total > MAX_LABELS:
        extra = f" and {len(set(defaults) - set(raw) - set(fixed))} more from gcp:defaultLabels" if defaults else ""
        read.problem(
            key,
            f"{len(raw)} labels plus the {len(fixed)} the program sets ({', '.join(fixed)}){extra} make {total}; "
            f"Google allows at most {MAX_LABELS} per resource",
        )
    return MappingProxyType(labels)


def _check_channels(read: _Read, key: Key, raw: list[Any]) -> tuple[str, ...]:
    channels = []
    for channel in raw:
        if not isinstance(channel, str) or not _CHANNEL.fullmatch(channel):
            shown = _shown(channel) if isinstance(channel, str) else repr(channel)
            read.problem(
                key,
                f"{shown} is not a channel name projects/PROJECT/notificationChannels/ID (a project id and the "
                "channel's numeric id, nothing else)",
            )
        else:
            channels.append(channel)
    return tuple(channels)


def _region(read: _Read, key: Key, value: str | None) -> None:
    if value is None or _REGION.fullmatch(value):
        return
    zone = _ZONE.fullmatch(value)
    if zone:
        read.problem(key, f"{value!r} is a zone; give its region, {zone['region']}")
    else:
        read.problem(key, f"{_shown(value)} is not a region name like europe-west2 or us-central1")


def _offered(read: _Read, key: Key, region: str | None, offered: locations.Locations) -> bool:
    """False, with a problem, when ``region`` (well formed) is not one where ``offered``'s
    product runs. A secret value is a stand-in offline, and is refused as a secret anyway."""
    if region is None or read.is_secret(key) or not _REGION.fullmatch(region):
        return True
    problem = offered.problem(region)
    if problem:
        read.problem(key, problem)
    return problem is None


# Module-level rows are the ones code names (typed: Settings.input takes a SecretAbleKey).
GCP_PROJECT = Key(
    "project",
    "project",
    "string",
    "The Google Cloud project every resource is created in.",
    _check_project,
    required="is required but not set",
    namespace="gcp",
    stand_in="secret-invalid",
)
GCP_REGION = Key(
    "region",
    "region",
    "string",
    "Where the Cloud Scheduler jobs live (a Cloud Scheduler location; the app used europe-west2).",
    _check_region,
    required="is required but not set",
    namespace="gcp",
    stand_in="secret-invalid1",
)
ENVIRONMENT = Key(
    "environment",
    "environment",
    "string",
    'Prefix of every resource id (e.g. "prod" gives prod--gyrinx.tasks--...) and the environment label; must '
    "equal the service's TASKS_ENVIRONMENT. Empty means the stack name.",
    _check_environment,
    default="",
    stand_in="secret-invalid",
    default_shown="the stack name",
)
SERVICE_URL = SecretAbleKey(
    "serviceUrl",
    "service_url",
    "string",
    "The Cloud Run service's bare https URL, exactly as the app's CLOUD_RUN_SERVICE_URL. Pushes go to "
    "{serviceUrl}/tasks/pubsub/ and it is the OIDC audience (a mismatch fails every push with 403).",
    _check_service_url,
    required="is required but not set",
    stand_in="https://secret.invalid",
)
PUSH_SERVICE_ACCOUNT_ID = Key(
    "pushServiceAccountId",
    "push_service_account_id",
    "string",
    "Account id of the push service account this stack creates and manages.",
    _check_account_id,
    default=DEFAULT_PUSH_ACCOUNT_ID,
    stand_in="secret-invalid",
)
PUSH_SERVICE_ACCOUNT_EMAIL = Key(
    "pushServiceAccountEmail",
    "push_service_account_email",
    "string",
    "Email of an existing push service account (the app's TASKS_SERVICE_ACCOUNT) to use instead of creating "
    "one. Empty means the stack creates one.",
    _any_account,
    default="",
    stand_in="secret@secret.invalid",
)
APP_SERVICE_ACCOUNT = Key(
    "appServiceAccount",
    "app_service_account",
    "string",
    "Email of the app's runtime service account; it gets roles/pubsub.publisher on each task topic. Empty "
    "means no grant.",
    _any_account,
    default="",
    stand_in="secret@secret.invalid",
)
DEPLOY_SERVICE_ACCOUNT = Key(
    "deployServiceAccount",
    "deploy_service_account",
    "string",
    "Email of the identity that runs pulumi up. Required when the stack creates the push service account, "
    "which then grants it roles/iam.serviceAccountUser (actAs) on that account.",
    _made_account,
    default="",
    stand_in="secret@secret.invalid",
    default_shown="unset; required when the stack creates the push account",
)
REGISTRY = Key(
    "registry",
    "registry",
    "string",
    "The task registry, required. file:PATH reads a registry snapshot (./dev export-registry; relative to the "
    "project, or absolute); module:attribute imports a callable returning routes, or a list of routes.",
    _check_registry,
    required="is required: the task registry, as module:attribute or file:PATH",
)
ALLOW_EMPTY_REGISTRY = Key(
    "allowEmptyRegistry",
    "allow_empty_registry",
    "boolean",
    "Allow an empty registry, which deletes every task's infrastructure in the stack. Only for tearing an "
    "environment down.",
    _unchecked,
    default=False,
    stand_in=False,
)
DJANGO_SETTINGS_MODULE = Key(
    "djangoSettingsModule",
    "django_settings_module",
    "string",
    "For a module:attribute registry of a Django app importable from this virtualenv, the settings module to "
    "set up first (e.g. gyrinx.settings). Empty means no django.setup().",
    _unchecked,
    default="",
)
CLOUD_RUN_SERVICE = Key(
    "cloudRunService",
    "cloud_run_service",
    "string",
    "Name of the Cloud Run service; when set, the push service account gets roles/run.invoker on it, and the "
    "deploy applies the stack's flags to its environment. Empty means no grant.",
    _check_cloud_run_service,
    default="",
    stand_in="secret-invalid",
)
CLOUD_RUN_REGION = Key(
    "cloudRunRegion",
    "cloud_run_region",
    "string",
    "Region of the Cloud Run service (a Cloud Run location). Empty means gcp:region.",
    _check_cloud_run_region,
    default="",
    stand_in="secret-invalid1",
    default_shown="`gcp:region`",
)
FLAGS = Key(
    "flags",
    "flags",
    "object",
    "Env flags (kill switches), FLAG: true/false; each must be a route's kill_switch.",
    _check_flags,
    default={},
    stand_in={},
)
LABELS = SecretAbleKey(
    "labels",
    "labels",
    "object",
    "Extra labels on topics, subscriptions and the alert (environment and managed-by are always set).",
    _check_labels,
    default={},
    stand_in={},
)
ALERT_NOTIFICATION_CHANNELS = SecretAbleKey(
    "alertNotificationChannels",
    "alert_notification_channels",
    "array",
    "Cloud Monitoring notification channels (projects/P/notificationChannels/ID) for the dead-letter alert.",
    _check_channels,
    default=[],
    items="string",
    stand_in=[],
)
DEAD_LETTER_RETENTION_DAYS = Key(
    "deadLetterRetentionDays",
    "dead_letter_retention_days",
    "integer",
    "Days dead letters are kept on each dead-letter subscription and topic, 1-31. Pub/Sub allows 31; Google's "
    "Pub/Sub emulator (the local stack) only 7 on a subscription.",
    _check_retention,
    default=MAX_RETENTION_DAYS,
    stand_in=MAX_RETENTION_DAYS,
)

# Every key the program reads, in the order it reads them (a check may use a value read
# before it: the labels' the environment). Pulumi.yaml and docs/configuration.md follow it.
KEYS: tuple[Key, ...] = (
    GCP_PROJECT,
    GCP_REGION,
    ENVIRONMENT,
    SERVICE_URL,
    PUSH_SERVICE_ACCOUNT_ID,
    PUSH_SERVICE_ACCOUNT_EMAIL,
    APP_SERVICE_ACCOUNT,
    DEPLOY_SERVICE_ACCOUNT,
    REGISTRY,
    ALLOW_EMPTY_REGISTRY,
    DJANGO_SETTINGS_MODULE,
    CLOUD_RUN_SERVICE,
    CLOUD_RUN_REGION,
    FLAGS,
    LABELS,
    ALERT_NOTIFICATION_CHANNELS,
    DEAD_LETTER_RETENTION_DAYS,
)
KEY_BY_FULL_NAME: Mapping[str, Key] = MappingProxyType({key.full_name: key for key in KEYS})
# Every key of the project's namespace the program reads; anything else there is a typo.
KNOWN_KEYS = frozenset(key.name for key in KEYS if key.namespace == PROJECT)
# The only provider settings a stack may give (docs/configuration.md). Any other gcp:
# key changes what the provider does with the deploy identity's token, unreviewed:
# gcp:pubsubCustomEndpoint (and every *CustomEndpoint) sends it to another host,
# gcp:accessToken and gcp:impersonateServiceAccount change who deploys, and
# gcp:defaultLabels adds labels beside gyrinx-tasks:labels that count towards Google's
# limit. The program sees every key the engine passes (the language host puts all of
# them in PULUMI_CONFIG, read with the public pulumi.runtime.get_config_env), so this
# holds under the real CLI as offline.
GCP_KEYS = frozenset(key.name for key in KEYS if key.namespace == "gcp")


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
    # Read with the rest, so the flags are checked against the routes' kill switches
    # even when another setting has a problem (all problems at once).
    flags: Mapping[str, bool] = field(default_factory=dict)
    # Every setting as read, by Settings attribute, defaults applied, problems or not
    # (the checks across stacks compare them: tools/stack_checks.py).
    values: Mapping[str, Any] = field(default_factory=dict)


def _unknown_key_problem(name: str) -> str:
    """Why the project's key ``name`` is not read, with the key the user likely meant."""
    known = f"known: {', '.join(sorted(KNOWN_KEYS))}"
    whole, dot, path = name.partition(".")
    row = KEY_BY_FULL_NAME.get(f"{PROJECT}:{whole}")
    if dot and path and row is not None and row.type == "object":
        # `--config flags.X=true` (pulumi preview -c takes no --path) sets a key named
        # "flags.X"; the value inside the object is set as JSON, or with --path.
        value = pulumi.Config(PROJECT).get(name) or ""
        try:
            inner = json.loads(value)
        except ValueError:
            inner = value
        whole_json = json.dumps({path: inner})
        return (
            f"is not a setting this program reads: it names {path} inside {whole}, which a key cannot; give the "
            f"whole object as JSON, --config '{whole}={whole_json}' (replacing the stack's {whole}), or set the "
            f"stack file with pulumi config set --path '{whole}.{path}' {value or 'VALUE'}"
        )
    close = difflib.get_close_matches(name, sorted(KNOWN_KEYS), n=1)
    if not close:  # a change of case alone (serviceURL) can fall below difflib's cutoff
        close = [key for key in sorted(KNOWN_KEYS) if key.lower() == name.lower()]
    hint = f"did you mean {close[0]}? " if close else ""
    return f"is not a setting this program reads ({hint}{known})"


def _unknown_key_problems(own: _Reader) -> None:
    for key in sorted(_all_config_keys()):
        namespace, _, name = key.partition(":")
        if namespace not in KNOWN_NAMESPACES:
            own.problems.append(
                f"config {key}: namespace {namespace!r} is not one this program reads "
                f"({', '.join(sorted(KNOWN_NAMESPACES - {'pulumi'}))}); is it a typo of {PROJECT}?"
            )
        elif namespace == PROJECT and name not in KNOWN_KEYS:
            own.problem(name, _unknown_key_problem(name))
        elif namespace == "gcp" and name not in GCP_KEYS:
            close = difflib.get_close_matches(name, sorted(GCP_KEYS), n=1)
            accepted = ", ".join(f"gcp:{known}" for known in sorted(GCP_KEYS))
            own.problems.append(
                f"config {key}: is not a gcp: setting this program accepts (only {accepted}"
                f"{f'; did you mean gcp:{close[0]}?' if close else ''}): another provider setting could send the "
                "deploy identity's token elsewhere or change who deploys, unreviewed"
            )


def read_config(stack: str | None = None) -> ConfigRead:
    """Read and validate the current stack's config, once: every row of :data:`KEYS`
    read with its type and checked, then the rules across keys.

    Every problem names its config key; all of them are returned together.
    """
    read = _Read(stack or pulumi.get_stack())
    _unknown_key_problems(read.own)
    values = read.values
    for key in KEYS:
        values[key.attribute] = key.check(read, key, key.typed(read))

    # Rules across keys.
    if values["push_service_account_email"] is None and values["deploy_service_account"] is None:
        read.problem(
            DEPLOY_SERVICE_ACCOUNT,
            "is required when the stack creates the push service account (pushServiceAccountEmail unset): "
            "creating an OIDC push subscription needs iam.serviceAccounts.actAs on that account, so the "
            "program grants it to the deploying identity named here",
        )
    region = values["region"]
    if values["cloud_run_region"] is None:
        scheduler_offered = (
            bool(region)
            and bool(_REGION.fullmatch(region))
            and (read.is_secret(GCP_REGION) or locations.cloud_scheduler().problem(region) is None)
        )
        if values["cloud_run_service"] and scheduler_offered:
            _offered(read, GCP_REGION, region, locations.cloud_run())  # the service's region too
        values["cloud_run_region"] = region

    own_secret = {f"{PROJECT}:{name}" for name in read.own.secret_keys}
    settings = Settings(
        stack=read.stack,
        **values,
        secret=frozenset(key.full_name for key in KEYS if key.secret_able and key.full_name in own_secret),
    )
    for reader in (read.gcp, read.own):
        for name in sorted(reader.secret_keys):
            row = KEY_BY_FULL_NAME.get(f"{reader.namespace}:{name}")
            if row is None or not row.secret_able:
                reader.problem(
                    name,
                    "is set as a secret, but it ends up in resource ids, names or the service's environment, "
                    "which Google and Pulumi show in plain text: set it without --secret",
                )
    problems = tuple(read.gcp.problems + read.own.problems)
    return ConfigRead(
        settings=None if problems else settings,
        problems=problems,
        registry=values["registry"],
        environment=values["environment"],
        allow_empty_registry=values["allow_empty_registry"],
        django_settings_module=values["django_settings_module"],
        flags=values["flags"],
        values=MappingProxyType(values),
    )
