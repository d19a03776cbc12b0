"""Real git repositories for tests and benchmarks, built in memory with pygit2 at chosen times.

Trees are written with TreeBuilder straight into the object database (the
working directory is never touched while building), and branch tips are kept
in memory and written as refs once per `commit` call, so a history of 10,000
commits builds in seconds. Identities and times are fixed, so every commit id
is reproducible.

    b = RepoBuilder.init(tmp_path / "repo")
    b.commit({"policy/grants/prod/a.yaml": GRANT}, at(9), author=ALICE)
    side = b.commit({"policy/grants/prod/b.yaml": GRANT}, at(10), author=BOB, branch="access/b")
    b.merge("access/b", at(11), author=CAROL)
    b.checkout()   # only for a repository with a working directory
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pygit2
from pygit2.enums import CheckoutStrategy, ConfigLevel, FileMode

#: A change to one path: the new content, or None to delete the file.
Change = bytes | str | None
_Trie = dict[str, "_Trie | pygit2.Oid | None"]

T0 = datetime(2025, 11, 1, tzinfo=UTC)  # safely in the past of any real clock running the tests


def at(hours: float, base: datetime = T0) -> datetime:
    """``T0 + hours``: readable commit times in tests."""
    return base + timedelta(hours=hours)


@dataclass(frozen=True)
class Person:
    name: str
    email: str

    def sign(self, when: datetime) -> pygit2.Signature:
        offset = when.utcoffset()
        minutes = int(offset.total_seconds() // 60) if offset is not None else 0
        return pygit2.Signature(self.name, self.email, int(when.timestamp()), minutes)


ALICE = Person("Alice Example", "alice@example.com")
BOB = Person("Bob Example", "bob@example.com")
CAROL = Person("Carol Approver", "carol@example.com")
#: What GitHub records as the committer of merges made in its web interface.
GITHUB = Person("GitHub", "noreply@github.com")
BOT = Person("tailjit", "tailjit@localhost")


class RepoBuilder:
    """Builds commits on named branches of a real repository, without a working directory."""

    def __init__(self, repo: pygit2.Repository) -> None:
        self.repo = repo
        self.tips: dict[str, pygit2.Oid] = {}

    @classmethod
    def init(cls, path: Path, *, bare: bool = False, branch: str = "main") -> RepoBuilder:
        return cls(pygit2.init_repository(str(path), bare=bare, initial_head=branch))

    def tip(self, branch: str = "main") -> pygit2.Oid:
        if branch not in self.tips:
            self.tips[branch] = self.repo.references[f"refs/heads/{branch}"].peel(pygit2.Commit).id
        return self.tips[branch]

    def tree_of(self, branch: str = "main") -> pygit2.Tree:
        return self.repo[self.tip(branch)].peel(pygit2.Tree)

    def commit(self, changes: Mapping[str, Change], when: datetime, *, author: Person = ALICE,
               committer: Person | None = None, branch: str = "main", parents: list[pygit2.Oid] | None = None,
               message: str | None = None, authored: datetime | None = None,
               write_ref: bool = True) -> pygit2.Oid:
        """Commit ``changes`` on top of ``parents`` (default: the branch tip) and move the branch.

        ``when`` is the committer time; ``authored`` the author time if different
        (a rebase keeps the author time). A new branch starts from ``parents``
        or, when none are given, from the tip of main (or as a root commit).
        """
        if parents is None:
            start = branch if self._has(branch) else "main"
            parents = [self.tip(start)] if self._has(start) else []
        base = self.repo[parents[0]].peel(pygit2.Tree).id if parents else None
        tree = self.write_tree(base, changes)
        oid = self.repo.create_commit(None, author.sign(authored or when), (committer or author).sign(when),
                                      message or _describe(changes), tree, parents)
        self.tips[branch] = oid
        if write_ref:
            self.repo.references.create(f"refs/heads/{branch}", oid, force=True)
        return oid

    def merge(self, branch: str, when: datetime, *, author: Person = CAROL, committer: Person | None = None,
              into: str = "main", message: str | None = None) -> pygit2.Oid:
        """A true merge commit of ``branch`` into ``into`` (first parent: ``into``), as a PR merge makes."""
        ours, theirs = self.tip(into), self.tip(branch)
        index = self.repo.merge_commits(ours, theirs)
        if index.conflicts is not None:
            raise AssertionError(f"merging {branch} into {into} conflicts")
        tree = index.write_tree(self.repo)
        oid = self.repo.create_commit(None, author.sign(when), (committer or author).sign(when),
                                      message or f"Merge branch '{branch}'", tree, [ours, theirs])
        self.tips[into] = oid
        self.repo.references.create(f"refs/heads/{into}", oid, force=True)
        return oid

    def write_refs(self) -> None:
        """Write every branch tip (after commits made with ``write_ref=False``)."""
        for branch, oid in self.tips.items():
            self.repo.references.create(f"refs/heads/{branch}", oid, force=True)

    def checkout(self, branch: str = "main") -> None:
        """Point HEAD at ``branch`` and make the working directory and index match it."""
        self.write_refs()
        self.repo.checkout(f"refs/heads/{branch}", strategy=CheckoutStrategy.FORCE)

    def pack(self) -> int:
        """Move every object into one pack and drop the loose copies, as a clone or ``git gc`` leaves a repository.

        Reading a long history from loose objects (a file each) is much slower
        than from a pack; benchmarks pack before they measure.
        """
        self.write_refs()
        count = self.repo.pack()
        objects = Path(self.repo.path) / "objects"
        for folder in objects.iterdir():
            if len(folder.name) == 2 and folder.is_dir():
                shutil.rmtree(folder)
        self.repo = pygit2.Repository(self.repo.path)
        return count

    def write_tree(self, base: pygit2.Oid | None, changes: Mapping[str, Change]) -> pygit2.Oid:
        """``base`` with ``changes`` applied; each touched directory is rewritten once."""
        trie: _Trie = {}
        for path, content in changes.items():
            *dirs, name = path.split("/")
            node = trie
            for part in dirs:
                child = node.setdefault(part, {})
                assert isinstance(child, dict), f"{path}: a file and a folder of the same name"
                node = child
            node[name] = None if content is None else self.repo.create_blob(
                content.encode() if isinstance(content, str) else content)
        # Every entry was just written or comes from ``base``: skip libgit2's per-entry existence
        # check on tree writes, which otherwise doubles the cost of a large folder.
        pygit2.settings.enable_strict_object_creation(False)
        try:
            written = self._apply(base, trie)
            return written if written is not None else self.repo.TreeBuilder().write()
        finally:
            pygit2.settings.enable_strict_object_creation(True)

    def _apply(self, tree_id: pygit2.Oid | None, trie: _Trie) -> pygit2.Oid | None:
        builder = self.repo.TreeBuilder(self.repo[tree_id].peel(pygit2.Tree)) if tree_id else self.repo.TreeBuilder()
        for name, change in trie.items():
            existing = builder.get(name)
            if isinstance(change, dict):
                sub = existing.id if existing is not None and existing.filemode == FileMode.TREE else None
                new = self._apply(sub, change)
                if new is None:
                    if existing is not None:
                        builder.remove(name)
                else:
                    builder.insert(name, new, FileMode.TREE)
            elif change is None:
                if existing is not None:
                    builder.remove(name)
            else:
                builder.insert(name, change, FileMode.BLOB)
        return builder.write() if len(builder) else None

    def _has(self, branch: str) -> bool:
        return branch in self.tips or f"refs/heads/{branch}" in self.repo.references


def _describe(changes: Mapping[str, Change]) -> str:
    names = sorted(changes)
    return f"Change {names[0]}" + (f" and {len(names) - 1} more" if len(names) > 1 else "")


def grant_yaml(user: str, target: str, *, duration: str | None = "4h", expires: str | None = None,
               reason: str = "Investigate an incident", ticket: str | None = None) -> str:
    """The text of a grant file, as a requester writes it."""
    lines = [f"user: {user}", f"target: {target}", f"reason: {reason}"]
    if ticket is not None:
        lines.append(f"ticket: {ticket}")
    if expires is not None:
        lines.append(f"expires: {expires}")
    elif duration is not None:
        lines.append(f"duration: {duration}")
    return "\n".join(lines) + "\n"


def files_under(root: Path) -> dict[str, Change]:
    """Every file below ``root`` (outside ``.git``) as ``{relative path: content}``, to commit as they are."""
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and ".git" not in p.relative_to(root).parts}


def publish(repo: pygit2.Repository, origin: Path) -> RepoBuilder:
    """Make a bare copy of ``repo`` at ``origin``, add it as the remote ``origin`` and fetch it, as a clone has.

    Returns a builder on the bare repository: commits made with it are other
    people's pushes that the working copy has not fetched yet.
    """
    assert repo.workdir is not None
    pygit2.clone_repository(repo.workdir, str(origin), bare=True)
    repo.remotes.create("origin", str(origin))
    repo.remotes["origin"].fetch()
    repo.references.create("refs/remotes/origin/HEAD", "refs/remotes/origin/main", force=True)
    return RepoBuilder(pygit2.Repository(str(origin)))


def set_identity(repo: pygit2.Repository, person: Person) -> None:
    """The repository's own ``user.name``/``user.email`` (what `git config user.email X` writes)."""
    repo.config["user.name"] = person.name
    repo.config["user.email"] = person.email


def clone(origin: Path, path: Path, branch: str = "main") -> pygit2.Repository:
    """A full clone of a local repository through its path, with ``origin`` set as git sets it."""
    return pygit2.clone_repository(str(origin), str(path), checkout_branch=branch)


def make_shallow(repo: pygit2.Repository, boundary: pygit2.Oid) -> None:
    """Cut history at ``boundary`` exactly as ``git clone --depth`` records it (``.git/shallow``)."""
    Path(repo.path, "shallow").write_text(f"{boundary}\n")


@contextmanager
def isolated_git_config(folder: Path) -> Iterator[None]:
    """Hide the machine's and user's git config (identity included) from libgit2 while inside."""
    folder.mkdir(parents=True, exist_ok=True)
    levels = (ConfigLevel.GLOBAL, ConfigLevel.XDG, ConfigLevel.SYSTEM)
    saved = {level: pygit2.settings.search_path[level] for level in levels}
    try:
        for level in levels:
            pygit2.settings.search_path[level] = str(folder)
        yield
    finally:
        for level, value in saved.items():
            pygit2.settings.search_path[level] = value
