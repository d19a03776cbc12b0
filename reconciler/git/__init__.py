"""Git: merge times from history, remotes, and the request, prune and audit commands' work."""
