"""Which grant files have reached the default branch, and why a file has no merge time.

The merge times of `reconciler.git.history` follow the checked-out branch. On a
request branch that branch holds the request's own commit, which is not a
merge: until the file is on the default branch (``origin/HEAD``, else a local
``main`` or ``master``), a ``duration`` grant has not started. A file with no
merge time gets the reason a person can act on: not committed yet, not merged
yet, or older than a shallow clone's history.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pygit2

from reconciler.core.grants import Grant
from reconciler.errors import UsageError
from reconciler.git.history import MergeTimes, blob_at, join, open_repository, repo_prefix

NOT_IN_GIT = "start unknown: a duration grant starts when it is merged, and {root} is not in a git repository"
NOT_COMMITTED = ("not committed yet: a duration grant starts when it is merged to the default branch; "
                 "granting nothing until then")
NOT_MERGED = ("not merged yet (it is on {branch}, not on {default}): a duration grant starts when its pull "
              "request is merged; granting nothing until then")
SHALLOW = ("start unknown: this clone is shallow and its history does not reach the commit that merged the file; "
           "granting nothing (fetch the whole history: fetch-depth: 0 in actions/checkout, or git fetch --unshallow)")


def changed_since(root: Path, ref: str, paths: Sequence[str]) -> set[str]:
    """The grant files among ``paths`` (relative to ``root``) that are new or different in the working tree
    compared with ``ref``'s tree: what a pull request based on ``ref`` adds or changes."""
    repo = open_repository(root)
    if repo is None:
        raise UsageError(f"--changed-since needs a git repository, and {root} is not in one")
    try:
        tree = repo.revparse_single(ref).peel(pygit2.Commit).tree
    except (KeyError, ValueError, pygit2.GitError):
        raise UsageError(f"--changed-since: {ref!r} names no commit in this repository",
                         hint="pass the pull request's base, e.g. origin/main (fetch it first)") from None
    prefix = repo_prefix(repo, root) or ""
    changed = set()
    for path in paths:
        before = blob_at(tree, join(prefix, path))
        try:
            data = (root / path).read_bytes()
        except OSError:
            continue
        if before is None or before.id != pygit2.hash(data):
            changed.add(path)
    return changed


def default_branch(repo: pygit2.Repository) -> tuple[str, pygit2.Oid] | None:
    """``(name, tip)`` of the default branch: ``origin/HEAD``'s branch, else ``origin/main``, ``origin/master``,
    ``main`` or ``master``; None when there is none."""
    head = repo.references.get("refs/remotes/origin/HEAD")
    candidates = []
    if head is not None and isinstance(head.target, str):
        candidates.append(head.target)
    candidates += ["refs/remotes/origin/main", "refs/remotes/origin/master", "refs/heads/main", "refs/heads/master"]
    for name in candidates:
        ref = repo.references.get(name)
        if ref is not None:
            short = name.removeprefix("refs/remotes/").removeprefix("refs/heads/")
            return short, ref.peel(pygit2.Commit).id
    return None


def review(root: Path, grants: Sequence[Grant], found: MergeTimes) -> MergeTimes:
    """``found`` (merge times along the checked-out branch) without the files that are not on the default
    branch yet, and in ``unknown`` why a grant has no start: every grant committed on a branch but not
    merged (it is not approved yet, whatever its dates say), and every ``duration`` grant without a
    ``start`` whose merge time is unknown (not committed, shallow clone)."""
    repo = open_repository(root)
    paths = [g.path for g in grants if g.duration is not None and g.start is None]
    missing = [p for p in paths if p not in found and p not in found.problems]
    if repo is None:
        return MergeTimes(found, found.problems, found.stats, {p: NOT_IN_GIT.format(root=root) for p in missing})
    prefix = repo_prefix(repo, root) or ""
    head_tree = None if repo.head_is_unborn else repo.head.peel(pygit2.Tree)
    times = dict(found)
    unknown: dict[str, str] = {}
    default = None if repo.head_is_unborn else default_branch(repo)
    head_id = None if repo.head_is_unborn else repo.head.peel(pygit2.Commit).id
    if default is not None and default[1] != head_id:
        default_tree = repo[default[1]].peel(pygit2.Tree)
        branch = repo.head.shorthand if not repo.head_is_detached else "a detached HEAD"
        for grant in grants:
            if blob_at(default_tree, join(prefix, grant.path)) is None and head_tree is not None \
                    and blob_at(head_tree, join(prefix, grant.path)) is not None:
                times.pop(grant.path, None)
                unknown[grant.path] = NOT_MERGED.format(branch=branch, default=default[0])
    for path in missing:
        if path in unknown:
            continue
        if head_tree is None or blob_at(head_tree, join(prefix, path)) is None:
            unknown[path] = NOT_COMMITTED
        elif repo.is_shallow:
            unknown[path] = SHALLOW
    return MergeTimes(times, found.problems, found.stats, unknown)
