"""An access repository as loaded for one command: config, base policy, grant files.

This is the I/O edge for reading the repository; everything it returns is a
value the pure core (`render`, `plan`) takes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from .config import Config, load_config
from .errors import GrantError, PolicyError
from .grants import Grant, GrantStatus, LoadedGrants, State, evaluate_all, load_grants
from .render import render

#: Finds when each grant file reached the main branch: ``(root, grants) -> {path: time}``. The mapping
#: may also carry ``problems``: ``{path: why its merge time cannot be trusted}`` (see `gitrepo.MergeTimes`).
MergeTimes = Callable[[Path, Sequence[Grant]], Mapping[str, datetime]]


@dataclass(frozen=True)
class Workspace:
    config: Config
    base: bytes
    loaded: LoadedGrants
    merged_at: Mapping[str, datetime] = field(default_factory=dict)
    start_problems: Mapping[str, str] = field(default_factory=dict)

    @property
    def base_path(self) -> str:
        return self.config.relative(self.config.policy_path)

    @property
    def errors(self) -> tuple[GrantError, ...]:
        return self.loaded.errors

    def statuses(self, now: datetime) -> tuple[GrantStatus, ...]:
        return evaluate_all(self.loaded.grants, self.config.targets, now, self.merged_at, self.start_problems)

    def problems(self, now: datetime) -> list[GrantError]:
        """Invalid files plus valid files that grant nothing because of a limit or an unknown start."""
        found = list(self.loaded.errors)
        for status in self.statuses(now):
            if status.state in (State.INVALID, State.UNKNOWN) and status.problem:
                found.append(GrantError(status.problem, path=status.grant.path, line=status.grant.line))
        return found

    def render(self, now: datetime) -> bytes:
        return render(self.base, self.config.targets, self.statuses(now), path=self.base_path)


def open_workspace(config_path: Path, merge_times: MergeTimes | None = None) -> Workspace:
    """Read the repository. The base policy is parsed (and its errors reported) when it is rendered, so
    commands that only look at grants (status, prune, audit) work even while it is broken."""
    config = load_config(config_path)
    base_path = config.relative(config.policy_path)
    try:
        base = config.policy_path.read_bytes()
    except FileNotFoundError:
        raise PolicyError("the base policy file does not exist", path=base_path,
                          hint="set 'policy' in tailjit.yaml, or create the file") from None
    except OSError as e:
        raise PolicyError(f"cannot read: {e.strerror}", path=base_path) from None
    loaded = load_grants(config)
    merged_at = merge_times(config.root, loaded.grants) if merge_times is not None else {}
    start_problems: Mapping[str, str] = getattr(merged_at, "problems", {})
    return Workspace(config, base, loaded, merged_at, start_problems)
