"""Settings that import, naming an installed app that does not exist: django.setup() fails."""

from gyrinx.settings import *  # noqa: F403
from gyrinx.settings import INSTALLED_APPS

INSTALLED_APPS = [*INSTALLED_APPS, "no_such_app"]
