"""tailjit: just-in-time access to a Tailscale tailnet, as GitOps."""

__version__ = "0.1.0"
