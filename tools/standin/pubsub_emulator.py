"""Topics and subscriptions in Google's Pub/Sub emulator, from pulumi-gcp inputs.

The stand-in ``gcp`` provider hands this module the input properties the engine sends
(pulumi-gcp's camelCase names) when ``GYRINX_PUBSUB_EMULATOR`` names an emulator. They
are translated to the Pub/Sub v1 REST wire format the way the provider translates them
(terraform-provider-google, generated from magic-modules
``mmv1/products/pubsub/{Topic,Subscription}.yaml``): create is ``PUT``, update is
``PATCH`` with an ``updateMask`` of the fields sent, ``name`` and ``project`` are part of
the URL, not the body (``encoders/no_send_name``), a short topic name becomes
``projects/{project}/topics/{name}`` (``computed_subscription_topic``), and the
provider's ``expirationPolicy.ttl = ""`` ("never expires") is sent as an empty
``"expirationPolicy": {}`` (the REST API refuses ``"ttl": ""``).

Only the standard library: the emulator speaks plain HTTP/1.1 JSON on loopback.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from infra import naming
from infra.ownership import KIND_OF, SUBSCRIPTION_TYPE
from tools.errors import EmulatorError

# Pub/Sub v1 fields of a Topic and a Subscription that pulumi-gcp inputs carry with the
# same name and shape (Topic and Subscription REST references); the ones translated
# differently are handled in _subscription_body. Fields the emulator does not have
# (schemas, KMS, BigQuery and Cloud Storage delivery) are passed through too: the
# emulator refuses what it cannot do, and that refusal is the honest answer.
_TOPIC_FIELDS = ("labels", "messageRetentionDuration", "kmsKeyName", "messageStoragePolicy", "schemaSettings")
_SUBSCRIPTION_FIELDS = (
    "labels",
    "ackDeadlineSeconds",
    "messageRetentionDuration",
    "retainAckedMessages",
    "filter",
    "enableMessageOrdering",
    "enableExactlyOnceDelivery",
    "retryPolicy",
    "deadLetterPolicy",
    "pushConfig",
    "bigqueryConfig",
    "cloudStorageConfig",
    "expirationPolicy",
)
# Immutable: a change replaces the subscription (the engine's diff decides that); they
# are sent on create and never in an update mask. One definition: the catalogue's.
_SUBSCRIPTION_IMMUTABLE = KIND_OF[SUBSCRIPTION_TYPE].immutable
_HTTP_NOT_FOUND = 404
TIMEOUT_SECONDS = 30


@dataclass(frozen=True)
class Response:
    """One REST answer: the status and the decoded JSON body (empty for none)."""

    status: int
    body: Mapping[str, Any]


def _camel_to_field(key: str) -> str:
    # The update mask names fields in snake_case, as the REST reference spells them in
    # FieldMask paths ("ack_deadline_seconds").
    return "".join(f"_{char.lower()}" if char.isupper() else char for char in key)


def _changed(current: Mapping[str, Any], desired: Mapping[str, Any], fields: Iterable[str]) -> list[str]:
    """The update mask: the fields whose desired value differs from the current one (a
    field the inputs dropped is named without a value, which clears it). Like the
    provider's update, which names only the changed fields (``d.HasChange``), and
    necessary here: the emulator refuses a mask naming ``expiration_policy`` ("Updating
    the expiration_policy field is currently unsupported in the Pub/Sub Emulator")."""
    mask = []
    for key in fields:
        want, have = desired.get(key), current.get(key)
        if key == "pushConfig" and isinstance(want, Mapping) and isinstance(have, Mapping) and "attributes" not in want:
            # Google adds x-goog-version to every push config it reports; not a change.
            have = {name: value for name, value in have.items() if name != "attributes"}
        if (want or None) != (have or None):
            mask.append(_camel_to_field(key))
    return mask


def _expiration_policy(value: Mapping[str, Any]) -> dict[str, Any]:
    ttl = value.get("ttl")
    return {} if not ttl else {"ttl": ttl}


def _push_config(value: Mapping[str, Any]) -> dict[str, Any]:
    # pulumi-gcp sends only what was declared; an OIDC token without an audience is
    # left without one (Google then uses the push endpoint).
    return {key: item for key, item in value.items() if item not in (None, {}, "")}


def topic_body(inputs: Mapping[str, Any]) -> dict[str, Any]:
    """The REST ``Topic`` body for pulumi-gcp Topic ``inputs`` (name and project are in the URL)."""
    return {key: inputs[key] for key in _TOPIC_FIELDS if inputs.get(key) not in (None, "", {})}


def subscription_body(inputs: Mapping[str, Any]) -> dict[str, Any]:
    """The REST ``Subscription`` body for pulumi-gcp Subscription ``inputs``."""
    project = _required(inputs, "project", "subscription")
    body: dict[str, Any] = {"topic": _topic_path(project, _required(inputs, "topic", "subscription"))}
    for key in _SUBSCRIPTION_FIELDS:
        value = inputs.get(key)
        if value is None:
            continue
        if key == "expirationPolicy":
            body[key] = _expiration_policy(value)
        elif key == "pushConfig":
            body[key] = _push_config(value)
        elif key == "deadLetterPolicy":
            body[key] = {**value, "deadLetterTopic": _topic_path(project, value["deadLetterTopic"])}
        elif value not in ("", {}):
            body[key] = value
    return body


def _topic_path(project: str, topic: str) -> str:
    return topic if topic.startswith("projects/") else naming.topic_path(project, topic)


def _required(inputs: Mapping[str, Any], key: str, kind: str) -> str:
    value = inputs.get(key)
    if not isinstance(value, str) or not value:
        raise EmulatorError(f"{kind} inputs have no {key!r}: {dict(inputs)!r}")
    return value


class EmulatorPubSub:
    """Pub/Sub admin and data calls against the emulator at ``endpoint``
    (``http://127.0.0.1:8085``, as ``GYRINX_PUBSUB_EMULATOR`` gives it)."""

    def __init__(self, endpoint: str):
        self.endpoint = endpoint.rstrip("/")

    # --- transport -------------------------------------------------------------

    def call(
        self, method: str, path: str, body: Mapping[str, Any] | None = None, *, missing_ok: bool = False
    ) -> Response:
        """``method`` on ``/v1/{path}``; an :class:`EmulatorError` for any answer but
        2xx (and 404 when ``missing_ok``)."""
        url = f"{self.endpoint}/v1/{path}"
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(url, data=data, method=method)  # noqa: S310 - the emulator's own http URL
        request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as answer:  # noqa: S310
                return Response(answer.status, _decode(answer.read()))
        except urllib.error.HTTPError as exc:
            decoded = _decode(exc.read())
            if missing_ok and exc.code == _HTTP_NOT_FOUND:
                return Response(exc.code, decoded)
            message = decoded.get("error", {}).get("message") if isinstance(decoded.get("error"), dict) else None
            raise EmulatorError(
                f"the Pub/Sub emulator refused {method} {path}: HTTP {exc.code} {message or decoded or exc.reason}"
            ) from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise EmulatorError(f"cannot reach the Pub/Sub emulator at {self.endpoint}: {reason}") from None

    # --- admin: the stand-in provider's interface -----------------------------------

    def apply_topic(self, inputs: Mapping[str, Any]) -> None:
        """Create the topic, or update it in place (labels, retention) if it exists."""
        project, topic = _required(inputs, "project", "topic"), _required(inputs, "name", "topic")
        path = naming.topic_path(project, topic)
        body = topic_body(inputs)
        current = self.read_topic(project, topic)
        if current is None:
            self.call("PUT", path, body)
            return
        mask = _changed(current, body, _TOPIC_FIELDS)
        if mask:
            self.call("PATCH", path, {"topic": body, "updateMask": ",".join(mask)})

    def apply_subscription(self, inputs: Mapping[str, Any]) -> None:
        """Create the subscription, or update its mutable fields in place if it exists
        (immutable ones, topic, filter and ordering, are replaced by the engine)."""
        project = _required(inputs, "project", "subscription")
        subscription = _required(inputs, "name", "subscription")
        path = naming.subscription_path(project, subscription)
        body = subscription_body(inputs)
        current = self.read_subscription(project, subscription)
        if current is None:
            self.call("PUT", path, body)
            return
        mutable = [key for key in _SUBSCRIPTION_FIELDS if key not in _SUBSCRIPTION_IMMUTABLE]
        mask = _changed(current, body, mutable)
        if mask:
            changed = {key: value for key, value in body.items() if _camel_to_field(key) in mask}
            self.call("PATCH", path, {"subscription": changed, "updateMask": ",".join(mask)})

    def delete_topic(self, project: str, topic_id: str) -> None:
        """Delete the topic; one already gone is not an error (a delete is idempotent)."""
        self.call("DELETE", naming.topic_path(project, topic_id), missing_ok=True)

    def delete_subscription(self, project: str, subscription_id: str) -> None:
        """Delete the subscription (and its backlog); one already gone is not an error."""
        self.call("DELETE", naming.subscription_path(project, subscription_id), missing_ok=True)

    # --- reads ---------------------------------------------------------------------

    def read_topic(self, project: str, topic_id: str) -> Mapping[str, Any] | None:
        """The REST ``Topic`` as the emulator reports it, or None when it does not exist."""
        answer = self.call("GET", naming.topic_path(project, topic_id), missing_ok=True)
        return None if answer.status == _HTTP_NOT_FOUND else answer.body

    def read_subscription(self, project: str, subscription_id: str) -> Mapping[str, Any] | None:
        """The REST ``Subscription`` as the emulator reports it, or None when it does not exist."""
        answer = self.call("GET", naming.subscription_path(project, subscription_id), missing_ok=True)
        return None if answer.status == _HTTP_NOT_FOUND else answer.body

    def list_topics(self, project: str) -> list[str]:
        """Every topic id of ``project``."""
        return [item["name"].rsplit("/", 1)[1] for item in self._list(f"projects/{project}/topics", "topics")]

    def list_subscriptions(self, project: str) -> list[str]:
        """Every subscription id of ``project``."""
        found = self._list(f"projects/{project}/subscriptions", "subscriptions")
        return [item["name"].rsplit("/", 1)[1] for item in found]

    def _list(self, path: str, key: str) -> list[Mapping[str, Any]]:
        items: list[Mapping[str, Any]] = []
        token = ""
        while True:
            answer = self.call("GET", f"{path}?pageSize=1000" + (f"&pageToken={token}" if token else ""))
            items.extend(answer.body.get(key, []))
            token = str(answer.body.get("nextPageToken", ""))
            if not token:
                return items

    # --- data ----------------------------------------------------------------------

    def publish(self, project: str, topic_id: str, messages: list[Mapping[str, Any]]) -> list[str]:
        """Publish REST ``PubsubMessage`` bodies (``data`` in standard base64); their ids."""
        answer = self.call("POST", f"{naming.topic_path(project, topic_id)}:publish", {"messages": messages})
        return list(answer.body.get("messageIds", []))

    def pull(self, project: str, subscription_id: str, max_messages: int = 1000) -> list[Mapping[str, Any]]:
        """One pull, without acknowledging: the ``ReceivedMessage``s it returned (maybe fewer
        than are held; pull again after their ack deadline to see them again)."""
        answer = self.call(
            "POST",
            f"{naming.subscription_path(project, subscription_id)}:pull",
            {"maxMessages": max_messages, "returnImmediately": True},
        )
        return list(answer.body.get("receivedMessages", []))

    def modify_ack_deadline(self, project: str, subscription_id: str, ack_ids: list[str], seconds: int) -> None:
        """Set the ack deadline of pulled messages (0 hands them back at once)."""
        if ack_ids:
            self.call(
                "POST",
                f"{naming.subscription_path(project, subscription_id)}:modifyAckDeadline",
                {"ackIds": ack_ids, "ackDeadlineSeconds": seconds},
            )

    def modify_push_config(self, project: str, subscription_id: str, push_config: Mapping[str, Any]) -> None:
        """Replace the push config (an empty one turns the subscription into a pull one)."""
        self.call(
            "POST",
            f"{naming.subscription_path(project, subscription_id)}:modifyPushConfig",
            {"pushConfig": dict(push_config)},
        )

    def acknowledge(self, project: str, subscription_id: str, ack_ids: list[str]) -> None:
        """Acknowledge pulled messages."""
        if ack_ids:
            self.call("POST", f"{naming.subscription_path(project, subscription_id)}:acknowledge", {"ackIds": ack_ids})


def _decode(raw: bytes) -> Mapping[str, Any]:
    if not raw.strip():
        return {}
    try:
        decoded = json.loads(raw)
    except ValueError:
        return {"text": raw.decode(errors="replace")}
    return decoded if isinstance(decoded, dict) else {"value": decoded}
