"""Where the live policy lives: a file standing in for the tailnet, or the Tailscale API."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

from reconciler.backends.base import Backend
from reconciler.backends.file import FileBackend
from reconciler.core.config import Config, backend_problem
from reconciler.errors import ConfigError

if TYPE_CHECKING:
    from reconciler.backends.tailscale import TailscaleBackend

#: The policy file scopes an OAuth client's token is asked for: to read (plan, doctor, import) and to write.
READ_SCOPE = "policy_file:read"
WRITE_SCOPE = "policy_file"


def wanted_scopes(config: Config, *, write: bool, attributes: bool | None = None) -> tuple[str, ...]:
    """What to ask an OAuth client's token for: the policy file, and the devices when a target is posture-locked
    (``attributes``: the posture attributes' write scope; default: when ``write``)."""
    scopes = [WRITE_SCOPE if write else READ_SCOPE]
    if any(target.posture_locked for target in config.targets.values()):
        from reconciler.backends.devices import ATTRIBUTES_SCOPE, LIST_SCOPE

        writes_attributes = write if attributes is None else attributes
        scopes += [LIST_SCOPE, ATTRIBUTES_SCOPE if writes_attributes else ATTRIBUTES_SCOPE + ":read"]
    return tuple(scopes)


def open_backend(spec: str, config: Config, *, write: bool = True,
                 scopes: tuple[str, ...] | None = None) -> Backend:
    """``file:PATH`` (relative to the repository root) or ``tailscale``; ``write=False`` for a command that
    only reads (its OAuth token is asked for the read scopes only); ``scopes`` to ask for others."""
    problem = backend_problem(spec)
    if problem is not None:
        raise ConfigError(problem)
    if spec.startswith("file:"):
        path = Path(spec.removeprefix("file:"))
        return FileBackend(path if path.is_absolute() else config.root / path, name=spec)
    from reconciler.backends.tailscale import TailscaleBackend

    wanted = wanted_scopes(config, write=write) if scopes is None else scopes
    return TailscaleBackend.from_config(config, scopes=wanted)


def tailscale_backend(backend: Backend) -> TailscaleBackend | None:
    """``backend`` when it talks to the Tailscale API, else None; told without importing the API client into a
    run on a file backend (an instance of its class exists only once its module is loaded)."""
    module = sys.modules.get("reconciler.backends.tailscale")
    if module is None or not isinstance(backend, module.TailscaleBackend):
        return None
    found: TailscaleBackend = backend
    return found
