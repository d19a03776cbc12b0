"""Test helpers: fake APIs on loopback, git repositories, an access repository on disk."""
