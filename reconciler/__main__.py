"""``python -m reconciler``: the same as the ``tailjit`` command."""

import sys

from reconciler.cli.main import main

sys.exit(main())
