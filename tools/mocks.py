"""Mocks that answer like Google, and a monitor that records every registration.

Ids and computed outputs follow Google's formats (``projects/{p}/topics/{id}``, a
created service account's email, the Pub/Sub service agent of a project number), so
every reference in an offline plan reads as it would in the cloud.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from typing import Any

import pulumi
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import rpc
from pulumi.runtime.proto import resource_pb2

from infra import naming, ownership, sdk_internals
from tools.stack_config import PROJECT, SECRET_MASK


def project_number(project: str) -> str:
    """A stable stand-in for ``project``'s number (the real one needs the cloud)."""
    # Twelve digits, never a leading zero, like a real project number.
    return str(10**11 + int(hashlib.sha256(project.encode()).hexdigest(), 16) % (9 * 10**11))


def _plain(value: Any, mask: str | None = None) -> Any:
    """``value`` with integral floats as ints (the wire format carries every number as a
    double, but Google and a reviewer read ``600``, not ``600.0``) and each secret
    unwrapped, or replaced by ``mask`` when given (as a preview shows it)."""
    if rpc.is_rpc_secret(value):
        return mask if mask is not None else _plain(rpc.unwrap_rpc_secret(value))
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {key: _plain(item, mask) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item, mask) for item in value]
    return value


class GoogleMocks(pulumi.runtime.Mocks):
    """Resource and function mocks returning Google-shaped ids and outputs."""

    def __init__(self, project: str, region: str):
        self.project = project
        self.region = region

    def _outputs(self, typ: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        project = inputs.get("project") or self.project
        # The id's format is the catalogue's (infra.ownership); what Google computes is here.
        filled = {**inputs, "project": project, "region": inputs.get("region") or self.region}
        kind = ownership.KIND_OF.get(typ)
        resource_id = kind.google_id(filled) if kind is not None and kind.google_id is not None else None
        computed: dict[str, Any] = {}
        if typ == ownership.JOB_TYPE:
            computed = {"state": "ENABLED"}
        elif typ == ownership.SERVICE_ACCOUNT_TYPE:
            email = naming.service_account_email(inputs["accountId"], project)
            computed = {"email": email, "name": resource_id, "member": f"serviceAccount:{email}"}
        elif typ == ownership.SERVICE_IDENTITY_KIND.token:
            service = inputs["service"].split(".")[0]
            email = f"service-{project_number(project)}@gcp-sa-{service}.iam.gserviceaccount.com"
            computed = {"email": email, "member": f"serviceAccount:{email}"}
        elif typ == ownership.ALERT_POLICY_TYPE:
            # Google assigns the id; a stable stand-in from the display name.
            digest = hashlib.sha256(inputs.get("displayName", "").encode()).hexdigest()[:16]
            resource_id = f"projects/{project}/alertPolicies/{digest}"
            computed = {"name": resource_id}
        elif typ.endswith("IAMMember") or typ.endswith("IamMember"):
            computed = {"etag": "BwYmock="}
        return resource_id or f"{inputs.get('name') or typ}-id", computed

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        if not args.custom:
            return None, {}
        resource_id, computed = self._outputs(args.typ, args.inputs)
        return resource_id, {**args.inputs, **computed}

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
        if args.token == "gcp:organizations/getProject:getProject":
            project = args.args.get("projectId") or self.project
            return {"projectId": project, "number": project_number(project), "name": project}, []
        return {}, []


@dataclass
class Registration:
    """One resource the program registered, with the options that matter for review."""

    type: str
    name: str
    urn: str
    parent: str
    custom: bool
    inputs: dict[str, Any]
    ignore_changes: list[str] = field(default_factory=list)
    dependencies: list[str] = field(default_factory=list)
    property_dependencies: dict[str, list[str]] = field(default_factory=dict)
    protect: bool = False
    delete_before_replace: bool = False


# The root stack resource's type (sdk/go/common/tokens/stack_type.go, RootStackType).
ROOT_STACK_TYPE = "pulumi:pulumi:Stack"


class RecordingMonitor(pulumi_mocks.MockMonitor):
    """A mock monitor that keeps every registration, options included.

    Pulumi's own mocks record no resource options; tests and the offline plan need
    them (``ignore_changes``, parents, dependencies).
    """

    def __init__(self, mocks: pulumi.runtime.Mocks):
        super().__init__(mocks)
        self.registrations: list[Registration] = []

    def make_urn(self, parent: str, type_: str, name: str) -> str:
        """The URN the engine gives the resource: its parent's whole qualified type, then
        its own, with the root stack's type left out (pulumi/pulumi
        pkg/resource/deploy/deployment.go, generateURN: ``parent.QualifiedType() !=
        resource.RootStackType``). The SDK's mock keeps the stack's type and only the
        parent's last type (pulumi/runtime/mocks.py, make_urn): the real engine wins, and
        tests/test_engine.py compares the two."""
        if parent:
            qualified = parent.split("::")[2]
            if qualified != ROOT_STACK_TYPE:
                type_ = f"{qualified}${type_}"
        return "urn:pulumi:" + "::".join([pulumi.get_stack(), pulumi.get_project(), type_, name])

    def RegisterResource(self, request: Any) -> resource_pb2.RegisterResourceResponse:  # noqa: N802 - gRPC name
        urn = self.make_urn(request.parent, request.type, request.name)
        if request.type == ROOT_STACK_TYPE:
            return resource_pb2.RegisterResourceResponse(urn=urn)
        # The SDK's own MockMonitor.RegisterResource does this first: deserialising needs
        # an event loop on this thread (pulumi/runtime/mocks.py).
        sdk_internals.ensure_event_loop()
        wire = rpc.deserialize_properties(request.object)
        inputs = _plain(wire)
        custom = bool(request.custom)
        self.registrations.append(
            Registration(
                type=request.type,
                name=request.name,
                urn=urn,
                parent=request.parent,
                custom=custom,
                inputs=_plain(wire, SECRET_MASK),
                ignore_changes=list(request.ignoreChanges),
                dependencies=list(request.dependencies),
                property_dependencies={key: list(deps.urns) for key, deps in request.propertyDependencies.items()},
                protect=bool(request.protect),
                delete_before_replace=bool(request.deleteBeforeReplace),
            )
        )
        args = pulumi.runtime.MockResourceArgs(
            typ=request.type, name=request.name, inputs=inputs, provider=request.provider, custom=custom
        )
        resource_id, state = self.mocks.new_resource(args)
        # The engine keeps an output secret when its input was: hand those back wrapped.
        state = {key: wire[key] if rpc.is_rpc_secret(wire.get(key)) else value for key, value in state.items()}
        self.resources[urn] = pulumi_mocks.MockMonitor.ResourceRegistration(urn, resource_id or "", state)
        return resource_pb2.RegisterResourceResponse(
            urn=urn, id=resource_id or "", object=sdk_internals.sync_await(rpc.serialize_properties(state, {}))
        )


def configure_mocks(
    monitor: pulumi_mocks.MockMonitor, stack: str, preview: bool = False, logger: logging.Logger | None = None
) -> None:
    """Configure the runtime as ``pulumi.runtime.set_mocks`` does, without the root stack
    it also registers (and closes to ``pulumi.run``).

    The program is then run in ``pulumi.runtime.run_in_stack``, which makes the stack
    itself, runs the program's ``pulumi.run`` entrypoint and waits for every
    registration, as the language host runs it (pulumi/pulumi
    ``sdk/python/cmd/pulumi-language-python-exec``); it refuses a second root stack.
    """
    sdk_internals.configure_mocks(monitor, PROJECT, stack, preview, logger)
