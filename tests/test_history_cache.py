"""Merge times kept in ``.tailjit/merge-times.json`` between runs: used only for the commit they describe.

Every case compares with a walk that has no record: a record can make a run
faster, never change an answer.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import pygit2
import pytest

from reconciler.core.grants import Grant
from reconciler.git import cache
from reconciler.git.history import MergeTimes, merge_times
from tests.support.access import AccessRepo
from tests.support.gitutil import RepoBuilder, at, files_under, grant_yaml, make_shallow

G = "policy/grants"
NOW = at(1000)


def grant(path: str) -> Grant:
    return Grant(path=path, user="u@example.com", target=path.split("/")[-2], reason="r", duration=timedelta(hours=4))


class History:
    """A working copy whose main merges one grant per pull request, and its state folder."""

    def __init__(self, where: Path, grants: int = 6) -> None:
        self.b = RepoBuilder.init(where)
        self.b.commit({"policy/tailjit.yaml": "targets: {}\n"}, at(0))
        self.paths: list[str] = []
        self.hour = 0.0
        for _ in range(grants):
            self.merge()
        self.b.checkout()
        assert self.b.repo.workdir is not None
        self.root = Path(self.b.repo.workdir)
        self.state = self.root / ".tailjit"
        self.record = self.state / cache.NAME

    def merge(self, checkout: bool = False) -> pygit2.Oid:
        n = len(self.paths)
        path = f"{G}/t{n % 3}/user{n}.yaml"
        self.hour += 1
        self.b.commit({path: grant_yaml(f"user{n}@example.com", f"t{n % 3}")}, at(self.hour), branch=f"r{n}")
        self.hour += 1
        oid = self.b.merge(f"r{n}", at(self.hour))
        self.paths.append(path)
        if checkout:
            self.b.checkout()
        return oid

    def times(self, *, state: bool = True) -> MergeTimes:
        return merge_times(self.root, [grant(p) for p in self.paths], now=NOW, state=self.state if state else None)

    def expected(self) -> dict[str, datetime]:
        return dict(self.times(state=False))


@pytest.fixture
def h(tmp_path: Path) -> History:
    return History(tmp_path / "repo")


def test_the_second_run_walks_only_the_commits_made_since(h: History) -> None:
    first = h.times()
    assert dict(first) == h.expected() and len(first) == 6
    assert not first.stats.resumed and first.stats.commits == 7
    assert json.loads(h.record.read_text())["tip"] == str(h.b.tip())
    assert (h.state / ".gitignore").read_text() == "*\n"
    h.merge(checkout=True)
    second = h.times()
    assert dict(second) == h.expected() and len(second) == 7
    assert (second.stats.commits, second.stats.diffs, second.stats.resumed) == (2, 1, True)
    assert second.stats.cached == 6
    assert json.loads(h.record.read_text())["tip"] == str(h.b.tip())


def test_an_unchanged_tip_walks_nothing_and_leaves_the_record_alone(h: History) -> None:
    h.times()
    written = h.record.stat().st_mtime_ns
    again = h.times()
    assert dict(again) == h.expected()
    assert (again.stats.commits, again.stats.trees, again.stats.resumed) == (1, 4, True)
    assert h.record.stat().st_mtime_ns == written
    assert sorted(p.name for p in h.state.iterdir()) == [".gitignore", cache.NAME]


def test_a_rewritten_history_is_walked_in_full(h: History) -> None:
    h.times()
    # Force-push: main replaced by a history with the same files merged at other times.
    old_tip = h.b.tip()
    base = h.b.repo[old_tip].peel(pygit2.Commit)
    for _ in range(4):
        base = h.b.repo[base.parent_ids[0]].peel(pygit2.Commit)
    h.b.tips["main"] = base.id
    redone = h.b.commit({p: grant_yaml("x@example.com", p.split("/")[-2]) for p in h.paths[-2:]}, at(500))
    h.b.checkout()
    assert redone != old_tip
    found = h.times()
    assert dict(found) == h.expected()
    assert found[h.paths[-1]] == at(500)
    assert not found.stats.resumed


def test_a_deleted_record_means_a_full_walk(h: History) -> None:
    h.times()
    h.record.unlink()
    h.merge(checkout=True)
    found = h.times()
    assert dict(found) == h.expected() and not found.stats.resumed and found.stats.commits == 8
    assert h.record.exists()


@pytest.mark.parametrize("damage", [
    "truncated", "not json", "wrong format", "wrong types", "a bad commit id", "a time of the wrong type",
    "a time out of range", "deeply nested", "empty", "a folder",
])
def test_a_corrupt_or_hostile_record_means_a_full_walk_and_is_replaced(h: History, damage: str) -> None:
    h.times()
    good = json.loads(h.record.read_text())
    name = next(iter(good["births"]))
    bad: object
    if damage == "truncated":
        h.record.write_text(h.record.read_text()[:-40])
    elif damage == "not json":
        h.record.write_bytes(b"\x00\xff garbage")
    elif damage == "deeply nested":
        h.record.write_text("[" * 100_000 + "]" * 100_000)
    elif damage == "empty":
        h.record.write_text("")
    elif damage == "a folder":
        h.record.unlink()
        h.record.mkdir()
    else:
        bad = dict(good)
        if damage == "wrong format":
            bad["format"] = "tailjit merge times 99"
        elif damage == "wrong types":
            bad["births"] = [good["births"]]
        elif damage == "a bad commit id":
            bad["births"] = {**good["births"], name: ["HEAD", good["births"][name][1]]}
        elif damage == "a time of the wrong type":
            bad["births"] = {**good["births"], name: [good["births"][name][0], str(good["births"][name][1])]}
        elif damage == "a time out of range":
            bad["births"] = {**good["births"], name: [good["births"][name][0], 10**30]}
        h.record.write_text(json.dumps(bad))
    h.merge(checkout=True)
    found = h.times()
    assert dict(found) == h.expected()
    assert not found.stats.resumed and found.stats.commits == 8
    if damage != "a folder":
        assert json.loads(h.record.read_text())["tip"] == str(h.b.tip())


def test_a_huge_record_is_not_read(h: History) -> None:
    h.times()
    with open(h.record, "r+b") as f:  # a sparse file: huge, and free to make
        f.truncate(cache.MAX_BYTES + 1)
    with pytest.raises(cache.Unusable, match="larger than 64 MiB"):
        cache.load(h.record)
    found = h.times()
    assert dict(found) == h.expected() and not found.stats.resumed
    assert h.record.stat().st_size < 10_000


def test_a_record_missing_a_file_present_at_its_commit_is_not_used(h: History) -> None:
    h.times()
    data = json.loads(h.record.read_text())
    data["births"].pop(sorted(data["births"])[0])
    h.record.write_text(json.dumps(data))
    h.merge(checkout=True)
    found = h.times()
    assert dict(found) == h.expected() and not found.stats.resumed


def test_a_record_of_another_grants_folder_is_not_used(h: History) -> None:
    h.times()
    data = json.loads(h.record.read_text())
    data["folder"] = "other/grants"
    h.record.write_text(json.dumps(data))
    found = h.times()
    assert dict(found) == h.expected() and not found.stats.resumed
    assert json.loads(h.record.read_text())["folder"] == G


def test_a_record_from_before_a_clone_was_deepened_is_not_used(h: History) -> None:
    tip = h.b.tip()
    boundary = h.b.repo[tip].peel(pygit2.Commit).parent_ids[0]
    make_shallow(h.b.repo, h.b.repo[boundary].peel(pygit2.Commit).parent_ids[0])
    shallow = h.times()
    assert len(shallow) == 2 and set(json.loads(h.record.read_text())["unknown"]) == {
        p.removeprefix(G + "/") for p in h.paths[:4]}
    Path(h.b.repo.path, "shallow").unlink()  # git fetch --unshallow
    deep = h.times()
    assert dict(deep) == h.expected() and len(deep) == 6 and not deep.stats.resumed


def test_a_state_folder_that_cannot_be_written_costs_nothing_but_time(h: History) -> None:
    h.state.write_text("a file where the folder should be\n")  # fails for every user, root included
    found = h.times()
    assert dict(found) == h.expected()
    assert h.state.read_text() == "a file where the folder should be\n"


def test_no_temporary_file_is_left_behind(h: History) -> None:
    h.times()
    h.merge(checkout=True)
    h.times()
    assert sorted(p.name for p in h.state.iterdir()) == [".gitignore", cache.NAME]


def test_status_keeps_the_record_in_the_state_folder(repo: AccessRepo) -> None:
    b = RepoBuilder.init(repo.root)
    b.commit(files_under(repo.root), at(0))
    b.commit({f"{G}/prod/alice.yaml": grant_yaml("alice@example.com", "prod")}, at(1))
    b.checkout()
    assert repo.run("status", "--json").code == 0
    record = json.loads((repo.root / ".tailjit" / cache.NAME).read_text())
    assert record["folder"] == G and record["tip"] == str(b.tip())
    assert record["births"] == {"prod/alice.yaml": [str(b.tip()), int(at(1).timestamp())]}
