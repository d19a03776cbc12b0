"""The tree comparison of the history walk agrees with libgit2's diff on every kind of change, hostile names included."""

from __future__ import annotations

import random
from pathlib import Path

import pygit2
import pytest

from reconciler.git.walk import Status, TreeReader
from tests.support.gitutil import RepoBuilder

#: Names that look like tree entries, share prefixes and suffixes, or sort between a folder and its files.
NAMES = ["a.yaml", "a", "a-b.yaml", "a.yaml.bak", "b c.yaml", "100644 a.yaml", "x 100644 a.yaml", "40000 t",
         "é.yaml", "z", "zz", "a0", "a/", "t.yaml"]
_PLAIN = {pygit2.enums.DeltaStatus.ADDED: Status.ADDED, pygit2.enums.DeltaStatus.DELETED: Status.DELETED,
          pygit2.enums.DeltaStatus.MODIFIED: Status.MODIFIED}


def libgit2_changes(repo: pygit2.Repository, old: pygit2.Oid | None, new: pygit2.Oid | None) -> list[tuple[str, str]]:
    empty = repo.TreeBuilder().write()
    diff = repo[old or empty].peel(pygit2.Tree).diff_to_tree(repo[new or empty].peel(pygit2.Tree))
    return sorted((_PLAIN[d.status].value, d.new_file.path) for d in diff.deltas)


def ours(reader: TreeReader, old: pygit2.Oid | None, new: pygit2.Oid | None) -> list[tuple[str, str]]:
    return sorted((c.status.value, c.path) for c in reader.compare(old, new))


@pytest.mark.parametrize("seed", range(40))
def test_random_changes_match_libgit2(tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    b = RepoBuilder.init(tmp_path / "repo", bare=True)
    folders = ["", "t1/", "t 2/", "t1/deep/"]
    contents = ["same\n", "other\n", "x\n"]  # few contents: equal ids in different entries are common
    files: dict[str, str] = {}
    for _ in range(rng.randint(0, 40)):
        files[rng.choice(folders) + rng.choice(NAMES).rstrip("/")] = rng.choice(contents)
    files = {p: c for p, c in files.items() if not any(q.startswith(p + "/") for q in files)}
    old = b.write_tree(None, files) if files else None
    changes: dict[str, str | None] = {}
    for _ in range(rng.randint(1, 6)):
        path = rng.choice(sorted(files)) if files and rng.random() < 0.6 else rng.choice(folders) + rng.choice(NAMES)
        path = path.rstrip("/")
        if any(q.startswith(path + "/") for q in files) or any(path.startswith(q + "/") for q in files):
            continue
        changes[path] = None if rng.random() < 0.4 else rng.choice(contents)
    new = b.write_tree(old, changes)
    reader = TreeReader(b.repo)
    assert ours(reader, old, new) == libgit2_changes(b.repo, old, new)
    assert ours(reader, new, old) == sorted(
        ({"added": "deleted", "deleted": "added"}.get(s, s), p)
        for s, p in libgit2_changes(b.repo, old, new))


def test_one_file_added_to_a_wide_folder_reads_two_trees_and_names_one_change(tmp_path: Path) -> None:
    b = RepoBuilder.init(tmp_path / "repo", bare=True)
    old = b.write_tree(None, {f"t{t}/user{n}.yaml": f"{n}\n" for t in range(20) for n in range(50)})
    new = b.write_tree(old, {"t7/user1000.yaml": "new\n"})
    reader = TreeReader(b.repo)
    (change,) = reader.changes(old, new)
    assert (change.status, change.path, change.old_id) == (Status.ADDED, "t7/user1000.yaml", None)
    assert change.new_id == b.repo.create_blob(b"new\n")
    assert reader.reads == 4  # the folder before and after, and t7 before and after: not the other 19 folders


def test_a_commit_that_adds_and_deletes_reports_renames_as_libgit2_finds_them(tmp_path: Path) -> None:
    b = RepoBuilder.init(tmp_path / "repo", bare=True)
    text = "user: alice@example.com\ntarget: prod\nreason: A long enough reason for similarity\n"
    old = b.write_tree(None, {"prod/alice.yaml": text, "prod/bob.yaml": "bob\n"})
    new = b.write_tree(old, {"prod/alice.yaml": None, "staging/alice.yaml": text.replace("prod", "staging"),
                             "prod/carol.yaml": "carol\n"})
    found = {(c.status, c.old_path, c.path) for c in TreeReader(b.repo).changes(old, new)}
    assert found == {(Status.RENAMED, "prod/alice.yaml", "staging/alice.yaml"),
                     (Status.ADDED, "prod/carol.yaml", "prod/carol.yaml")}
