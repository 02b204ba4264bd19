"""Per-stack resources every task shares: the Pub/Sub service agent, the push
service account, and the grants that let Pub/Sub push to Cloud Run with OIDC."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

from infra import naming
from infra.ownership import SHARED_COMPONENT
from infra.project_apis import ProjectApis
from infra.settings import Settings


@dataclass(frozen=True)
class SharedIamArgs:
    """The stack's settings, and the APIs its resources wait for."""

    settings: Settings
    apis: ProjectApis


class SharedIam(pulumi.ComponentResource):
    """The stack's Pub/Sub service identity, push service account and shared grants.

    - ``gcp.projects.ServiceIdentity`` makes sure the Pub/Sub service agent exists
      before any grant names it (service agents are created lazily).
    - The push service account is created here unless the stack names an existing one
      (``pushServiceAccountEmail``).
    - The service agent gets ``roles/iam.serviceAccountTokenCreator`` on the push
      account so it can mint OIDC tokens (needed for projects whose Pub/Sub was enabled
      on or before 8 April 2021, harmless elsewhere:
      https://cloud.google.com/pubsub/docs/authenticate-push-subscriptions).
    - With ``cloudRunService`` set, the push account gets ``roles/run.invoker`` on it.
    - When the stack creates the push account, the deploying identity
      (``deployServiceAccount``) gets ``roles/iam.serviceAccountUser`` on it: creating an
      OIDC push subscription needs ``iam.serviceAccounts.actAs`` on the account at
      creation time, so every push subscription depends on this grant
      (:attr:`push_ready`).
    """

    pubsub_agent_member: pulumi.Output[str]
    push_account_email: pulumi.Output[str]
    # What a push subscription must wait for before it can be created.
    push_ready: list[pulumi.Resource]

    def __init__(self, name: str, args: SharedIamArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(SHARED_COMPONENT, name, None, opts)
        settings, apis = args.settings, args.apis
        child = pulumi.ResourceOptions(parent=self)

        self.pubsub_agent = gcp.projects.ServiceIdentity(
            "pubsub-service-agent",
            project=settings.project,
            service="pubsub.googleapis.com",
            opts=pulumi.ResourceOptions(
                parent=self, depends_on=apis.needs("serviceusage.googleapis.com", "pubsub.googleapis.com")
            ),
        )
        self.pubsub_agent_member = self.pubsub_agent.member

        self.push_account: gcp.serviceaccount.Account | None = None
        if settings.manages_push_service_account:
            self.push_account = gcp.serviceaccount.Account(
                "push-service-account",
                project=settings.project,
                account_id=settings.push_service_account_id,
                display_name=f"Pub/Sub push to gyrinx tasks ({settings.environment})",
                description="Identity Pub/Sub signs OIDC tokens as when pushing tasks to Cloud Run.",
                opts=pulumi.ResourceOptions(parent=self, depends_on=apis.needs("iam.googleapis.com")),
            )
            push_account_name = self.push_account.name
            self.push_account_email = self.push_account.email
            self.deployer_act_as = gcp.serviceaccount.IAMMember(
                "push-deployer-act-as",
                service_account_id=push_account_name,
                role="roles/iam.serviceAccountUser",
                member=f"serviceAccount:{settings.deploy_service_account}",
                opts=child,
            )
            self.push_ready = [self.deployer_act_as]
        else:
            email = str(settings.push_service_account_email)
            push_account_name = pulumi.Output.from_input(naming.service_account_path(settings.project, email))
            self.push_account_email = pulumi.Output.from_input(email)
            self.push_ready = []
        push_member = self.push_account_email.apply(lambda email: f"serviceAccount:{email}")

        self.token_creator = gcp.serviceaccount.IAMMember(
            "push-token-creator",
            service_account_id=push_account_name,
            role="roles/iam.serviceAccountTokenCreator",
            member=self.pubsub_agent_member,
            opts=child,
        )

        self.run_invoker: gcp.cloudrunv2.ServiceIamMember | None = None
        if settings.cloud_run_service:
            self.run_invoker = gcp.cloudrunv2.ServiceIamMember(
                "push-run-invoker",
                project=settings.project,
                location=settings.cloud_run_region,
                name=settings.cloud_run_service,
                role="roles/run.invoker",
                member=push_member,
                opts=pulumi.ResourceOptions(parent=self, depends_on=apis.needs("run.googleapis.com")),
            )

        self.register_outputs(
            {"pubsubAgentMember": self.pubsub_agent_member, "pushAccountEmail": self.push_account_email}
        )
