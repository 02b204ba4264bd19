"""A config value the user marks secret stays secret in every input that uses it.

``pulumi config set --secret`` stores the value as ``secure:`` and the language host
passes its key in ``PULUMI_CONFIG_SECRET_KEYS`` to ``pulumi.runtime.set_all_config``
(pulumi/pulumi ``sdk/python/cmd/pulumi-language-python-exec``); ``Config.get`` then
returns it as plain text (``sdk/python/lib/pulumi/config.py``), so the program must wrap
it again. A secret input reaches the resource monitor wrapped in the secret signature
(``sdk/python/lib/pulumi/runtime/rpc.py``: ``is_rpc_secret``), which the recording mock
shows as ``[secret]``, as ``pulumi preview --json`` does (``pkg/display/json.go``).
"""

from __future__ import annotations

import json

import pytest

from tests.conftest import BASE_CONFIG
from tests.fake_registry import route
from tools import runner, stack_config
from tools.stack_config import SECRET_MASK, StackConfig

SUBSCRIPTION = "gcp:pubsub/subscription:Subscription"


def plan_with_secret(routes, key: str, value: str) -> runner.Plan:
    routes.append(route("t"))
    values = {**BASE_CONFIG, key: value}
    return runner.run_plan("test", config=StackConfig(values, (key,), ()))


def test_a_secret_service_url_is_masked_in_the_push_config(routes):
    plan = plan_with_secret(routes, "gyrinx-tasks:serviceUrl", "https://hidden.example.run.app")
    push_config = plan.by_name(SUBSCRIPTION, "t-sub").inputs["pushConfig"]
    assert "hidden" not in repr(push_config)
    assert SECRET_MASK in repr(push_config)


def test_secret_labels_are_masked_on_the_topic(routes):
    plan = plan_with_secret(routes, "gyrinx-tasks:labels", '{"team": "hidden"}')
    assert plan.by_name("gcp:pubsub/topic:Topic", "t-topic").inputs["labels"] == SECRET_MASK


def test_secret_notification_channels_are_masked_on_the_alert(routes):
    plan = plan_with_secret(
        routes, "gyrinx-tasks:alertNotificationChannels", '["projects/test-proj/notificationChannels/1"]'
    )
    alert = plan.by_name("gcp:monitoring/alertPolicy:AlertPolicy", "dead-letter-alert")
    assert alert.inputs["notificationChannels"] == SECRET_MASK


def test_a_plain_value_is_not_masked(routes):
    routes.append(route("t"))
    plan = runner.run_plan("test", config=BASE_CONFIG)
    assert SECRET_MASK not in repr(plan.by_name(SUBSCRIPTION, "t-sub").inputs)


@pytest.mark.parametrize("key", ["serviceUrl", "labels", "alertNotificationChannels"])
def test_an_encrypted_stack_value_becomes_a_valid_opaque_secret_offline(key, tmp_path):
    """Offline a ``secure:`` value cannot be decrypted: the plan runs on a stand-in of the
    key's type, marked secret, never the literal text ``[secret]``, and says so. (A
    ``--config`` value is a plain string, as ``pulumi preview -c`` keeps it, so the
    secret is written in a stack file.)"""
    (tmp_path / "Pulumi.yaml").write_text((stack_config.PROJECT_DIR / "Pulumi.yaml").read_text())
    written = {**stack_config.stack_config("dev"), f"gyrinx-tasks:{key}": {"secure": "v1:abc"}}
    (tmp_path / "Pulumi.dev.yaml").write_text(json.dumps({"config": written}))  # JSON is YAML too
    config = stack_config.merged_config("dev", project_dir=tmp_path)
    assert config.secret_keys == (f"gyrinx-tasks:{key}",)
    assert config.values[f"gyrinx-tasks:{key}"] != SECRET_MASK
    assert any(f"gyrinx-tasks:{key} is encrypted" in note for note in config.notes)
    plan = runner.run_plan("dev", config=config)
    assert plan.notes == config.notes


@pytest.mark.parametrize(
    "key",
    [
        "gcp:project",
        "gyrinx-tasks:environment",
        "gyrinx-tasks:pushServiceAccountId",
        # IAM members' ids are "{resource}/{role}/{member}" (terraform-provider-google's
        # IAM member resources), so every account email and the service name are in one.
        "gyrinx-tasks:appServiceAccount",
        "gyrinx-tasks:deployServiceAccount",
        "gyrinx-tasks:pushServiceAccountEmail",
        "gyrinx-tasks:cloudRunService",
        # Flags become Cloud Run environment variables and each job's `paused`.
        "gyrinx-tasks:flags",
    ],
)
def test_a_key_that_becomes_a_resource_id_cannot_be_secret(routes, key):
    """Pulumi and Google show resource ids in plain text: keeping such a key secret is
    impossible, so it is refused (naming it) rather than leaked."""
    from infra.errors import InvalidInput

    routes.append(route("t"))
    values = {
        **BASE_CONFIG,
        "gyrinx-tasks:environment": "test",
        "gyrinx-tasks:pushServiceAccountId": "push-invoker",
        "gyrinx-tasks:appServiceAccount": "gyrinx-app@test-proj.iam.gserviceaccount.com",
        "gyrinx-tasks:cloudRunService": "gyrinx",
        "gyrinx-tasks:flags": "{}",
    }
    with pytest.raises(InvalidInput) as caught:
        runner.run_plan("test", config=StackConfig(values, (key,), ()))
    [problem] = caught.value.problems
    assert problem.startswith(f"config {key}: is set as a secret, but it ends up in resource ids")
