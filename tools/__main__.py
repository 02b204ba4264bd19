"""``python -m tools``: the offline tools' command line (see :mod:`tools.cli`)."""

import sys

from tools.cli import main

sys.exit(main())
