"""Where the live policy lives: a file standing in for the tailnet, or the Tailscale API."""

from __future__ import annotations

from pathlib import Path

from reconciler.backends.base import Backend
from reconciler.backends.file import FileBackend
from reconciler.core.config import Config, backend_problem
from reconciler.errors import ConfigError


def open_backend(spec: str, config: Config) -> Backend:
    """``file:PATH`` (relative to the repository root) or ``tailscale``."""
    problem = backend_problem(spec)
    if problem is not None:
        raise ConfigError(problem)
    if spec.startswith("file:"):
        path = Path(spec.removeprefix("file:"))
        return FileBackend(path if path.is_absolute() else config.root / path, name=spec)
    from reconciler.backends.tailscale import TailscaleBackend

    return TailscaleBackend.from_config(config)
