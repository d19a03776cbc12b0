"""``python -m reconciler``: the same as the ``tailjit`` command."""

from reconciler.cli.main import console

console()
