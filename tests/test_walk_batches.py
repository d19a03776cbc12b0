"""History read in batches, folder by folder (`TreeReader.changes_many`): the same answers as one commit at a
time, and no more of the history read than the answer needs when older objects are missing."""

from __future__ import annotations

import random
from datetime import timedelta
from pathlib import Path

import pygit2
import pytest

from reconciler.core.grants import Grant
from reconciler.errors import GitError
from reconciler.git.history import FIRST_BATCH, merge_times, subtree_id
from reconciler.git.walk import TreeReader
from tests.support.gitutil import BOB, BOT, CAROL, RepoBuilder, at, grant_yaml

G = "policy/grants"
NOW = at(10_000)


def grant(path: str) -> Grant:
    return Grant(path=path, user="u@example.com", target=path.split("/")[-2], reason="r", duration=timedelta(hours=4))


def random_history(where: Path, seed: int, steps: int = 300) -> RepoBuilder:
    """Adds, edits, deletions, renames within and across folders, nested folders, a file replaced by a folder of
    its name and back, commits touching several folders at once, and commits outside the folder."""
    rng = random.Random(seed)
    b = RepoBuilder.init(where)
    b.commit({"README.md": "start\n"}, at(0))
    live: dict[str, str] = {}
    for step in range(1, steps):
        changes: dict[str, str | None] = {}
        for _ in range(rng.choice([1, 1, 1, 2, 3])):
            roll = rng.random()
            folder = rng.choice(["prod", "staging", "dev", "deep/er", "deep"])
            if roll < 0.45 or not live:
                path = f"{G}/{folder}/f{step}-{rng.randrange(1000)}.yaml"
                live[path] = grant_yaml(f"u{step}@example.com", folder.split("/")[0], reason=f"Reason {step}")
                changes[path] = live[path]
            elif roll < 0.6:
                path = rng.choice(sorted(live))
                live[path] += f"# edit {step}\n"
                changes[path] = live[path]
            elif roll < 0.75:
                path = rng.choice(sorted(live))
                changes[path] = None
                del live[path]
            elif roll < 0.9:
                path = rng.choice(sorted(live))
                moved = f"{G}/{folder}/{path.rsplit('/', 1)[1]}"
                if moved not in live and moved not in changes:
                    changes[path] = None
                    live[moved] = live.pop(path)
                    changes[moved] = live[moved]
            else:
                changes["README.md"] = f"step {step}\n"
        if any(p.startswith(f"{G}/deep/") for p in changes) and f"{G}/deep" in live:
            changes[f"{G}/deep"] = None  # a file of the folder's name gives way
            del live[f"{G}/deep"]
        if rng.random() < 0.02 and not any(p.startswith(f"{G}/deep/") for p in live):
            live[f"{G}/deep"] = "a file where a folder was\n"
            changes[f"{G}/deep"] = live[f"{G}/deep"]
        changes = {p: c for p, c in changes.items() if c is not None or p not in live}
        if changes:
            b.commit(changes, at(step), author=rng.choice([BOB, CAROL, BOT]))
    b.checkout()
    return b


def folder_pairs(repo: pygit2.Repository) -> list[tuple[pygit2.Oid | None, pygit2.Oid | None]]:
    commit = repo.head.peel(pygit2.Commit)
    pairs = []
    while commit.parent_ids:
        parent = repo[commit.parent_ids[0]].peel(pygit2.Commit)
        pairs.append((subtree_id(parent.tree, G), subtree_id(commit.tree, G)))
        commit = parent
    pairs.append((None, subtree_id(commit.tree, G)))
    return pairs


def test_changes_of_many_commits_read_folder_by_folder_are_those_read_one_at_a_time(tmp_path: Path) -> None:
    for seed in range(3):
        b = random_history(tmp_path / str(seed), seed)
        pairs = folder_pairs(b.repo)
        one_by_one = [sorted(TreeReader(b.repo).changes(old, new), key=lambda c: c.path) for old, new in pairs]
        together = [sorted(c, key=lambda c: c.path) for c in TreeReader(b.repo).changes_many(pairs)]
        assert together == one_by_one
        assert sum(map(len, together)) > 250, "the history exercises the reader"


def test_merge_times_do_not_need_history_older_than_the_files_they_answer_for(tmp_path: Path) -> None:
    """A partial clone may lack old trees: reading ahead in batches must not make them necessary."""
    b = RepoBuilder.init(tmp_path / "repo")
    b.commit({"policy/tailjit.yaml": "targets: {}\n"}, at(0), author=CAROL)
    b.commit({f"{G}/prod/old.yaml": grant_yaml("old@example.com", "prod")}, at(1), author=BOB)
    old_folder = b.tree_of()[f"{G}/prod"].id
    b.commit({f"{G}/prod/old.yaml": None}, at(2), author=BOT)
    paths = []
    for n in range(3, 3 + FIRST_BATCH // 2):  # fewer than a first batch: it would reach the missing tree
        paths.append(f"{G}/staging/u{n}.yaml")
        b.commit({paths[-1]: grant_yaml(f"u{n}@example.com", "staging")}, at(n), author=BOB)
    b.checkout()
    Path(b.repo.path, "objects", str(old_folder)[:2], str(old_folder)[2:]).unlink()
    root = Path(b.repo.workdir)
    found = merge_times(root, [grant(p) for p in paths], now=NOW)
    assert dict(found) == {p: at(3 + i) for i, p in enumerate(paths)}
    assert found.stats.commits == len(paths) + 1, "from the tip to the parent of the oldest file's commit"


def test_a_damaged_tree_in_the_grants_folder_is_a_git_error_saying_so(tmp_path: Path) -> None:
    """A tree object that is not a list of entries (disk damage, a bad copy): a clear error, never a guess."""
    b = RepoBuilder.init(tmp_path / "repo")
    b.commit({"policy/tailjit.yaml": "targets: {}\n", f"{G}/prod/a.yaml": grant_yaml("a@example.com", "prod")},
             at(0), author=CAROL)
    damaged = b.repo.odb.write(pygit2.enums.ObjectType.TREE, b"100644 a.yaml\0tooshort")
    grants = b.repo.TreeBuilder(b.tree_of()[G].peel(pygit2.Tree))
    grants.insert("staging", damaged, pygit2.enums.FileMode.TREE)
    policy = b.repo.TreeBuilder(b.tree_of()["policy"].peel(pygit2.Tree))
    policy.insert("grants", grants.write(), pygit2.enums.FileMode.TREE)
    top = b.repo.TreeBuilder(b.tree_of())
    top.insert("policy", policy.write(), pygit2.enums.FileMode.TREE)
    b.tips["main"] = b.repo.create_commit("refs/heads/main", BOB.sign(at(1)), BOB.sign(at(1)), "damaged",
                                          top.write(), [b.tip()])
    with pytest.raises(GitError) as raised:
        merge_times(Path(b.repo.path).parent, [grant(f"{G}/prod/a.yaml")], now=NOW)
    assert f"tree {damaged} (staging) is not a list of entries" in raised.value.message
    assert "git fsck" in (raised.value.hint or "")


def test_the_files_of_a_folder_are_those_a_change_from_nothing_names(tmp_path: Path) -> None:
    b = random_history(tmp_path / "repo", 7, steps=120)
    for _, folder in folder_pairs(b.repo)[:40]:
        if folder is not None:
            assert TreeReader(b.repo).paths(folder) == {c.path for c in TreeReader(b.repo).changes(None, folder)}
