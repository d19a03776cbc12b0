"""The access repository on disk: tailjit.yaml, grant files, the workspace, the state folder."""
