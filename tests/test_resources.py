"""What the program declares for each task and for the stack, under the mock runtime."""

from __future__ import annotations

import base64
import json

import pytest

from infra import ownership
from tests.conftest import names, of_type
from tests.fake_registry import route
from tests.stack_plans import stack_plan
from tools import stack_config
from tools.mocks import project_number

TOPIC = ownership.TOPIC_TYPE
SUBSCRIPTION = ownership.SUBSCRIPTION_TYPE
JOB = ownership.JOB_TYPE
TOPIC_IAM = ownership.TOPIC_IAM_MEMBER_TYPE
SUBSCRIPTION_IAM = ownership.SUBSCRIPTION_IAM_MEMBER_TYPE
AGENT = f"serviceAccount:service-{project_number('test-proj')}@gcp-sa-pubsub.iam.gserviceaccount.com"
TOPIC_ID = "projects/test-proj/topics/test--gyrinx.tasks--app.tasks.send_email"
DLQ_ID = f"{TOPIC_ID}-dlq"


@pytest.fixture
def plan(run, routes):
    routes.append(
        route("send_email", ack_deadline=60, min_retry_delay=15, max_retry_delay=300, max_delivery_attempts=7)
    )
    return run()


@pytest.fixture
def scheduled(run, routes):
    def _scheduled(flags=None, **options):
        routes.append(route("nightly", **{"schedule": "0 3 * * *", **options}))
        return run(**({"flags": json.dumps(flags)} if flags is not None else {})).by_name(JOB, "nightly-job")

    return _scheduled


def test_topic_has_the_apps_id_and_labels(plan):
    topic = plan.by_name(TOPIC, "send_email-topic")
    assert topic.inputs["name"] == "test--gyrinx.tasks--app.tasks.send_email"
    assert topic.inputs["project"] == "test-proj"
    assert topic.inputs["labels"] == {"environment": "test", "managed-by": "pulumi"}


def test_environment_config_overrides_the_stack_name(run, routes):
    routes.append(route("t"))
    topic = run(environment="staging").by_name(TOPIC, "t-topic")
    assert topic.inputs["name"] == "staging--gyrinx.tasks--app.tasks.t"


def test_push_subscription_pushes_to_the_handler_with_oidc(plan):
    sub = plan.by_name(SUBSCRIPTION, "send_email-sub")
    assert sub.inputs["name"] == "test--gyrinx.tasks--app.tasks.send_email-sub"
    assert sub.inputs["topic"] == TOPIC_ID
    assert sub.inputs["pushConfig"] == {
        "pushEndpoint": "https://app.example.run.app/tasks/pubsub/",
        "oidcToken": {
            "audience": "https://app.example.run.app",
            "serviceAccountEmail": "pubsub-invoker@test-proj.iam.gserviceaccount.com",
        },
    }


def test_push_subscription_keeps_the_default_envelope(plan):
    assert "noWrapper" not in plan.by_name(SUBSCRIPTION, "send_email-sub").inputs["pushConfig"]


def test_push_subscription_takes_ack_deadline_and_backoff_from_the_route(plan):
    sub = plan.by_name(SUBSCRIPTION, "send_email-sub")
    assert sub.inputs["ackDeadlineSeconds"] == 60
    assert sub.inputs["retryPolicy"] == {"minimumBackoff": "15s", "maximumBackoff": "300s"}


def test_push_subscription_dead_letters_after_the_routes_attempts(plan):
    sub = plan.by_name(SUBSCRIPTION, "send_email-sub")
    assert sub.inputs["deadLetterPolicy"] == {"deadLetterTopic": DLQ_ID, "maxDeliveryAttempts": 7}


def test_push_subscription_never_expires_and_is_labelled(plan):
    sub = plan.by_name(SUBSCRIPTION, "send_email-sub")
    assert sub.inputs["expirationPolicy"] == {"ttl": ""}
    assert sub.inputs["labels"]["environment"] == "test"


def test_dead_letter_topic_keeps_messages_31_days(plan):
    dlq = plan.by_name(TOPIC, "send_email-dlq")
    assert dlq.inputs["name"] == "test--gyrinx.tasks--app.tasks.send_email-dlq"
    assert dlq.inputs["messageRetentionDuration"] == "2678400s"


def test_dead_letter_subscription_is_a_pull_subscription_that_never_expires(plan):
    sub = plan.by_name(SUBSCRIPTION, "send_email-dlq-sub")
    assert sub.inputs["name"] == "test--gyrinx.tasks--app.tasks.send_email-dlq-sub"
    assert sub.inputs["topic"] == DLQ_ID
    assert "pushConfig" not in sub.inputs
    assert sub.inputs["expirationPolicy"] == {"ttl": ""}
    assert sub.inputs["messageRetentionDuration"] == "2678400s"  # 31 days, Pub/Sub's maximum


def test_service_agent_may_publish_to_the_dead_letter_topic(plan):
    grant = plan.by_name(TOPIC_IAM, "send_email-dlq-publisher")
    assert grant.inputs == {"project": "test-proj", "topic": DLQ_ID, "role": "roles/pubsub.publisher", "member": AGENT}


def test_service_agent_may_subscribe_to_the_push_subscription(plan):
    grant = plan.by_name(SUBSCRIPTION_IAM, "send_email-sub-subscriber")
    assert (
        grant.inputs["subscription"] == "projects/test-proj/subscriptions/test--gyrinx.tasks--app.tasks.send_email-sub"
    )
    assert (grant.inputs["role"], grant.inputs["member"]) == ("roles/pubsub.subscriber", AGENT)


def test_iam_members_depend_on_the_resources_they_grant_on(plan):
    sub = plan.by_name(SUBSCRIPTION, "send_email-sub")
    dlq = plan.by_name(TOPIC, "send_email-dlq")
    agent = plan.by_name(ownership.SERVICE_IDENTITY_KIND.token, "pubsub-service-agent")
    subscriber = plan.by_name(SUBSCRIPTION_IAM, "send_email-sub-subscriber")
    publisher = plan.by_name(TOPIC_IAM, "send_email-dlq-publisher")
    assert subscriber.property_dependencies["subscription"] == [sub.urn]
    assert subscriber.property_dependencies["member"] == [agent.urn]
    assert publisher.property_dependencies["topic"] == [dlq.urn]


def test_subscriptions_reference_topics_by_output(plan):
    sub = plan.by_name(SUBSCRIPTION, "send_email-sub")
    assert sub.property_dependencies["topic"] == [plan.by_name(TOPIC, "send_email-topic").urn]
    assert sub.property_dependencies["deadLetterPolicy"] == [plan.by_name(TOPIC, "send_email-dlq").urn]


def test_app_account_may_publish_to_task_topics_when_configured(run, routes):
    routes.append(route("t"))
    grant = run(appServiceAccount="gyrinx-app@test-proj.iam.gserviceaccount.com").by_name(TOPIC_IAM, "t-app-publisher")
    assert grant.inputs["topic"] == "projects/test-proj/topics/test--gyrinx.tasks--app.tasks.t"
    assert grant.inputs["role"] == "roles/pubsub.publisher"
    assert grant.inputs["member"] == "serviceAccount:gyrinx-app@test-proj.iam.gserviceaccount.com"


def test_no_app_publisher_grant_without_an_app_account(plan):
    assert "send_email-app-publisher" not in names(plan.registrations)


def test_an_unscheduled_task_has_no_job(plan):
    assert of_type(plan, ":Job") == []


def test_every_task_resource_is_a_child_of_its_component(plan):
    component = plan.by_name("gyrinx-tasks:index:TaskQueue", "send_email")
    children = [r for r in plan.registrations if r.name.startswith("send_email-")]
    # What infra.ownership says the task owns: unscheduled, and no app account configured.
    kinds = {c for c in ownership.CHILDREN if c not in (ownership.APP_PUBLISHER, ownership.JOB)}
    assert {(r.type, r.name) for r in children} == {(c.type, c.logical_name("send_email")) for c in kinds}
    assert {child.parent for child in children} == {component.urn}


def test_job_publishes_the_apps_payload_to_the_task_topic(scheduled):
    job = scheduled()
    target = job.inputs["pubsubTarget"]
    assert target["topicName"] == "projects/test-proj/topics/test--gyrinx.tasks--app.tasks.nightly"
    assert base64.b64decode(target["data"]) == (
        b'{"task_id": "scheduled-nightly", "task_name": "nightly", "args": [], "kwargs": {}}'
    )


def test_job_has_the_apps_id_region_schedule_and_description(scheduled):
    job = scheduled(schedule_timezone="Europe/London")
    assert job.inputs["name"] == "test--gyrinx-scheduler--app-tasks-nightly"
    assert job.inputs["region"] == "europe-west2"
    assert job.inputs["schedule"] == "0 3 * * *"
    assert job.inputs["timeZone"] == "Europe/London"
    assert job.inputs["description"] == "Scheduled task: nightly (0 3 * * * Europe/London)"


@pytest.mark.parametrize("spelling", ["UTC", "Etc/UTC", "Zulu"])
def test_utc_is_declared_the_way_google_reports_it(scheduled, spelling):
    assert scheduled(schedule_timezone=spelling).inputs["timeZone"] == "Etc/UTC"


def test_job_sets_all_five_retry_fields(scheduled):
    assert scheduled().inputs["retryConfig"] == {
        "retryCount": 3,
        "minBackoffDuration": "5s",
        "maxBackoffDuration": "300s",
        "maxDoublings": 5,
        "maxRetryDuration": "0s",
    }


def test_job_ignores_attempt_deadline(scheduled):
    job = scheduled()
    assert job.ignore_changes == ["attemptDeadline"]
    assert "attemptDeadline" not in job.inputs


@pytest.mark.parametrize("flags,paused", [(None, False), ({"ENABLE_X": True}, False), ({"ENABLE_X": False}, True)])
def test_kill_switch_false_pauses_the_job(scheduled, flags, paused):
    assert scheduled(flags=flags, kill_switch="ENABLE_X").inputs["paused"] is paused


def test_a_flag_for_another_switch_does_not_pause(scheduled, routes):
    routes.append(route("other", kill_switch="OTHER"))  # a flag must name some route's kill switch
    assert scheduled(flags={"OTHER": False}, kill_switch="ENABLE_X").inputs["paused"] is False


def test_stack_ensures_the_pubsub_service_identity(plan):
    identity = plan.by_name(ownership.SERVICE_IDENTITY_KIND.token, "pubsub-service-agent")
    assert identity.inputs == {"project": "test-proj", "service": "pubsub.googleapis.com"}


def test_stack_creates_the_push_account_by_default(plan):
    account = plan.by_name(ownership.SERVICE_ACCOUNT_TYPE, "push-service-account")
    assert account.inputs["accountId"] == "pubsub-invoker"


def test_an_existing_push_account_is_used_not_created(run, routes):
    routes.append(route("t"))
    plan = run(pushServiceAccountEmail="invoker@other-proj.iam.gserviceaccount.com")
    assert of_type(plan, ":Account") == []
    sub = plan.by_name(SUBSCRIPTION, "t-sub")
    assert sub.inputs["pushConfig"]["oidcToken"]["serviceAccountEmail"] == "invoker@other-proj.iam.gserviceaccount.com"
    grant = plan.by_name(ownership.SERVICE_ACCOUNT_IAM_MEMBER_KIND.token, "push-token-creator")
    assert (
        grant.inputs["serviceAccountId"]
        == "projects/test-proj/serviceAccounts/invoker@other-proj.iam.gserviceaccount.com"
    )


def test_service_agent_may_mint_tokens_as_the_push_account(plan):
    grant = plan.by_name(ownership.SERVICE_ACCOUNT_IAM_MEMBER_KIND.token, "push-token-creator")
    assert grant.inputs == {
        "serviceAccountId": "projects/test-proj/serviceAccounts/pubsub-invoker@test-proj.iam.gserviceaccount.com",
        "role": "roles/iam.serviceAccountTokenCreator",
        "member": AGENT,
    }


def test_push_account_may_invoke_the_cloud_run_service_when_named(run, routes):
    routes.append(route("t"))
    grant = run(cloudRunService="gyrinx").by_name(ownership.CLOUD_RUN_IAM_MEMBER_KIND.token, "push-run-invoker")
    assert grant.inputs == {
        "project": "test-proj",
        "location": "europe-west2",
        "name": "gyrinx",
        "role": "roles/run.invoker",
        "member": "serviceAccount:pubsub-invoker@test-proj.iam.gserviceaccount.com",
    }


def test_no_invoker_grant_without_a_service_name(plan):
    assert of_type(plan, ":ServiceIamMember") == []


def test_only_additive_iam_members_are_declared(plan):
    assert not [
        r for r in plan.registrations if r.type.endswith(("IAMBinding", "IAMPolicy", "IamBinding", "IamPolicy"))
    ]


def test_outputs_map_each_task_to_its_resources(run, routes):
    routes.extend([route("t"), route("nightly", schedule="0 3 * * *", kill_switch="ENABLE_X")])
    outputs = run(flags='{"ENABLE_X": false}').outputs
    assert outputs["tasks"]["t"] == {
        "topic": "projects/test-proj/topics/test--gyrinx.tasks--app.tasks.t",
        "subscription": "projects/test-proj/subscriptions/test--gyrinx.tasks--app.tasks.t-sub",
        "deadLetterTopic": "projects/test-proj/topics/test--gyrinx.tasks--app.tasks.t-dlq",
        "deadLetterSubscription": "projects/test-proj/subscriptions/test--gyrinx.tasks--app.tasks.t-dlq-sub",
    }
    assert outputs["tasks"]["nightly"]["job"] == (
        "projects/test-proj/locations/europe-west2/jobs/test--gyrinx-scheduler--app-tasks-nightly"
    )
    assert outputs["flags"] == {"ENABLE_X": False}
    assert outputs["pushEndpoint"] == "https://app.example.run.app/tasks/pubsub/"


def test_dead_letter_subscription_declares_its_ack_deadline(plan):
    assert plan.by_name(SUBSCRIPTION, "send_email-dlq-sub").inputs["ackDeadlineSeconds"] == 60


@pytest.mark.parametrize("stack", stack_config.stack_names())
def test_every_normalised_field_is_declared_as_google_reports_it(stack):

    plan = stack_plan(stack)
    durations = []
    for registration in plan.registrations:
        inputs = registration.inputs
        durations += [v for k, v in inputs.get("retryPolicy", {}).items()]
        durations += [v for k, v in inputs.get("retryConfig", {}).items() if k.endswith("Duration")]
        if "messageRetentionDuration" in inputs:
            durations.append(inputs["messageRetentionDuration"])
        if registration.type == JOB:
            assert inputs["timeZone"] != "UTC"
            assert set(inputs["retryConfig"]) == {
                "retryCount",
                "minBackoffDuration",
                "maxBackoffDuration",
                "maxDoublings",
                "maxRetryDuration",
            }
            assert registration.ignore_changes == ["attemptDeadline"]
    assert durations and all(d.endswith("s") and d[:-1].isdigit() for d in durations)


# --- a fresh project's first `pulumi up` ---------------------------------------------------

SERVICE = ownership.PROJECT_SERVICE_KIND.token
ACCOUNT_IAM = ownership.SERVICE_ACCOUNT_IAM_MEMBER_KIND.token


def urn_of(plan, type_: str, name: str) -> str:
    return plan.by_name(type_, name).urn


def test_the_deployer_may_act_as_the_push_account_the_stack_creates(plan):
    """Creating an OIDC push subscription needs iam.serviceAccounts.actAs on the push
    account at creation time (https://cloud.google.com/pubsub/docs/authenticate-push-subscriptions)."""
    grant = plan.by_name(ACCOUNT_IAM, "push-deployer-act-as")
    assert grant.inputs["role"] == "roles/iam.serviceAccountUser"
    assert grant.inputs["member"] == "serviceAccount:deployer@test-proj.iam.gserviceaccount.com"
    assert grant.inputs["serviceAccountId"] == (
        "projects/test-proj/serviceAccounts/pubsub-invoker@test-proj.iam.gserviceaccount.com"
    )


def test_every_push_subscription_waits_for_the_deployers_grant(plan):
    grant = urn_of(plan, ACCOUNT_IAM, "push-deployer-act-as")
    for subscription in of_type(plan, ":Subscription"):
        if "pushConfig" in subscription.inputs:
            assert grant in subscription.dependencies, subscription.name


def test_no_deployer_grant_when_the_push_account_exists_already(run, routes):
    routes.append(route("t"))
    plan = run(pushServiceAccountEmail="push-invoker@test-proj.iam.gserviceaccount.com", deployServiceAccount=None)
    assert "push-deployer-act-as" not in names(of_type(plan, ":IAMMember"))


def test_a_stack_creating_the_push_account_must_name_its_deployer(run, routes):
    from infra.errors import InvalidInput

    routes.append(route("t"))
    with pytest.raises(InvalidInput) as caught:
        run(deployServiceAccount=None)
    assert caught.value.problems == [
        "config gyrinx-tasks:deployServiceAccount: is required when the stack creates the push service account "
        "(pushServiceAccountEmail unset): creating an OIDC push subscription needs iam.serviceAccounts.actAs on "
        "that account, so the program grants it to the deploying identity named here"
    ]


def test_every_api_the_stack_needs_is_enabled_and_never_disabled(plan):
    from infra.project_apis import APIS

    services = {r.inputs["service"]: r for r in of_type(plan, ":Service")}
    assert set(services) == set(APIS)
    for service in services.values():
        assert service.inputs["disableOnDestroy"] is False
        assert service.inputs["project"] == "test-proj"


@pytest.mark.parametrize(
    ("type_", "api"),
    [
        (TOPIC, "pubsub.googleapis.com"),
        (JOB, "cloudscheduler.googleapis.com"),
        (ownership.ALERT_POLICY_TYPE, "monitoring.googleapis.com"),
        (ownership.SERVICE_ACCOUNT_TYPE, "iam.googleapis.com"),
        (ownership.SERVICE_IDENTITY_KIND.token, "serviceusage.googleapis.com"),
        (ownership.CLOUD_RUN_IAM_MEMBER_KIND.token, "run.googleapis.com"),
    ],
)
def test_resources_wait_for_the_api_they_need(run, routes, type_, api):
    routes.append(route("nightly", schedule="0 3 * * *"))
    plan = run(cloudRunService="gyrinx")
    service = next(r.urn for r in of_type(plan, ":Service") if r.inputs["service"] == api)
    declared = [r for r in plan.registrations if r.type == type_]
    assert declared
    for registration in declared:
        assert service in registration.dependencies, registration.name
