"""What the global options chose, handed to every command: one typed `App`."""

from __future__ import annotations

import gc
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from reconciler.backends import open_backend
from reconciler.backends.base import Backend
from reconciler.core.config import Config
from reconciler.core.grants import Grant
from reconciler.git import merged
from reconciler.git.history import MergeTimes, Progress, merge_times, open_repository
from reconciler.git.reviewed import folder_existed
from reconciler.repo.config import find_config, load_config
from reconciler.repo.workspace import Workspace, open_workspace


def system_clock() -> datetime:
    return datetime.now(UTC)


@dataclass
class App:
    """What the global options chose; commands ask it for the workspace and the backend."""

    #: ``--config`` as given; None: found upward from the current folder (`config_path`)
    config_option: Path | None
    backend_spec: str | None
    #: ``--connection-config``: the tailjit.yaml whose connection settings (backend, tailnet, base_url,
    #: audience, credentials) are used instead of those of ``--config`` (a pull request's, read as data)
    connection_option: Path | None = None
    #: where "now" comes from when a command is not given ``--at``; tests pass a fixed one
    clock: Callable[[], datetime] = field(default=system_clock)
    #: the environment (notification sinks read their URL and secret variables from it)
    env: Mapping[str, str] = field(default_factory=lambda: os.environ)
    #: told how far a long walk of git history has got: (commits read, commits in all when known)
    progress: Progress | None = None
    #: told how many grant files have been read so far (a folder of thousands takes seconds)
    loading: Progress | None = None
    #: how many times the repository was read (more than once: a long-running command)
    _workspaces: int = field(default=0, init=False, repr=False)

    @property
    def config_path(self) -> Path:
        """``--config``, or the ``policy/tailjit.yaml`` of the access repository the current folder is in."""
        return self.config_option if self.config_option is not None else find_config(Path.cwd())

    def now(self, at: datetime | None = None) -> datetime:
        return at if at is not None else self.clock()

    def workspace(self) -> Workspace:
        if self._workspaces and not gc.isenabled():
            gc.enable()  # a long-running command (apply --watch): its garbage must not pile up
        self._workspaces += 1
        return open_workspace(self.config_path, self.merge_times, folder_existed, progress=self.loading,
                              in_git=lambda root: open_repository(root) is not None)

    def merge_times(self, root: Path, grants: Sequence[Grant]) -> MergeTimes:
        """Merge times, kept between runs in the state folder (``<root>/.tailjit``, as `reconciler.watch`)."""
        found = merge_times(root, grants, state=root / ".tailjit", progress=self.progress, now=self.clock())
        return merged.review(root, grants, found)

    def backend(self, ws: Workspace, *, write: bool = True) -> Backend:
        return self.open_backend(ws.config, write=write)

    def open_backend(self, config: Config, *, write: bool = True) -> Backend:
        """The backend ``--backend`` or the config names; ``write=False`` for a command that only reads. With
        ``--connection-config``, that file's settings are used instead of ``config``'s: then nothing of
        ``--config`` decides where tailjit connects, with what credential, or which token audience it asks for."""
        settings = config if self.connection_option is None else load_config(self.connection_option)
        return open_backend(self.backend_spec or settings.backend, settings, write=write)
