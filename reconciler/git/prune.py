"""``tailjit prune``: remove expired grant files, optionally as one commit pushed to ``origin``.

Only grants that `grants.evaluate` calls expired are removed; active,
pending, invalid and unknown ones stay (the last two are reported). Nothing
outside the grants folder is ever touched. A commit is built from the
branch tip's tree in memory, so the index and other files do not matter.

When the push is refused and ``origin``'s branch has moved meanwhile (a
merge landed), the branch is fetched and the prune commit made again on the
new tip: each file is removed there only if it is still expired by that
tip's content and history (an extension merged meanwhile keeps it). This
repeats a bounded number of times.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import pygit2
from pygit2.enums import CheckoutStrategy

from reconciler.core.config import Config
from reconciler.core.durations import format_time
from reconciler.core.grants import GrantStatus, State, evaluate
from reconciler.errors import GitError, GrantError
from reconciler.git.history import (
    blob_at,
    first_parent_births,
    identity,
    join,
    open_repository,
    refuse_staged_changes,
    repo_prefix,
)
from reconciler.git.remote import fetch_branch, push_ref
from reconciler.repo import yamlfile
from reconciler.repo.grants import parse_grant

MAX_PUSH_ATTEMPTS = 5
#: The prune commit is pushed from this ref; the checked-out branch moves only once the push is done.
PUSH_REF = "refs/tailjit/prune"
#: Who signs a prune commit where no git identity is configured (a CI runner).
FALLBACK_NAME, FALLBACK_EMAIL = "tailjit", "tailjit@localhost"


@dataclass(frozen=True)
class Selection:
    """The grants a prune removes, and those it leaves because their state is in doubt."""

    expired: tuple[GrantStatus, ...]
    doubtful: tuple[GrantStatus, ...]


def select(config: Config, statuses: Sequence[GrantStatus]) -> Selection:
    """Expired grants inside the grants folder; invalid and unknown ones are never pruned."""
    folder = config.relative(config.grants_dir).rstrip("/") + "/"
    expired = tuple(s for s in statuses if s.state is State.EXPIRED and s.grant.path.startswith(folder))
    doubtful = tuple(s for s in statuses if s.state in (State.INVALID, State.UNKNOWN))
    return Selection(expired, doubtful)


def delete_files(config: Config, statuses: Sequence[GrantStatus]) -> list[str]:
    """Delete the files of ``statuses`` from the working directory; the paths deleted."""
    gone = []
    for status in statuses:
        path = config.root / status.grant.path
        if path.is_file() and not path.is_symlink():
            path.unlink()
            gone.append(status.grant.path)
    return gone


@dataclass(frozen=True)
class PruneCommit:
    """The outcome of ``prune --commit [--push]``."""

    commit: str | None        # None: nothing was left to remove on the final tip
    removed: tuple[str, ...]  # grant paths (relative to the config root) removed by that commit
    skipped: tuple[str, ...]  # expired here, but kept: changed locally, or changed/absent on the tip
    pushed: bool
    attempts: int


def commit_prune(config: Config, expired: Sequence[GrantStatus], now: datetime, *, push: bool,
                 max_attempts: int = MAX_PUSH_ATTEMPTS, remote: str = "origin") -> PruneCommit:
    """Commit the removal of ``expired`` on the current branch; with ``push``, push it (see module doc)."""
    repo = open_repository(config.root)
    prefix = repo_prefix(repo, config.root) if repo is not None else None
    if repo is None or prefix is None or repo.head_is_unborn:
        raise GitError(f"{config.root} is not in a git working copy with commits",
                       hint="run prune --commit in a clone of the access repository")
    branch = None if repo.head_is_detached else repo.head.shorthand
    if push and branch is None:
        raise GitError("HEAD is detached; prune --push needs a branch to push",
                       hint="check out the default branch (actions/checkout does for push and schedule events)")
    refuse_staged_changes(repo, "prune --commit would move the branch under them")
    wanted = {join(prefix, s.grant.path): s.grant.path for s in expired}
    locally_changed = {p for p in wanted if _changed_in_workdir(repo, p)}
    candidates = {p: rel for p, rel in wanted.items() if p not in locally_changed}
    base = repo.head.peel(pygit2.Commit).id
    commit, removed = _prune_commit(repo, config, base, candidates, now)
    attempts = 1
    while push and commit is not None:
        assert branch is not None
        repo.references.create(PUSH_REF, commit, force=True)
        try:
            push_ref(repo, PUSH_REF, branch, remote)
            break
        except GitError as refused:
            try:
                moved = fetch_branch(repo, branch, remote)
            except GitError:
                raise refused from None
            if moved is None or moved == base:
                raise
            if attempts >= max_attempts:
                raise GitError(f"{remote}'s {branch} kept moving: gave up after {attempts} attempts",
                               hint="run prune again; it is safe to repeat") from None
            attempts += 1
            base = moved
            commit, removed = _prune_commit(repo, config, base, candidates, now)
        finally:
            repo.references.delete(PUSH_REF)
    final = commit if commit is not None else base
    _move_branch(repo, final)
    skipped = tuple(sorted(wanted[p] for p in wanted if wanted[p] not in removed))
    return PruneCommit(str(commit) if commit is not None else None, tuple(sorted(removed)), skipped,
                       push and commit is not None, attempts)


def _prune_commit(repo: pygit2.Repository, config: Config, base: pygit2.Oid, candidates: dict[str, str],
                  now: datetime) -> tuple[pygit2.Oid | None, list[str]]:
    """A commit on ``base`` removing the candidates that are still expired there; None if none are."""
    statuses = still_expired(repo, config, base, candidates, now)
    if not statuses:
        return None, []
    tree = repo[base].peel(pygit2.Tree)
    index = pygit2.Index()
    index.read_tree(tree)
    for repo_path in statuses:
        index.remove(repo_path)
    signature = _signature(repo)
    commit = repo.create_commit(None, signature, signature, prune_message(list(statuses.values()), now),
                                index.write_tree(repo), [base])
    return commit, [s.grant.path for s in statuses.values()]


def still_expired(repo: pygit2.Repository, config: Config, tip: pygit2.Oid, candidates: dict[str, str],
                  now: datetime) -> dict[str, GrantStatus]:
    """``{repo path: status}`` of the candidates that, as committed at ``tip``, are expired at ``now``."""
    tree = repo[tip].peel(pygit2.Tree)
    present = {p: (rel, blob) for p, rel in candidates.items() if (blob := blob_at(tree, p)) is not None}
    if not present:
        return {}
    folder = "/".join(next(iter(present)).split("/")[:-2])
    births, _ = first_parent_births(repo, tip, folder, present)
    found: dict[str, GrantStatus] = {}
    for repo_path, (rel, blob) in present.items():
        target = rel.split("/")[-2]
        if target not in config.targets:
            continue
        try:
            grant = parse_grant(yamlfile.load(blob.data), rel, target)
        except (GrantError, yamlfile.YAMLFileError):
            continue
        birth = births.get(repo_path)
        status = evaluate(grant, config.targets[target], now, birth.time if birth else None)
        if status.state is State.EXPIRED:
            found[repo_path] = status
    return found


def prune_message(statuses: Sequence[GrantStatus], now: datetime) -> str:
    lines = [f"Prune {len(statuses)} expired grant file{'s' if len(statuses) != 1 else ''}", ""]
    for s in sorted(statuses, key=lambda s: s.grant.path):
        ended = f", expired {format_time(s.end)}" if s.end else ""
        lines.append(f"- {s.grant.path} ({s.grant.user}{ended})")
    lines += ["", f"Evaluated at {format_time(now)} by tailjit prune."]
    return "\n".join(lines) + "\n"


def _changed_in_workdir(repo: pygit2.Repository, repo_path: str) -> bool:
    """The file differs from HEAD's version (or is not committed): its local change is not ours to drop."""
    committed = blob_at(repo.head.peel(pygit2.Tree), repo_path)
    if committed is None or repo.workdir is None:
        return True
    try:
        return pygit2.hashfile(f"{repo.workdir}/{repo_path}") != committed.id
    except OSError:
        return False


def _signature(repo: pygit2.Repository) -> pygit2.Signature:
    try:
        return identity(repo)
    except GitError:
        return pygit2.Signature(FALLBACK_NAME, FALLBACK_EMAIL)


def _move_branch(repo: pygit2.Repository, commit: pygit2.Oid) -> None:
    """Move the checked-out branch (or detached HEAD) to ``commit`` and update the working copy safely."""
    if commit == repo.head.peel(pygit2.Commit).id:
        return
    try:
        repo.checkout_tree(repo[commit].peel(pygit2.Tree), strategy=CheckoutStrategy.SAFE)  # type: ignore[no-untyped-call]
    except pygit2.GitError as e:
        raise GitError(f"committed {str(commit)[:12]} but could not update the working copy: {e}",
                       hint="commit or stash local changes, then: git reset --keep " + str(commit)) from None
    if repo.head_is_detached:
        repo.set_head(commit)
    else:
        repo.head.set_target(commit, "tailjit prune")
