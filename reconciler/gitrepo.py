"""Git as the approval record and the audit log (pygit2; no shelling out).

The start of a ``duration`` grant is the commit time of the first commit on
the checked-out branch's first-parent history that contains the file: a
merge commit, a squash or a rebase merge alike. One walk of the history
answers for every grant file at once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pygit2

from .grants import Grant


def open_repository(root: Path) -> pygit2.Repository | None:
    found = pygit2.discover_repository(str(root))
    return pygit2.Repository(found) if found else None


def commit_time(commit: pygit2.Commit) -> datetime:
    return datetime.fromtimestamp(commit.commit_time, timezone(timedelta(minutes=commit.commit_time_offset)))


def merge_times(root: Path, grants: Sequence[Grant]) -> Mapping[str, datetime]:
    """``{grant path: time it reached this branch}`` for files with known history.

    A shallow clone or a directory outside git answers nothing: the start of a
    duration grant is then unknown and it grants nothing, rather than guess.
    """
    repo = open_repository(root)
    if repo is None or repo.is_shallow or repo.head_is_unborn:
        return {}
    workdir = Path(repo.workdir).resolve() if repo.workdir else None
    if workdir is None:
        return {}
    prefix = root.resolve().relative_to(workdir).as_posix()
    wanted = {(f"{prefix}/{g.path}" if prefix not in ("", ".") else g.path): g.path for g in grants}
    found: dict[str, datetime] = {}
    commit: pygit2.Commit | None = repo.head.peel(pygit2.Commit)
    pending = dict(wanted)
    while commit is not None and pending:
        parent = commit.parents[0] if commit.parents else None
        for repo_path in list(pending):
            if not _tree_has(commit.tree, repo_path):
                del pending[repo_path]
                continue
            if parent is None or not _tree_has(parent.tree, repo_path):
                found[pending.pop(repo_path)] = commit_time(commit).astimezone(UTC)
        commit = parent
    return found


def _tree_has(tree: pygit2.Tree, path: str) -> bool:
    try:
        tree[path]
    except KeyError:
        return False
    return True
