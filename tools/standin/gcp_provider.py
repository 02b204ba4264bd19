"""A STAND-IN for Google's ``gcp`` provider: the plugin the real Pulumi engine loads locally.

``tools/pulumi_cli.py`` installs it into the project-local ``PULUMI_HOME`` as the plugin
``resource-gcp-v<the version pulumi_gcp asks for>``; its launcher refuses any other
``PULUMI_HOME`` and it says on stderr what it is, so nothing uses it in place of the real
provider. It answers the engine as Google and pulumi-gcp would, for the resources this
program declares:

- ids in Google's formats, and the outputs Google computes (a service account's
  ``email``, a service agent's ``member``), from :class:`tools.mocks.GoogleMocks`, the
  one definition the offline plan uses too; in a preview, what Google computes is
  unknown, as the bridged provider plans it;
- replace, not update, when a ``ForceNew`` field of the upstream Terraform provider
  changes (the catalogue's immutable inputs, :mod:`infra.ownership`, which cites the
  files), or when such a field is unknown;
- create refuses an id that exists (Google's 409), delete of a missing one succeeds (the
  Terraform provider ignores a 404 on delete), read and import by id, all against a JSON
  file (``$GYRINX_STANDIN_STATE``) that plays the cloud, so refresh and import work;
- with ``$GYRINX_PUBSUB_EMULATOR`` set, topics and subscriptions are also applied to and
  deleted from Google's Pub/Sub emulator (:mod:`tools.standin.pubsub_emulator`).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pulumi.provider.experimental.property_value import Computed, PropertyValue
from pulumi.provider.experimental.provider import (
    CheckFailure,
    CheckRequest,
    CheckResponse,
    ConfigureRequest,
    ConfigureResponse,
    CreateRequest,
    CreateResponse,
    DeleteRequest,
    DiffRequest,
    DiffResponse,
    InvokeRequest,
    InvokeResponse,
    PropertyDiff,
    PropertyDiffKind,
    Provider,
    ReadRequest,
    ReadResponse,
    UpdateRequest,
    UpdateResponse,
)
from pulumi.runtime import rpc

from infra import naming, ownership
from infra.ownership import SUBSCRIPTION_TYPE, TOPIC_TYPE
from tools.mocks import GoogleMocks, project_number

STATE_VARIABLE = "GYRINX_STANDIN_STATE"
HOME_VARIABLE = "GYRINX_STANDIN_HOME"
EMULATOR_VARIABLE = "GYRINX_PUBSUB_EMULATOR"


@dataclass(frozen=True)
class Kind:
    """What the stand-in knows of one resource type: the inputs that force a new resource
    (the catalogue's immutable inputs, pulumi-gcp's names for the Terraform ``ForceNew``
    fields), the outputs Google computes, and where the former was read."""

    force_new: frozenset[str]
    computed: frozenset[str]
    source: str
    importable: bool = True


# The outputs Google computes (set by the provider's Read; the mocks compute their values).
_COMPUTED = {
    ownership.TOPIC_IAM_MEMBER_TYPE: "etag",
    ownership.SUBSCRIPTION_IAM_MEMBER_TYPE: "etag",
    ownership.SERVICE_ACCOUNT_IAM_MEMBER_KIND.token: "etag",
    ownership.CLOUD_RUN_IAM_MEMBER_KIND.token: "etag",
    ownership.SERVICE_ACCOUNT_TYPE: "email name member uniqueId",
    ownership.SERVICE_IDENTITY_KIND.token: "email member",
    ownership.JOB_TYPE: "state",
    ownership.ALERT_POLICY_TYPE: "name creationRecords",
}
# "This resource does not support import" (website/docs/r/project_service_identity.html.markdown).
_NOT_IMPORTABLE = frozenset({ownership.SERVICE_IDENTITY_KIND.token})
FORCE_NEW: dict[str, Kind] = {
    kind.token: Kind(
        kind.immutable, frozenset(_COMPUTED.get(kind.token, "").split()), kind.source, kind.token not in _NOT_IMPORTABLE
    )
    for kind in ownership.KINDS
    if not kind.component
}


class StandInError(Exception):
    """What Google would answer with an error; the engine shows the message."""


def plain(value: PropertyValue) -> Any:
    """``value`` as JSON data (secrets unwrapped; an unknown is ``Computed``)."""
    inner = value.value
    if isinstance(inner, Computed):
        return inner
    if isinstance(inner, Mapping):
        return {key: plain(item) for key, item in inner.items()}
    if isinstance(inner, list | tuple):
        return [plain(item) for item in inner]
    if isinstance(inner, float) and inner.is_integer():
        return int(inner)
    return inner


def wrap(value: Any, secret: bool = False) -> PropertyValue:
    """JSON data as a PropertyValue (numbers as floats, the wire's only numbers)."""
    if isinstance(value, PropertyValue):
        return value
    if isinstance(value, Computed):
        # The SDK's marshaller cannot send Computed (pulumi 3.272, property_value.py):
        # send the wire's own spelling of an unknown (pulumi/runtime/rpc.py, UNKNOWN).
        return PropertyValue(rpc.UNKNOWN, is_secret=secret)
    if isinstance(value, Mapping):
        return PropertyValue({key: wrap(item) for key, item in value.items()}, is_secret=secret)
    if isinstance(value, list):
        return PropertyValue([wrap(item) for item in value], is_secret=secret)
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return PropertyValue(value, is_secret=secret)
    if isinstance(value, int | float):
        return PropertyValue(float(value), is_secret=secret)
    raise StandInError(f"unsupported value {value!r}")


def _unknown(value: Any) -> bool:
    if isinstance(value, Computed):
        return True
    if isinstance(value, Mapping):
        return any(_unknown(item) for item in value.values())
    if isinstance(value, list):
        return any(_unknown(item) for item in value)
    return False


def _absent(value: Any) -> bool:
    return value is None or value in ({}, [])


def _secret_keys(properties: Mapping[str, PropertyValue]) -> set[str]:
    return {key for key, value in properties.items() if value.contains_secret()}


class Cloud:
    """The stand-in's cloud: ``{type: {id: {"inputs": ..., "outputs": ...}}}`` in a JSON file,
    read and written under a lock so separate engine runs see one another's changes."""

    def __init__(self, path: Path):
        self.path = path

    @contextlib.contextmanager
    def open(self) -> Iterator[dict[str, dict[str, dict[str, Any]]]]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.with_suffix(".lock").open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            data: dict[str, dict[str, dict[str, Any]]] = json.loads(self.path.read_text()) if self.path.exists() else {}
            yield data
            temporary = self.path.with_suffix(".tmp")
            temporary.write_text(json.dumps(data, indent=1, sort_keys=True))
            temporary.replace(self.path)

    def get(self, type_: str, resource_id: str) -> dict[str, Any] | None:
        with self.open() as data:
            return data.get(type_, {}).get(resource_id)


class GoogleStandIn(Provider):
    """The ``gcp`` provider's answers, as Google and pulumi-gcp would give them."""

    def __init__(self, cloud: Cloud, emulator: Any = None):
        self.cloud = cloud
        self.emulator = emulator
        self.project = ""
        self.region = ""

    async def configure(self, request: ConfigureRequest) -> ConfigureResponse:
        def setting(name: str) -> str:
            value = request.args.get(name)
            if value is not None and isinstance(value.value, str):
                return value.value
            return request.variables.get(f"gcp:config:{name}", "")

        self.project = setting("project")
        self.region = setting("region")
        return ConfigureResponse(accept_secrets=True, supports_preview=True, accept_resources=True)

    def _kind(self, type_: str) -> Kind:
        kind = FORCE_NEW.get(type_)
        if kind is None:
            raise StandInError(f"the gyrinx-tasks stand-in gcp provider does not model {type_}")
        return kind

    def _identity(self, type_: str, inputs: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
        """Google's id and computed outputs for a resource with these (known) inputs."""
        project = inputs.get("project") or self.project
        mocks = GoogleMocks(project, inputs.get("region") or self.region)
        return mocks._outputs(type_, {**inputs, "project": project})  # the one definition of the formats

    async def check(self, request: CheckRequest) -> CheckResponse:
        failures = []
        if _token(request.urn) in (TOPIC_TYPE, SUBSCRIPTION_TYPE):
            name = plain(request.new_inputs.get("name", PropertyValue(None)))
            problem = naming.pubsub_id_problem(name) if isinstance(name, str) else None
            if problem:
                failures.append(CheckFailure("name", f"Error 400: invalid resource name {name!r}: it {problem}"))
        self._kind(_token(request.urn))
        return CheckResponse(inputs=request.new_inputs, failures=failures)

    async def diff(self, request: DiffRequest) -> DiffResponse:
        kind = self._kind(_token(request.urn))
        olds = {key: plain(value) for key, value in request.old_state.items()}
        news = {key: plain(value) for key, value in request.new_inputs.items()}
        ignored = set(request.ignore_changes)
        keys = (set(olds) | set(news)) - kind.computed - ignored
        detailed: dict[str, PropertyDiff] = {}
        for key in sorted(keys):
            old, new = olds.get(key), news.get(key)
            if _unknown(new) or (old != new and not (_absent(old) and _absent(new))):
                replace = key in kind.force_new
                if _absent(old):
                    change = PropertyDiffKind.ADD_REPLACE if replace else PropertyDiffKind.ADD
                elif _absent(new):
                    change = PropertyDiffKind.DELETE_REPLACE if replace else PropertyDiffKind.DELETE
                else:
                    change = PropertyDiffKind.UPDATE_REPLACE if replace else PropertyDiffKind.UPDATE
                detailed[key] = PropertyDiff(change, input_diff=True)
        replaces = sorted(key for key in detailed if key in kind.force_new)
        return DiffResponse(changes=bool(detailed), replaces=replaces, diffs=sorted(detailed), detailed_diff=detailed)

    def _outputs(self, inputs: Mapping[str, PropertyValue], computed: Mapping[str, Any]) -> dict[str, PropertyValue]:
        return {**{key: _strip(value) for key, value in inputs.items()}, **{k: wrap(v) for k, v in computed.items()}}

    async def create(self, request: CreateRequest) -> CreateResponse:
        kind = self._kind(_token(request.urn))
        inputs = {key: plain(value) for key, value in request.properties.items()}
        if request.preview:
            # As the bridged provider plans a new resource: what Google computes is unknown.
            return CreateResponse(
                resource_id="",
                properties=self._outputs(request.properties, dict.fromkeys(kind.computed, Computed())),
            )
        resource_id, computed = self._identity(_token(request.urn), inputs)
        with self.cloud.open() as data:
            existing = data.setdefault(_token(request.urn), {})
            if resource_id in existing:
                raise StandInError(f"Error 409: Resource already exists in the project (resource={resource_id})")
            self._emulate(_token(request.urn), inputs)
            outputs = {**inputs, **computed}
            existing[resource_id] = {"inputs": inputs, "outputs": outputs}
        return CreateResponse(resource_id=resource_id, properties=self._outputs(request.properties, computed))

    async def update(self, request: UpdateRequest) -> UpdateResponse:
        kind = self._kind(_token(request.urn))
        inputs = {key: plain(value) for key, value in request.news.items()}
        olds = {key: plain(value) for key, value in request.olds.items()}
        computed = {key: olds[key] for key in kind.computed if key in olds}
        if request.preview:
            return UpdateResponse(properties=self._outputs(request.news, computed))
        with self.cloud.open() as data:
            record = data.setdefault(_token(request.urn), {}).get(request.resource_id)
            if record is None:
                raise StandInError(f"Error 404: {request.resource_id} not found")
            self._emulate(_token(request.urn), inputs)
            record["inputs"] = inputs
            record["outputs"] = {**inputs, **computed}
        return UpdateResponse(properties=self._outputs(request.news, computed))

    async def delete(self, request: DeleteRequest) -> None:
        self._kind(_token(request.urn))
        with self.cloud.open() as data:
            record = data.get(_token(request.urn), {}).pop(request.resource_id, None)
        if self.emulator is not None and record is not None:
            inputs = record["inputs"]
            project = inputs.get("project") or self.project
            if _token(request.urn) == TOPIC_TYPE:
                self.emulator.delete_topic(project, inputs["name"])
            elif _token(request.urn) == SUBSCRIPTION_TYPE:
                self.emulator.delete_subscription(project, inputs["name"])

    async def read(self, request: ReadRequest) -> ReadResponse:
        kind = self._kind(_token(request.urn))
        importing = not request.properties
        if importing and not kind.importable:
            raise StandInError(f"{_token(request.urn)} does not support import")
        record = self.cloud.get(_token(request.urn), request.resource_id)
        if record is not None and not self._in_emulator(_token(request.urn), record["inputs"]):
            # The emulator keeps everything in memory: a restarted one has lost it, and a
            # refresh must see that, as it would see a resource deleted outside Pulumi.
            with self.cloud.open() as data:
                data.get(_token(request.urn), {}).pop(request.resource_id, None)
            record = None
        if record is None:
            # Gone (or never there): an empty id tells the engine so (refresh deletes it from
            # the state; import fails with "does not exist").
            return ReadResponse(resource_id="")
        secret = _secret_keys(request.properties) | _secret_keys(request.inputs)
        return ReadResponse(
            resource_id=request.resource_id,
            properties={key: wrap(value, key in secret) for key, value in record["outputs"].items()},
            inputs={key: wrap(value, key in secret) for key, value in record["inputs"].items()},
        )

    async def invoke(self, request: InvokeRequest) -> InvokeResponse:
        if request.tok == "gcp:organizations/getProject:getProject":
            project = plain(request.args.get("projectId", PropertyValue(None))) or self.project
            number = project_number(project)
            return InvokeResponse(
                return_value={key: wrap(value) for key, value in {"projectId": project, "number": number}.items()}
            )
        raise StandInError(f"the gyrinx-tasks stand-in gcp provider does not model the function {request.tok}")

    def _in_emulator(self, type_: str, inputs: Mapping[str, Any]) -> bool:
        """Whether the emulator holds this topic or subscription (True for anything else)."""
        if self.emulator is None or type_ not in (TOPIC_TYPE, SUBSCRIPTION_TYPE):
            return True
        project = inputs.get("project") or self.project
        if type_ == TOPIC_TYPE:
            return self.emulator.read_topic(project, inputs["name"]) is not None
        return self.emulator.read_subscription(project, inputs["name"]) is not None

    def _emulate(self, type_: str, inputs: Mapping[str, Any]) -> None:
        if self.emulator is None:
            return
        with_project = {**inputs, "project": inputs.get("project") or self.project}
        if type_ == TOPIC_TYPE:
            self.emulator.apply_topic(with_project)
        elif type_ == SUBSCRIPTION_TYPE:
            self.emulator.apply_subscription(with_project)


def _token(urn: str) -> str:
    """The resource's type token: a URN's type part is the parent types' chain, ``$``-joined."""
    return urn.split("::")[-2].rsplit("$", 1)[-1]


def _strip(value: PropertyValue) -> PropertyValue:
    """``value`` without its dependencies (outputs carry none), secretness kept."""
    inner = value.value
    if isinstance(inner, Computed):
        return wrap(inner, value.is_secret)
    if isinstance(inner, Mapping):
        inner = {key: _strip(item) for key, item in inner.items()}
    elif isinstance(inner, list | tuple):
        inner = [_strip(item) for item in inner]
    return PropertyValue(inner, is_secret=value.is_secret)


def _emulator() -> Any:
    endpoint = os.environ.get(EMULATOR_VARIABLE)
    if not endpoint:
        return None
    from tools.standin.pubsub_emulator import EmulatorPubSub

    return EmulatorPubSub(endpoint)


def main() -> None:
    """The plugin's entry point (the launcher in PULUMI_HOME runs ``python -m`` this)."""
    state = os.environ.get(STATE_VARIABLE)
    home = os.environ.get(HOME_VARIABLE)
    if not state or not home or os.environ.get("PULUMI_HOME") != home:
        print(
            "pulumi-resource-gcp: this is the gyrinx-tasks STAND-IN, not Google's provider; it runs only "
            "under the PULUMI_HOME tools/pulumi_cli.py installed it into",
            file=sys.stderr,
        )
        sys.exit(1)
    print(
        "pulumi-resource-gcp: gyrinx-tasks STAND-IN (tools/standin/gcp_provider.py), not Google's provider",
        file=sys.stderr,
    )
    from pulumi.provider.experimental.server import main as serve

    from tools.pulumi_cli import gcp_plugin_version

    serve(sys.argv[1:], gcp_plugin_version(), GoogleStandIn(Cloud(Path(state)), _emulator()))


if __name__ == "__main__":
    main()
