"""A settings module that cannot be imported."""

from gyrinx.no_such_module import VALUE  # noqa: F401
from gyrinx.settings import *  # noqa: F403
