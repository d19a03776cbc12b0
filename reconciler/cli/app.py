"""What the global options chose, handed to every command: one typed `App`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from reconciler.backends import open_backend
from reconciler.backends.base import Backend
from reconciler.git.history import merge_times
from reconciler.repo.workspace import Workspace, open_workspace


def system_clock() -> datetime:
    return datetime.now(UTC)


@dataclass
class App:
    """What the global options chose; commands ask it for the workspace and the backend."""

    config_path: Path
    backend_spec: str | None
    #: where "now" comes from when a command is not given ``--at``; tests pass a fixed one
    clock: Callable[[], datetime] = field(default=system_clock)

    def now(self, at: datetime | None = None) -> datetime:
        return at if at is not None else self.clock()

    def workspace(self) -> Workspace:
        return open_workspace(self.config_path, merge_times)

    def backend(self, ws: Workspace) -> Backend:
        return open_backend(self.backend_spec or ws.config.backend, ws.config)
