"""Stand-ins for the Google services the Pulumi engine deploys to when run locally."""
