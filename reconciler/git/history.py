"""Git as the approval record: when each grant file was merged (pygit2; no shelling out).

The start of a ``duration`` grant is the commit time of the first commit on
the checked-out branch's first-parent history that contains the file: a
merge commit, a squash or a rebase merge alike. The committer time is used,
not the author time, because a rebase keeps the author's time but the
committer time is when the change reached the branch.

One walk answers for every grant file at once: it goes back along first
parents, compares the grants folder's tree id of each commit with its
parent's, and where that folder changed opens only the subfolders and
entries whose ids changed (`reconciler.git.walk`), finding renames where a
commit both adds and deletes, so that a file moved or renamed later keeps
its original merge time. An edit (say, a longer duration) does not restart
the clock either. The births of every file can be kept between runs
(`reconciler.git.cache`), so that a run walks only the commits made since.

It also holds the small working-copy helpers that request, prune and audit
share: the local identity, the staged-changes guard, path lookups in trees.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import NamedTuple

import pygit2

from reconciler.core.durations import format_duration, format_time
from reconciler.core.grants import Grant
from reconciler.errors import GitError
from reconciler.git import cache
from reconciler.git.cache import Born
from reconciler.git.walk import Change, Status, TreeReader, unverified_reads

#: How far a commit time may be ahead of this machine's clock before it is distrusted.
CLOCK_SKEW = timedelta(minutes=5)


def open_repository(root: Path) -> pygit2.Repository | None:
    """The repository ``root`` is in, or None outside git.

    A repository owned by another user (a volume mounted into a container, a clone made by root) is refused
    by libgit2 as git refuses it; that is a `GitError` saying how to trust it with ``safe.directory``.
    """
    found = pygit2.discover_repository(str(root))
    if not found:
        return None
    try:
        return pygit2.Repository(found)
    except pygit2.GitError as e:
        if "not owned by current user" not in str(e):
            raise
        top = Path(found).parent if Path(found).name == ".git" else Path(found)
        raise GitError(f"the git repository at {top} belongs to another user, so git (and tailjit) will not "
                       "trust it", hint=f"if you trust it, run: git config --global --add safe.directory {top} "
                       "(in a container, set it in the image or mount the repository with the user's own uid; "
                       "tailjit's Dockerfile trusts /repo)") from None


def commit_time(commit: pygit2.Commit) -> datetime:
    """When ``commit`` was committed (reached its branch), in UTC."""
    return datetime.fromtimestamp(commit.commit_time, UTC)


def repo_prefix(repo: pygit2.Repository, root: Path) -> str | None:
    """``root`` relative to the repository's working directory (``""`` at the top); None if outside."""
    if repo.workdir is None:
        return None
    try:
        rel = root.resolve().relative_to(Path(repo.workdir).resolve()).as_posix()
    except ValueError:
        return None
    return "" if rel == "." else rel


def join(prefix: str, path: str) -> str:
    return f"{prefix}/{path}" if prefix else path


def shallow_boundary(repo: pygit2.Repository) -> frozenset[pygit2.Oid]:
    """Commits whose parents a shallow clone lacks (git lists them in ``<gitdir>/shallow``).

    libgit2 shows these commits as having no parents, which would make every
    file in them look newly added: their history is unknown instead.
    """
    if not repo.is_shallow:
        return frozenset()
    try:
        text = Path(repo.path, "shallow").read_text()
    except OSError:
        return frozenset()
    return frozenset(pygit2.Oid(hex=line.strip()) for line in text.splitlines() if line.strip())


def subtree_id(tree: pygit2.Tree, path: str) -> pygit2.Oid | None:
    """The id of the folder ``path`` in ``tree`` (the whole tree for ``""``); None when absent."""
    if not path:
        return tree.id
    try:
        entry = tree[path]
    except KeyError:
        return None
    return entry.id if entry.type_str == "tree" else None


class Birth(NamedTuple):
    """The commit from which on a file has been on the branch (through edits and renames). A named tuple: a
    resumed walk makes one per file from the record, and a frozen dataclass costs three times as much."""

    path: str
    commit: pygit2.Oid
    time: datetime


#: Called now and then during a walk with the commits read so far and, when known, how many there are in all.
Progress = Callable[[int, int | None], None]
#: How many commits a walk reads between two calls of its progress callback.
PROGRESS_EVERY = 1000
#: How many commits a walk reads the changes of together, at first and at most: a walk that stops early (a
#: resumed one, one asked for a few files) reads little beyond where it stops; a long one reads the versions
#: of each folder in long runs (`TreeReader.changes_many`).
FIRST_BATCH, LAST_BATCH = 16, 4096


@dataclass(frozen=True)
class WalkStats:
    """How much history one walk read: commits visited, commits whose grants folder changed, tree objects
    read, births taken from an earlier walk's record, and whether the walk reached that record's commit."""

    commits: int
    diffs: int
    trees: int = 0
    cached: int = 0
    resumed: bool = False


@dataclass(frozen=True)
class Known:
    """What an earlier walk found at commit ``tip``: ``{path in the folder: (commit, time)}``, None where unknown."""

    tip: pygit2.Oid
    births: Mapping[str, Born | None]


@dataclass(frozen=True)
class Walk:
    """The births found (by path at the tip), every file below the folder at the tip (relative to it), and
    how much was read."""

    births: dict[str, Birth]
    present: frozenset[str]
    stats: WalkStats


class StaleKnowledge(Exception):
    """The walk reached a known commit whose record lacks a file present there: the record is not to be used."""


def first_parent_births(repo: pygit2.Repository, tip: pygit2.Oid, folder: str, paths: Iterable[str] | None = None,
                        *, progress: Progress | None = None) -> tuple[dict[str, Birth], WalkStats]:
    """`walk_births` without an earlier record: ``(births, stats)``."""
    walk = walk_births(repo, tip, folder, paths, progress=progress)
    return walk.births, walk.stats


def walk_births(repo: pygit2.Repository, tip: pygit2.Oid, folder: str, paths: Iterable[str] | None = None,
                *, known: Known | None = None, progress: Progress | None = None) -> Walk:
    """For each repository-relative ``path`` inside ``folder`` that exists at ``tip``: its `Birth`.

    ``paths`` None means every file below ``folder`` at ``tip``. Goes back
    along first parents from ``tip`` and stops as soon as every path is
    accounted for, or on reaching ``known.tip``, where the births found by an
    earlier walk answer for whatever is still being followed (raising
    `StaleKnowledge` if they do not cover it). A path whose history reaches a
    shallow clone's boundary has no birth (unknown), and neither does a path
    absent at ``tip``. ``progress`` is called every `PROGRESS_EVERY` commits
    and once at the end.
    """
    cut = f"{folder}/" if folder else ""
    reader = TreeReader(repo)
    commit = repo[tip].peel(pygit2.Commit)
    folder_id = subtree_id(commit.tree, folder)
    present = reader.paths(folder_id) if folder_id is not None else set()
    # tracking: the file's path (relative to folder) in the commit being looked at -> path at tip
    tracking: dict[str, str] = {}
    for path in (paths if paths is not None else (cut + p for p in present)):
        if path.startswith(cut) and path[len(cut):] in present:
            tracking[path[len(cut):]] = path
    births: dict[str, Birth] = {}
    boundary = shallow_boundary(repo)
    commits, diffs, cached, resumed = 1, 0, 0, False
    batch = FIRST_BATCH
    with unverified_reads():
        while tracking:
            # A batch of commits going back, each with its folder before and after; their changes are read
            # together (`TreeReader.changes_many`), then the tracked files are followed through them in order.
            start = (commit, folder_id, commits)
            try:
                steps, end, (commit, folder_id, commits) = _gather(repo, folder, start, batch, known, boundary,
                                                                   progress)
                changes = reader.changes_many([(old, new) for _, old, new, _ in steps])
            except (KeyError, pygit2.GitError, GitError):
                if batch == 1:
                    raise
                # Reading ahead reached an object this clone lacks (a partial clone): read one commit at a
                # time from here, as far as the files need and no further.
                commit, folder_id, commits = start
                batch = 1
                continue
            batch = min(2 * batch, LAST_BATCH) if batch > 1 else 1
            for (changed, _, _, walked), found in zip(steps, changes, strict=True):
                diffs += 1
                _step_back(found, changed, tracking, births)
                if not tracking:  # every file accounted for: what the batch read beyond is not counted
                    commits = walked
                    break
            if not tracking:
                break
            if end == "known" and known is not None:
                cached, resumed = _from_known(known, tracking, births), True
                break
            if end is not None:  # the oldest commit, or a shallow clone's boundary: the rest is unknown
                tracking.clear()
                break
    if progress is not None:
        progress(commits, commits)
    return Walk(births, frozenset(present), WalkStats(commits, diffs, reader.reads, cached, resumed))


#: One commit of a walk whose grants folder changed: the commit, the folder in its first parent and in it,
#: and how many commits the walk had read when it got there.
Step = tuple[pygit2.Commit, pygit2.Oid | None, pygit2.Oid | None, int]


def _gather(repo: pygit2.Repository, folder: str, start: tuple[pygit2.Commit, pygit2.Oid | None, int], batch: int,
            known: Known | None, boundary: frozenset[pygit2.Oid], progress: Progress | None,
            ) -> tuple[list[Step], str | None, tuple[pygit2.Commit, pygit2.Oid | None, int]]:
    """Up to ``batch`` commits back from ``start`` (a commit, its folder, commits read so far) that changed the
    folder; why the walk ends there, if it does ("known", "boundary", "root"); and where the next batch starts."""
    commit, folder_id, commits = start
    steps: list[Step] = []
    while len(steps) < batch:
        if known is not None and commit.id == known.tip:
            return steps, "known", (commit, folder_id, commits)
        if commit.id in boundary:
            return steps, "boundary", (commit, folder_id, commits)
        parents = commit.parent_ids
        if not parents:  # the oldest commit: whatever is still tracked was added by it
            steps.append((commit, None, folder_id, commits))
            return steps, "root", (commit, folder_id, commits)
        parent = repo[parents[0]].peel(pygit2.Commit)
        commits += 1
        parent_folder = subtree_id(parent.tree, folder)
        if parent_folder != folder_id:
            steps.append((commit, parent_folder, folder_id, commits))
        commit, folder_id = parent, parent_folder
        if progress is not None and commits % PROGRESS_EVERY == 0:
            progress(commits, None)
    return steps, None, (commit, folder_id, commits)


def _from_known(known: Known, tracking: dict[str, str], births: dict[str, Birth]) -> int:
    missing = next((name for name in tracking if name not in known.births), None)
    if missing is not None:
        raise StaleKnowledge(f"the record of {known.tip} lacks {missing}")
    found = 0
    for name, path in tracking.items():
        birth = known.births[name]
        if birth is not None:
            births[path] = Birth(path, *birth)
            found += 1
    tracking.clear()
    return found


def _step_back(changes: Sequence[Change], commit: pygit2.Commit, tracking: dict[str, str],
               births: dict[str, Birth]) -> None:
    """Follow the tracked files from ``commit`` back to its first parent.

    All of the commit's changes are read before any is applied: a commit may
    rename ``a`` to ``b`` and add a new ``a``. Only the changed paths are
    looked at, so the cost is the size of the commit, not of the folder.
    """
    added = [c.path for c in changes if c.status is Status.ADDED]
    renamed_from = [(c.path, c.old_path) for c in changes if c.status is Status.RENAMED]
    if not added and not renamed_from:
        return
    when = commit_time(commit)
    for name in added:
        original = tracking.pop(name, None)
        if original is not None:
            births[original] = Birth(original, commit.id, when)
    moves = [(old_name, tracking.pop(name)) for name, old_name in renamed_from if name in tracking]
    tracking.update(moves)


def _has_blob(tree: pygit2.Tree, path: str) -> bool:
    return blob_at(tree, path) is not None


def entry_at(tree: pygit2.Tree, path: str) -> pygit2.Object | None:
    """What is at ``path`` in ``tree`` (a file or a folder), or None."""
    try:
        return tree[path]
    except KeyError:
        return None


def blob_at(tree: pygit2.Tree, path: str) -> pygit2.Blob | None:
    """The file at ``path`` in ``tree``, or None when there is none (or a folder)."""
    found = entry_at(tree, path)
    return found.peel(pygit2.Blob) if found is not None and found.type_str == "blob" else None


def identity(repo: pygit2.Repository) -> pygit2.Signature:
    """The local git identity (``user.name`` and ``user.email``), as git would sign a commit now."""
    try:
        return repo.default_signature
    except (KeyError, pygit2.GitError):
        raise GitError("no git identity is configured",
                       hint='run: git config --global user.name "Your Name" && '
                            "git config --global user.email you@example.com") from None


def refuse_staged_changes(repo: pygit2.Repository, consequence: str) -> None:
    """Raise `GitError` when the index differs from HEAD (``consequence``: what would happen to it)."""
    index = repo.index
    index.read()
    if index.conflicts is not None:
        raise GitError("the index has unresolved merge conflicts", hint="resolve or abort the merge first")
    staged = index.diff_to_tree(repo.head.peel(pygit2.Tree))
    if len(staged) > 0:
        names = ", ".join(sorted(d.new_file.path for d in staged.deltas)[:5])
        raise GitError(f"the index has staged changes ({names}); {consequence}",
                       hint="commit them, or unstage them with git restore --staged PATH")


class MergeTimes(dict[str, datetime]):
    """``{grant path: when it was merged}``, plus what the walk found wrong.

    ``problems`` maps a grant path to why its merge time cannot be trusted (a
    commit dated in the future): such a grant grants nothing. ``stats`` says
    how much history was read. ``unknown`` maps a grant path without a merge
    time to why (`reconciler.git.merged` fills it).
    """

    def __init__(self, times: Mapping[str, datetime] | None = None, problems: Mapping[str, str] | None = None,
                 stats: WalkStats | None = None, unknown: Mapping[str, str] | None = None) -> None:
        super().__init__(times or {})
        self.problems: dict[str, str] = dict(problems or {})
        self.stats = stats or WalkStats(0, 0)
        self.unknown: dict[str, str] = dict(unknown or {})


def merge_times(root: Path, grants: Sequence[Grant], *, now: datetime | None = None, state: Path | None = None,
                progress: Progress | None = None) -> MergeTimes:
    """When each grant file reached the checked-out branch, for files with known history.

    With ``state`` (tailjit's state folder), the births of every file in the
    grants folder are kept there (`reconciler.git.cache`) and the next run
    walks only the commits made since.

    A directory outside git, an unborn branch, a file not yet committed, or a
    file older than a shallow clone's history answers nothing: the start of a
    duration grant is then unknown and it grants nothing, rather than guess.
    ``now`` is the real clock (a commit later than ``now`` + `CLOCK_SKEW` is
    a problem); it is not the ``--at`` of a command, which may be in the past.
    """
    repo = open_repository(root)
    if repo is None or repo.head_is_unborn or not grants:
        return MergeTimes()
    prefix = repo_prefix(repo, root)
    if prefix is None:
        return MergeTimes()
    wanted = {join(prefix, g.path): g.path for g in grants}
    folder = posixpath.commonpath({posixpath.dirname(d) for d in {p.rpartition("/")[0] for p in wanted}})
    tip = repo.head.peel(pygit2.Commit).id
    if state is None:
        births, stats = first_parent_births(repo, tip, folder, wanted, progress=progress)
    else:
        walk = recorded_births(repo, tip, folder, state / cache.NAME, progress)
        births, stats = {p: b for p, b in walk.births.items() if p in wanted}, walk.stats
    limit = (now or datetime.now(UTC)) + CLOCK_SKEW
    times: dict[str, datetime] = {}
    problems: dict[str, str] = {}
    for repo_path, birth in births.items():
        path = wanted[repo_path]
        if birth.time > limit:
            ahead = format_duration(birth.time - (limit - CLOCK_SKEW))
            problems[path] = (f"merged by commit {str(birth.commit)[:12]} dated {format_time(birth.time)}, "
                              f"{ahead} in the future; a commit time that has not happened yet cannot start "
                              f"a grant (wrong clock or forged date): granting nothing")
        else:
            times[path] = birth.time
    return MergeTimes(times, problems, stats)


def recorded_births(repo: pygit2.Repository, tip: pygit2.Oid, folder: str, record: Path,
                    progress: Progress | None = None) -> Walk:
    """`walk_births` of every file below ``folder``, resumed from the ``record`` file of an earlier walk where
    it applies, and the record then updated to ``tip``."""
    boundary = shallow_boundary(repo)
    try:
        found = cache.load(record)
    except cache.Unusable:
        found = None
    usable = found is not None and found.folder == folder and found.boundary == boundary
    walk = None
    if found is not None and usable:
        try:
            walk = walk_births(repo, tip, folder, known=Known(found.tip, found.births), progress=progress)
        except StaleKnowledge:
            usable = False
    if walk is None:
        walk = walk_births(repo, tip, folder, progress=progress)
    if not usable or found is None or found.tip != tip:
        cut = f"{folder}/" if folder else ""
        born: dict[str, Born | None] = {}
        for name in walk.present:
            birth = walk.births.get(cut + name)
            born[name] = (birth.commit, birth.time) if birth is not None else None
        cache.save(record, cache.Record(folder, tip, boundary, born))
    return walk
