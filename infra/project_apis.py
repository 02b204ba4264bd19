"""The Google APIs a fresh project must have enabled before anything here can exist."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_gcp as gcp

from infra.ownership import PROJECT_APIS_COMPONENT
from infra.settings import Settings

# Each API and why it is needed (the service names are each API's host in Google's API
# reference, e.g. https://cloud.google.com/pubsub/docs/reference/rest). Declared, not assumed: the
# first `pulumi up` on a fresh project otherwise fails on whichever resource comes first.
APIS: dict[str, str] = {
    "pubsub.googleapis.com": "topics, subscriptions and their IAM",
    "cloudscheduler.googleapis.com": "the scheduled tasks' jobs",
    "monitoring.googleapis.com": "the dead-letter alert",
    "iam.googleapis.com": "the push service account and its grants",
    "run.googleapis.com": "the push account's run.invoker grant on the service",
    "serviceusage.googleapis.com": "ServiceIdentity, which makes the Pub/Sub service agent",
    "iamcredentials.googleapis.com": "Workload Identity Federation: the deployer's short-lived tokens",
    "sts.googleapis.com": "Workload Identity Federation: exchanging GitHub's OIDC token",
}


@dataclass(frozen=True)
class ProjectApisArgs:
    """The stack's settings (the project whose APIs are enabled)."""

    settings: Settings


class ProjectApis(pulumi.ComponentResource):
    """One ``gcp.projects.Service`` per API in :data:`APIS`.

    ``disable_on_destroy=False``: removing this stack (or an API from the list) must
    never switch an API off under the app, which shares the project.
    """

    def __init__(self, name: str, args: ProjectApisArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(PROJECT_APIS_COMPONENT, name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.services = {
            api: gcp.projects.Service(
                api.split(".", 1)[0],
                project=args.settings.project,
                service=api,
                disable_on_destroy=False,
                disable_dependent_services=False,
                opts=child,
            )
            for api in APIS
        }
        self.register_outputs({})

    def needs(self, *apis: str) -> list[pulumi.Resource]:
        """The services a resource depends on, for its ``depends_on``."""
        return [self.services[api] for api in apis]
