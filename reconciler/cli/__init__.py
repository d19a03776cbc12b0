"""The ``tailjit`` command line."""
