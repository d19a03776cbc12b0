"""Where the live policy lives: a file standing in for the tailnet, or the Tailscale API."""
