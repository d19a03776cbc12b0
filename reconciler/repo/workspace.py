"""An access repository as loaded for one command: config, base policy, grant files.

This is the I/O edge for reading the repository; everything it returns is a
value the pure core (`render`, `plan`) takes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from reconciler.core.config import Config
from reconciler.core.grants import Grant, GrantStatus, State, evaluate_all
from reconciler.core.render import render
from reconciler.errors import GrantError, PolicyError
from reconciler.repo.config import load_config
from reconciler.repo.grants import LoadedGrants, load_grants

if TYPE_CHECKING:
    from reconciler.git.history import MergeTimes

#: Finds when each grant file reached the main branch, and which merge times cannot be trusted
#: (`gitrepo.merge_times`; injected so that reading a repository needs no git).
FindMergeTimes = Callable[[Path, Sequence[Grant]], "MergeTimes"]


@dataclass(frozen=True)
class Workspace:
    config: Config
    base: bytes
    loaded: LoadedGrants
    merged_at: Mapping[str, datetime] = field(default_factory=dict)
    start_problems: Mapping[str, str] = field(default_factory=dict)
    #: the statuses at the last moment asked for: a command asks for one moment several times
    _evaluated: dict[datetime, tuple[GrantStatus, ...]] = field(default_factory=dict, init=False, repr=False,
                                                                compare=False)

    @property
    def base_path(self) -> str:
        return self.config.relative(self.config.policy_path)

    @property
    def errors(self) -> tuple[GrantError, ...]:
        return self.loaded.errors

    def statuses(self, now: datetime) -> tuple[GrantStatus, ...]:
        """Every grant evaluated at ``now``. Warnings, render and the PR comment of one command all ask for
        the same moment, so the last one is kept (10,000 grants take about 12 ms)."""
        found = self._evaluated.get(now)
        if found is None:
            self._evaluated.clear()
            found = self._evaluated[now] = evaluate_all(self.loaded.grants, self.config.targets, now,
                                                        self.merged_at, self.start_problems)
        return found

    def problems(self, now: datetime) -> list[GrantError]:
        """Invalid files plus valid files that grant nothing because of a limit or an unknown start."""
        found = list(self.loaded.errors)
        for status in self.statuses(now):
            if status.state in (State.INVALID, State.UNKNOWN) and status.problem:
                found.append(GrantError(status.problem, path=status.grant.path, line=status.grant.line))
        return found

    def request_problems(self) -> list[GrantError]:
        """Grant files that break their target's request rules (``requesters``, ``reason_pattern``).

        `validate` fails on these; apply still grants them, so that tightening a rule in tailjit.yaml never
        takes away access that was already reviewed and merged.
        """
        found = []
        for grant in self.loaded.grants:
            for problem in self.config.targets[grant.target].request_problems(grant.user, grant.reason):
                found.append(GrantError(problem, path=grant.path, line=grant.line))
        return found

    def render(self, now: datetime) -> bytes:
        return render(self.base, self.config.targets, self.statuses(now), path=self.base_path)


def open_workspace(config_path: Path, merge_times: FindMergeTimes | None = None) -> Workspace:
    """Read the repository. The base policy is parsed (and its errors reported) when it is rendered, so
    commands that only look at grants (status, prune, audit) work even while it is broken."""
    config = load_config(config_path)
    base_path = config.relative(config.policy_path)
    try:
        base = config.policy_path.read_bytes()
    except FileNotFoundError:
        raise PolicyError(f"the base policy file does not exist (repository root {config.root})", path=base_path,
                          hint=f"set 'policy' in {config.relative(config.path)}, or create the file") from None
    except OSError as e:
        raise PolicyError(f"cannot read: {e.strerror}", path=base_path) from None
    loaded = load_grants(config)
    if merge_times is None:
        return Workspace(config, base, loaded)
    found = merge_times(config.root, loaded.grants)
    return Workspace(config, base, loaded, found, found.problems)
