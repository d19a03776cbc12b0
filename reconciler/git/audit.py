"""Access history from git: one record per grant file ever merged to the branch.

The branch's first-parent history is read once, oldest first, diffing only
the commits where the grants folder changed (renames found, so a moved
file stays one record). For each grant file that appears:

* requested by: the author of the commit that added the file (for a merge
  commit, the commit on the merged branch that added it);
* approved by: the author of the merge commit, which is who pressed merge
  (GitHub records itself as the committer of web merges). A squash or
  rebase merge or a direct push leaves one ordinary commit, and git alone
  cannot tell who approved it: ``None``, shown as "unknown";
* active from/to: from its ``start`` or merge time, to its end as last
  edited;
* removed: when and by which commit the file was deleted, and whether that
  was before its end (revoked early) or after (pruned), and who deleted it (the author of
  the deleting commit; for a merge, of the commit on the merged branch that deleted it);
* the pull request: its number, when the merge commit's message names it
  (GitHub's "Merge pull request #12 from …", or "Title (#12)" of a squash merge).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import pygit2

from reconciler.core.config import Config
from reconciler.core.durations import format_time
from reconciler.core.grants import Grant
from reconciler.errors import GitError, GrantError
from reconciler.git.history import (
    FIRST_BATCH,
    LAST_BATCH,
    commit_time,
    entry_at,
    join,
    open_repository,
    repo_prefix,
    shallow_boundary,
    subtree_id,
)
from reconciler.git.walk import Change, Status, TreeReader, unverified_reads
from reconciler.repo import yamlfile
from reconciler.repo.grants import IGNORED_NAMES, parse_grant

#: How far back along a merged branch the commit that added a file is looked for.
MAX_BRANCH_WALK = 1000
#: The fields of a record in JSON and CSV, in order.
FIELDS = ("user", "target", "reason", "ticket", "requested_by", "approved_by", "merged_at", "merge_commit",
          "active_from", "active_to", "edits", "removed_at", "removed_by_commit", "revoked_early", "file", "problem",
          "removed_by", "pull_request", "break_glass", "review", "review_issue")
#: A pull request's number in the first line of a merge commit's message, as GitHub writes it.
_PULL_REQUEST = re.compile(r"^Merge pull request #(\d{1,9})\b|\(#(\d{1,9})\)\s*$")


@dataclass(frozen=True)
class Record:
    """One grant file's life on the branch. Times are UTC; ``None`` where git does not say."""

    path: str
    target: str
    user: str | None
    reason: str | None
    ticket: str | None
    requested_by: str | None
    approved_by: str | None
    merged_at: datetime | None
    merge_commit: str | None
    active_from: datetime | None
    active_to: datetime | None
    edits: int = 0
    removed_at: datetime | None = None
    removed_by_commit: str | None = None
    problem: str | None = None
    removed_by: str | None = None
    pull_request: int | None = None
    #: granted with break glass (no approval); its review issue is ``review_issue``, and ``review`` says
    #: "reviewed" (closed), "not reviewed" (open) or "no review issue"; None when not known
    break_glass: bool = False
    review: str | None = None
    review_issue: int | None = None

    @property
    def revoked_early(self) -> bool | None:
        """True when the file was deleted before its end; None while it is still there or its end is unknown."""
        if self.removed_at is None or self.active_to is None:
            return None
        return self.removed_at < self.active_to

    @property
    def data(self) -> dict[str, Any]:
        """The record for JSON and CSV: times as RFC 3339 strings."""
        def t(value: datetime | None) -> str | None:
            return format_time(value) if value else None

        return {
            "user": self.user, "target": self.target, "reason": self.reason, "ticket": self.ticket,
            "requested_by": self.requested_by, "approved_by": self.approved_by,
            "merged_at": t(self.merged_at), "merge_commit": self.merge_commit,
            "active_from": t(self.active_from), "active_to": t(self.active_to), "edits": self.edits,
            "removed_at": t(self.removed_at), "removed_by_commit": self.removed_by_commit,
            "revoked_early": self.revoked_early, "file": self.path, "problem": self.problem,
            "removed_by": self.removed_by, "pull_request": self.pull_request,
            "break_glass": self.break_glass, "review": self.review, "review_issue": self.review_issue,
        }


def history(config: Config, since: datetime | None = None) -> list[Record]:
    """Every grant file merged to the checked-out branch, oldest merge first.

    With ``since``, only the history that can matter to `since` (``since(history(c), t)``) is read: the
    commits dated at or after it, and before those only the lineages of the files present then. Other
    records may be left out; the ones that can pass the filter are complete.
    """
    repo = open_repository(config.root)
    prefix = repo_prefix(repo, config.root) if repo is not None else None
    if repo is None or prefix is None:
        raise GitError(f"{config.root} is not in a git working copy", hint="run audit in a clone of the repository")
    if repo.head_is_unborn:
        return []
    grants_rel = config.relative(config.grants_dir)
    return _Reader(repo, config, join(prefix, grants_rel), grants_rel).read(repo.head.peel(pygit2.Commit).id, since)


def since(records: Sequence[Record], start: datetime) -> list[Record]:
    """The records with anything at or after ``start``: merged, active (until its end or its removal, whichever
    came first), removed, or still present."""
    def last(r: Record) -> datetime | None:
        if r.removed_at is None:
            return None
        active = min(r.active_to, r.removed_at) if r.active_to is not None else None
        return max(t for t in (r.merged_at, active, r.removed_at) if t is not None)

    return [r for r in records if (end := last(r)) is None or end >= start]


class _Reader:
    def __init__(self, repo: pygit2.Repository, config: Config, folder: str, grants_rel: str) -> None:
        self.repo = repo
        self.config = config
        self.folder = folder           # grants folder relative to the repository's top
        self.grants_rel = grants_rel   # … relative to the config root, as grant paths are written
        self.mainline: set[pygit2.Oid] = set()
        self.boundary: frozenset[pygit2.Oid] = frozenset()

    def read(self, tip: pygit2.Oid, since: datetime | None = None) -> list[Record]:
        chain = self._mainline(tip)
        # The commits whose changes are read in full: from the tip back to the oldest one dated at or after
        # ``since`` (all of them without it). Before those, only the files present then are followed.
        full = len(chain)
        if since is not None:
            full = max((i + 1 for i, c in enumerate(chain) if commit_time(c) >= since), default=0)
        reader = TreeReader(self.repo)
        steps: list[tuple[pygit2.Commit, list[Change]]] = []
        start: tuple[pygit2.Commit, list[Change]] | None = None  # a shallow clone's first commit: its files
        tracking: set[str] | None = None
        with unverified_reads():
            folders: list[pygit2.Oid | None] = []

            def folder(i: int) -> pygit2.Oid | None:
                """The grants folder at commit ``i`` of the chain; before the root commit, none. Read going
                back, and only as far as asked: a partial clone may lack older trees."""
                while len(folders) <= i:
                    at = len(folders)
                    folders.append(subtree_id(chain[at].tree, self.folder) if at < len(chain) else None)
                return folders[i]

            def changed(i: int) -> bool:
                """Whether commit ``i`` changed the folder (a shallow clone's first commit: unknown, not)."""
                if i + 1 == len(chain) and chain[i].id in self.boundary:
                    return False
                return folder(i + 1) != folder(i)

            # The changes of the commits read in full are read together (`TreeReader.changes_many`); before
            # them, in batches, only as long as some file present then is still followed.
            recent = [i for i in range(full) if changed(i)]
            for i, changes in zip(recent, reader.changes_many([(folder(i + 1), folder(i)) for i in recent]),
                                  strict=True):
                steps.append((chain[i], changes))
            if full < len(chain):
                tracking = {c.path for c in reader.compare(None, folder(full))} if folder(full) else set()
            i, batch = full, FIRST_BATCH
            while i < len(chain) and tracking:
                try:
                    now: list[int] = []
                    end = i
                    while end < len(chain) and len(now) < batch:
                        if changed(end):
                            now.append(end)
                        end += 1
                    found = reader.changes_many([(folder(k + 1), folder(k)) for k in now])
                except (KeyError, pygit2.GitError, GitError):
                    if batch == 1:
                        raise
                    batch = 1  # reading ahead reached a tree this (partial) clone lacks: one at a time from here
                    continue
                i, batch = end, min(2 * batch, LAST_BATCH) if batch > 1 else 1
                for k, changes in zip(now, found, strict=True):
                    if not tracking:
                        break
                    steps.append((chain[k], _follow(changes, tracking)))
            last = chain[-1]
            if last.id in self.boundary and (tracking is None or tracking) and folder(len(chain) - 1) is not None:
                start = (last, reader.compare(None, folder(len(chain) - 1)))
        live: dict[str, Record] = {}
        done: list[Record] = []
        if start is not None:
            live = {c.path: self._unknown_origin(c.path, start[0]) for c in start[1]
                    if self._is_grant(c.path) and (tracking is None or c.path in tracking)}
        for commit, changes in reversed(steps):
            self._apply(commit, changes, live, done)
        done.extend(live.values())
        return sorted(done, key=lambda r: (r.merged_at.timestamp() if r.merged_at else float("-inf"), r.path))

    def _mainline(self, tip: pygit2.Oid) -> list[pygit2.Commit]:
        """The first-parent history from ``tip``, newest first, ending at the root or a shallow clone's cut."""
        self.boundary = shallow_boundary(self.repo)
        commit = self.repo[tip].peel(pygit2.Commit)
        chain = [commit]
        while commit.id not in self.boundary and commit.parent_ids:
            commit = self.repo[commit.parent_ids[0]].peel(pygit2.Commit)
            chain.append(commit)
        self.mainline = {c.id for c in chain}
        return chain

    def _apply(self, commit: pygit2.Commit, changes: Sequence[Change], live: dict[str, Record],
               done: list[Record]) -> None:
        when = commit_time(commit)
        moved = {c.old_path: live.pop(c.old_path) for c in changes
                 if c.status is Status.RENAMED and c.old_path in live}
        for change in changes:
            name, old_name, blob = change.path, change.old_path, change.new_id
            if change.status is Status.DELETED and old_name in live:
                record = live.pop(old_name)
                deleter = self._branch_commit(commit.parents[1], old_name, present=False) \
                    if len(commit.parent_ids) > 1 else commit
                done.append(replace(record, removed_at=when, removed_by_commit=str(commit.id),
                                    removed_by=_person(deleter.author)))
            elif blob is None:
                continue
            elif change.status is Status.RENAMED and old_name in moved:
                record = replace(moved[old_name], path=self._rel(name))
                live[name] = record if change.old_id == blob else self._edited(record, blob)
            elif change.status is Status.MODIFIED and name in live:
                live[name] = self._edited(live[name], blob)
            elif change.status in (Status.ADDED, Status.RENAMED) and self._is_grant(name):
                live[name] = self._added(name, commit, blob)

    def _is_grant(self, name: str) -> bool:
        parts = name.split("/")
        return len(parts) == 2 and parts[1] not in IGNORED_NAMES

    def _added(self, name: str, commit: pygit2.Commit, blob: pygit2.Oid) -> Record:
        merge = len(commit.parents) > 1
        requester = self._branch_commit(commit.parents[1], name, present=True) if merge else commit
        merged_at = commit_time(commit)
        record = Record(path=self._rel(name), target=name.split("/")[0], user=None, reason=None, ticket=None,
                        requested_by=_person(requester.author), approved_by=_person(commit.author) if merge else None,
                        merged_at=merged_at, merge_commit=str(commit.id), active_from=None, active_to=None,
                        pull_request=pull_request_number(commit.message))
        return self._with_content(record, blob)

    def _edited(self, record: Record, blob: pygit2.Oid) -> Record:
        return self._with_content(replace(record, edits=record.edits + 1), blob)

    def _unknown_origin(self, name: str, commit: pygit2.Commit) -> Record:
        record = Record(path=self._rel(name), target=name.split("/")[0], user=None, reason=None, ticket=None,
                        requested_by=None, approved_by=None, merged_at=None, merge_commit=None,
                        active_from=None, active_to=None)
        blob = commit.tree[join(self.folder, name)].id
        return replace(self._with_content(record, blob),
                       problem="merged before the start of this shallow clone's history")

    def _with_content(self, record: Record, blob: pygit2.Oid) -> Record:
        """``record`` with the user, reason and window of the file's content ``blob``."""
        try:
            grant = parse_grant(yamlfile.load(self.repo[blob].peel(pygit2.Blob).data), record.path, record.target)
        except (GrantError, yamlfile.YAMLFileError) as e:
            return replace(record, problem=e.message)
        start, end = _window(grant, record.merged_at)
        return replace(record, user=grant.user, reason=grant.reason, ticket=grant.ticket, active_from=start,
                       active_to=end, problem=None, break_glass=grant.break_glass)

    def _branch_commit(self, branch_tip: pygit2.Commit, name: str, *, present: bool) -> pygit2.Commit:
        """The oldest commit on the merged branch (first parents, not yet on the mainline) having the file
        (``present``: the one that added it) or not having it (the one that deleted it)."""
        path = join(self.folder, name)
        found = branch_tip
        commit: pygit2.Commit | None = branch_tip
        for _ in range(MAX_BRANCH_WALK):
            if commit is None or commit.id in self.mainline or (entry_at(commit.tree, path) is None) == present:
                break
            found = commit
            commit = commit.parents[0] if commit.parents else None
        return found

    def _rel(self, name: str) -> str:
        return f"{self.grants_rel}/{name}"


def _follow(changes: Sequence[Change], tracking: set[str]) -> list[Change]:
    """The changes to the files in ``tracking`` (names after the commit), which becomes their names before it."""
    kept = [c for c in changes if c.status is not Status.DELETED and c.path in tracking]
    tracking.difference_update(c.path for c in kept)  # all removed first: a commit may move a to b and add a new a
    tracking.update(c.old_path for c in kept if c.status is not Status.ADDED)
    return kept


def _window(grant: Grant, merged_at: datetime | None) -> tuple[datetime | None, datetime | None]:
    start = grant.start or merged_at
    if grant.duration is not None:
        return start, start + grant.duration if start is not None else None
    return start, grant.expires


def pull_request_number(message: str) -> int | None:
    """The pull request a merge commit's message names in its first line, or None."""
    match = _PULL_REQUEST.search(message.split("\n", 1)[0].strip())
    if match is None:
        return None
    return int(match.group(1) or match.group(2))


def _person(signature: pygit2.Signature) -> str:
    return f"{signature.name} <{signature.email}>"

