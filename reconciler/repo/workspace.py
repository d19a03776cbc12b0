"""An access repository as loaded for one command: config, base policy, grant files.

This is the I/O edge for reading the repository; everything it returns is a
value the pure core (`render`, `plan`) takes.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from reconciler.core.config import Config
from reconciler.core.grants import Grant, GrantStatus, State, evaluate_all
from reconciler.core.policy import Policy
from reconciler.core.render import render_policy
from reconciler.errors import ConfigError, GrantError, PolicyError
from reconciler.repo.config import load_config
from reconciler.repo.grants import LoadedGrants, load_grants

if TYPE_CHECKING:
    from reconciler.git.history import MergeTimes

#: Finds when each grant file reached the main branch, and which merge times cannot be trusted
#: (`gitrepo.merge_times`; injected so that reading a repository needs no git).
FindMergeTimes = Callable[[Path, Sequence[Grant]], "MergeTimes"]


@dataclass(frozen=True)
class Moment:
    """A workspace evaluated at one moment: every grant's status, the problems, and the render, made once."""

    workspace: Workspace
    now: datetime
    statuses: tuple[GrantStatus, ...]

    @functools.cached_property
    def problems(self) -> tuple[GrantError, ...]:
        """Invalid files plus valid files that grant nothing because of a limit or an unknown start."""
        found = list(self.workspace.loaded.errors)
        for status in self.statuses:
            if status.state in (State.INVALID, State.UNKNOWN) and status.problem:
                found.append(GrantError(status.problem, path=status.grant.path, line=status.problem_line,
                                        hint=status.hint))
        return tuple(found)

    @functools.cached_property
    def rendered(self) -> Policy:
        """The desired policy, with the tree it was packed from (see `render_policy`)."""
        ws = self.workspace
        return render_policy(ws.base, ws.config.targets, self.statuses, path=ws.base_path)


@dataclass(frozen=True)
class Workspace:
    config: Config
    base: bytes
    loaded: LoadedGrants
    merged_at: Mapping[str, datetime] = field(default_factory=dict)
    start_problems: Mapping[str, str] = field(default_factory=dict)
    #: why a grant file has no merge time (not committed, not merged, shallow clone): see `git.merged`
    unknown_starts: Mapping[str, str] = field(default_factory=dict)
    #: the grants folder is absent but git's recent history has it: its last file was deleted (no typo)
    grants_emptied: bool = False
    #: the repository is in git: a grant file without history (uncommitted, shallow clone) has an unknown start
    in_git: bool = False
    #: the last moment made by `at` (at most one: a long-running command asks for a new moment each cycle)
    _last: list[Moment] = field(default_factory=list, init=False, repr=False, compare=False)

    @property
    def base_path(self) -> str:
        return self.config.relative(self.config.policy_path)

    @property
    def errors(self) -> tuple[GrantError, ...]:
        return self.loaded.errors

    def missing_grants(self) -> ConfigError | None:
        """The error when the grants folder does not exist (a typo in ``grants``): taken for "no grant files",
        it would revoke every active grant. A target with no folder of its own yet is fine, and so is a grants
        folder git dropped when its last file was deleted (``grants_emptied``)."""
        config = self.config
        if self.grants_emptied or config.grants_dir.is_dir():
            return None
        folder = config.relative(config.grants_dir)
        return ConfigError(f"'grants': the folder {folder} does not exist (repository root {config.root})",
                           path=config.relative(config.path),
                           hint=f"fix 'grants', or create {folder}/ (in git an empty folder needs a file such as "
                                f"{folder}/.gitkeep)")

    def at(self, now: datetime) -> Moment:
        """Every grant evaluated at ``now``, once: a command asks for one moment several times (warnings,
        render, the PR comment, the notices), and 10,000 grants take about 12 ms to evaluate (and the moment
        renders once)."""
        if self._last and self._last[0].now == now and self._last[0].now.tzinfo == now.tzinfo:
            return self._last[0]
        moment = Moment(self, now, evaluate_all(self.loaded.grants, self.config.targets, now, self.merged_at,
                                                self.start_problems, self.unknown_starts, history=self.in_git))
        self._last[:] = [moment]
        return moment

    def statuses(self, now: datetime) -> tuple[GrantStatus, ...]:
        return self.at(now).statuses

    def problems(self, now: datetime) -> list[GrantError]:
        return list(self.at(now).problems)

    def request_problems(self, only: Collection[str] | None = None) -> list[GrantError]:
        """Grant files (all, or those whose path is in ``only``) that break their target's request rules
        (``requesters``, ``reason_pattern``).

        `validate` fails on these; apply still grants them, so that tightening a rule in tailjit.yaml never
        takes away access that was already reviewed and merged.
        """
        found = []
        for grant in self.loaded.grants:
            if only is not None and grant.path not in only:
                continue
            for key, problem in self.config.targets[grant.target].request_problems(grant.user, grant.reason):
                found.append(GrantError(problem, path=grant.path, line=grant.line_of(key)))
        return found

    def render(self, now: datetime) -> bytes:
        return self.at(now).rendered.text


def open_workspace(config_path: Path, merge_times: FindMergeTimes | None = None,
                   folder_existed: Callable[[Path, Path], bool] | None = None, *,
                   progress: Callable[[int, int | None], None] | None = None,
                   in_git: Callable[[Path], bool] | None = None) -> Workspace:
    """Read the repository. The base policy is parsed (and its errors reported) when it is rendered, so
    commands that only look at grants (status, prune, audit) work even while it is broken. ``folder_existed``
    (root, folder) tells whether an absent grants folder is in git's recent history; ``in_git`` (root) whether
    the repository is in git at all."""
    config = load_config(config_path)
    base_path = config.relative(config.policy_path)
    try:
        base = config.policy_path.read_bytes()
    except FileNotFoundError:
        raise PolicyError(f"the base policy file does not exist (repository root {config.root})", path=base_path,
                          hint=f"set 'policy' in {config.relative(config.path)}, or create the file") from None
    except OSError as e:
        raise PolicyError(f"cannot read: {e.strerror}", path=base_path) from None
    loaded = load_grants(config, progress=progress)
    emptied = (folder_existed is not None and not config.grants_dir.is_dir()
               and folder_existed(config.root, config.grants_dir))
    git = in_git is not None and in_git(config.root)
    if merge_times is None:
        return Workspace(config, base, loaded, grants_emptied=emptied, in_git=git)
    found = merge_times(config.root, loaded.grants)
    return Workspace(config, base, loaded, found, found.problems, found.unknown, grants_emptied=emptied,
                     in_git=git)
