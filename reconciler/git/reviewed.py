"""What git says about the checkout tailjit grants from: is it the reviewed state, did a folder ever exist.

Grants come only from the reviewed state: with the ``tailscale`` backend,
``apply`` grants only when HEAD is the configured branch (``branch``,
default ``main``) and the grants folder has no change git does not know
(`unreviewed_reason`); otherwise it is revoke-only and says why.
"""

from __future__ import annotations

from pathlib import Path

import pygit2
from pygit2.enums import FileStatus, SortMode

from reconciler.git.history import open_repository, repo_prefix, subtree_id

#: How many first-parent commits `folder_existed` looks back.
HISTORY_DEPTH = 200
_CLEAN = {FileStatus.CURRENT, FileStatus.IGNORED}


def folder_existed(root: Path, folder: Path, depth: int = HISTORY_DEPTH) -> bool:
    """Whether ``folder`` (absent now) was in one of the last ``depth`` first-parent commits of HEAD: a grants
    folder git dropped when its last file was deleted, rather than a typo in ``grants``."""
    repo = open_repository(root)
    if repo is None or repo.head_is_unborn or repo.workdir is None:
        return False
    try:
        rel = folder.resolve().relative_to(Path(repo.workdir).resolve()).as_posix()
    except ValueError:
        return False
    walker = repo.walk(repo.head.target, SortMode.TOPOLOGICAL)
    walker.simplify_first_parent()
    for seen, commit in enumerate(walker):
        if seen >= depth:
            break
        if subtree_id(commit.tree, rel) is not None:
            return True
    return False


def unreviewed_reason(root: Path, grants_dir: Path, branch: str) -> str | None:
    """Why the checkout at ``root`` is not the reviewed state to grant from; None when it is.

    It is when HEAD is ``branch`` and nothing under the grants folder differs from HEAD (no uncommitted,
    staged or untracked file). Outside git nothing was reviewed.
    """
    repo = open_repository(root)
    if repo is None:
        return f"{root} is not in a git repository, so nothing in it was reviewed"
    if repo.head_is_unborn:
        return "the repository has no commit yet, so nothing in it was reviewed"
    if repo.head_is_detached:
        return f"HEAD is detached, not on {branch!r}: grants come only from the reviewed branch"
    if repo.head.shorthand != branch:
        return (f"HEAD is {repo.head.shorthand!r}, not {branch!r}: grants come only from the reviewed branch "
                "(set 'branch' in tailjit.yaml if it has another name)")
    prefix = repo_prefix(repo, grants_dir)
    if prefix is None:
        return f"the grants folder {grants_dir} is outside the repository"
    changed = sorted(path for path, flags in _status(repo).items()
                     if (not prefix or path == prefix or path.startswith(prefix + "/")) and flags not in _CLEAN)
    if changed:
        shown = ", ".join(changed[:5]) + (f" and {len(changed) - 5} more" if len(changed) > 5 else "")
        return (f"the grants folder has changes not committed to {branch!r} ({shown}): grants come only from "
                "what was reviewed and merged")
    return None


def _status(repo: pygit2.Repository) -> dict[str, int]:
    return dict(repo.status(untracked_files="all"))
