"""Files ``tailjit init`` writes into a new access repository (package data, read with importlib.resources)."""
