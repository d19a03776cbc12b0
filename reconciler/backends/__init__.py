"""Where the live policy lives: a file standing in for the tailnet, or the Tailscale API."""

from __future__ import annotations

from pathlib import Path

from reconciler.backends.base import Backend
from reconciler.backends.file import FileBackend
from reconciler.core.config import Config
from reconciler.errors import ConfigError


def open_backend(spec: str, config: Config) -> Backend:
    """``file:PATH`` (relative to the repository root) or ``tailscale``."""
    if spec.startswith("file:"):
        raw = spec.removeprefix("file:")
        if not raw:
            raise ConfigError("backend 'file:' needs a path, e.g. file:.tailjit/tailnet.hujson")
        path = Path(raw)
        return FileBackend(path if path.is_absolute() else config.root / path, name=spec)
    if spec == "tailscale":
        from reconciler.backends.tailscale import TailscaleBackend

        return TailscaleBackend.from_config(config)
    raise ConfigError(f"unknown backend {spec!r}: use 'tailscale' or 'file:PATH'")
