"""Settings of the test app, shaped like gyrinx-app/gyrinx gyrinx/settings.py.

No database and no environment variable is needed to read the routes; the default
task backend (Django's ImmediateBackend) stands in for the app's own.
"""

import os

SECRET_KEY = "test-only"
DEBUG = False
USE_TZ = True
DATABASES: dict[str, dict[str, str]] = {}
# The app's apps in order; discovery keeps this order (gyrinx/tasks/discovery.py).
INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "gyrinx.tasks",
    "n23.core",
    "gyrinx.api",
]
# gyrinx/settings.py: TASKS_ENVIRONMENT = os.getenv("TASKS_ENVIRONMENT", "dev")
TASKS_ENVIRONMENT = os.getenv("TASKS_ENVIRONMENT", "dev")
