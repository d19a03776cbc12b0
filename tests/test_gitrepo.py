"""Merge times from real git histories: merges, squashes, rebases, edits, moves, shallow clones, forged dates."""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta
from pathlib import Path

import pygit2
import pytest

from reconciler.core.durations import format_time
from reconciler.core.grants import Grant
from reconciler.git.history import CLOCK_SKEW, merge_times
from tests.support.access import CLI_NOW, AccessRepo
from tests.support.gitutil import ALICE, BOB, CAROL, GITHUB, RepoBuilder, at, files_under, grant_yaml, make_shallow

G = "policy/grants"
NOW = at(1000)


def grant(path: str) -> Grant:
    target = path.split("/")[-2]
    return Grant(path=path, user="alice@example.com", target=target, reason="r", duration=timedelta(hours=4))


def times(root: Path, *paths: str, now: datetime = NOW) -> dict[str, datetime]:
    return dict(merge_times(root, [grant(p) for p in paths], now=now))


@pytest.fixture
def b(tmp_path: Path) -> RepoBuilder:
    builder = RepoBuilder.init(tmp_path / "repo")
    builder.commit({"policy/policy.hujson": "{}\n", "policy/tailjit.yaml": "targets: {}\n"}, at(0))
    return builder


def root(b: RepoBuilder) -> Path:
    b.checkout()
    assert b.repo.workdir is not None
    return Path(b.repo.workdir)


def test_merge_commit_starts_the_grant_not_the_branch_commit(b: RepoBuilder) -> None:
    b.commit({f"{G}/prod/alice.yaml": grant_yaml("alice@example.com", "prod")}, at(1), author=ALICE,
             branch="access/prod/alice")
    b.commit({"README.md": "unrelated\n"}, at(2), author=BOB)
    b.merge("access/prod/alice", at(3), author=CAROL, committer=GITHUB)
    assert times(root(b), f"{G}/prod/alice.yaml") == {f"{G}/prod/alice.yaml": at(3)}


def test_squash_merge_starts_at_the_squash_commit(b: RepoBuilder) -> None:
    b.commit({f"{G}/prod/alice.yaml": grant_yaml("alice@example.com", "prod")}, at(5), author=ALICE,
             committer=GITHUB)
    assert times(root(b), f"{G}/prod/alice.yaml") == {f"{G}/prod/alice.yaml": at(5)}


def test_rebase_merge_uses_the_committer_time_of_the_first_commit_adding_the_file(b: RepoBuilder) -> None:
    path = f"{G}/prod/alice.yaml"
    b.commit({path: grant_yaml("alice@example.com", "prod")}, at(7), authored=at(1), author=ALICE, committer=CAROL)
    b.commit({path: grant_yaml("alice@example.com", "prod", reason="typo fixed")}, at(7.01), authored=at(2))
    assert times(root(b), path) == {path: at(7)}


def test_a_later_edit_that_extends_the_duration_counts_from_the_original_merge(b: RepoBuilder) -> None:
    path = f"{G}/prod/alice.yaml"
    b.commit({path: grant_yaml("alice@example.com", "prod", duration="2h")}, at(1))
    b.commit({f"{G}/prod/bob.yaml": grant_yaml("bob@example.com", "prod")}, at(2))
    b.commit({path: grant_yaml("alice@example.com", "prod", duration="8h")}, at(3))
    assert times(root(b), path)[path] == at(1)


def test_a_renamed_or_moved_file_keeps_its_original_merge_time(b: RepoBuilder) -> None:
    text = grant_yaml("alice@example.com", "prod", reason="Database migration INC-1234 with the on-call SRE")
    b.commit({f"{G}/prod/alice.yaml": text}, at(1))
    b.commit({f"{G}/prod/alice.yaml": None, f"{G}/prod/alice-inc1234.yaml": text}, at(2))
    moved = text.replace("target: prod", "target: staging")
    b.commit({f"{G}/prod/alice-inc1234.yaml": None, f"{G}/staging/alice-inc1234.yaml": moved}, at(3))
    path = f"{G}/staging/alice-inc1234.yaml"
    assert times(root(b), path) == {path: at(1)}


def test_a_file_deleted_and_added_again_starts_at_the_second_merge(b: RepoBuilder) -> None:
    path = f"{G}/prod/alice.yaml"
    b.commit({path: grant_yaml("alice@example.com", "prod")}, at(1))
    b.commit({path: None}, at(2))
    b.commit({path: grant_yaml("alice@example.com", "prod", reason="Again")}, at(3))
    assert times(root(b), path)[path] == at(3)


def test_a_file_in_the_first_commit_starts_at_the_first_commit(tmp_path: Path) -> None:
    b = RepoBuilder.init(tmp_path / "repo")
    b.commit({f"{G}/prod/alice.yaml": grant_yaml("alice@example.com", "prod")}, at(4))
    assert times(root(b), f"{G}/prod/alice.yaml") == {f"{G}/prod/alice.yaml": at(4)}


def test_an_uncommitted_file_has_no_merge_time(b: RepoBuilder) -> None:
    path = Path(root(b)) / G / "prod" / "new.yaml"
    path.parent.mkdir(parents=True)
    path.write_text(grant_yaml("alice@example.com", "prod"))
    assert times(path.parents[3], f"{G}/prod/new.yaml") == {}


def test_a_shallow_clone_knows_only_files_merged_after_its_boundary(b: RepoBuilder) -> None:
    b.commit({f"{G}/prod/old.yaml": grant_yaml("alice@example.com", "prod")}, at(1))
    boundary = b.commit({"README.md": "x\n"}, at(2))
    b.commit({f"{G}/prod/new.yaml": grant_yaml("bob@example.com", "prod")}, at(3))
    b.commit({f"{G}/prod/old.yaml": grant_yaml("alice@example.com", "prod", duration="1h")}, at(4))
    top = root(b)
    make_shallow(b.repo, boundary)
    assert pygit2.Repository(str(top)).is_shallow
    assert times(top, f"{G}/prod/old.yaml", f"{G}/prod/new.yaml") == {f"{G}/prod/new.yaml": at(3)}


def test_a_depth_one_clone_knows_nothing(b: RepoBuilder) -> None:
    tip = b.commit({f"{G}/prod/alice.yaml": grant_yaml("alice@example.com", "prod")}, at(1))
    top = root(b)
    make_shallow(b.repo, tip)
    assert times(top, f"{G}/prod/alice.yaml") == {}


def test_outside_git_or_on_an_unborn_branch_nothing_is_known(tmp_path: Path) -> None:
    assert times(tmp_path, f"{G}/prod/alice.yaml") == {}
    pygit2.init_repository(str(tmp_path / "empty"))
    assert times(tmp_path / "empty", f"{G}/prod/alice.yaml") == {}


def test_a_commit_dated_in_the_future_is_a_problem_not_a_start(b: RepoBuilder) -> None:
    b.commit({f"{G}/prod/ok.yaml": grant_yaml("alice@example.com", "prod")}, NOW - timedelta(hours=1))
    b.commit({f"{G}/prod/skew.yaml": grant_yaml("bob@example.com", "prod")}, NOW + CLOCK_SKEW - timedelta(seconds=1))
    b.commit({f"{G}/prod/forged.yaml": grant_yaml("bob@example.com", "prod")}, NOW + timedelta(days=3))
    paths = [f"{G}/prod/{n}.yaml" for n in ("ok", "skew", "forged")]
    found = merge_times(root(b), [grant(p) for p in paths], now=NOW)
    assert dict(found) == {paths[0]: NOW - timedelta(hours=1), paths[1]: NOW + CLOCK_SKEW - timedelta(seconds=1)}
    assert list(found.problems) == [paths[2]]
    assert "dated 2025-12-15T16:00:00Z, 3d in the future" in found.problems[paths[2]]


def test_a_config_root_below_the_top_of_the_repository(tmp_path: Path) -> None:
    b = RepoBuilder.init(tmp_path / "repo")
    b.commit({f"access/{G}/prod/alice.yaml": grant_yaml("alice@example.com", "prod")}, at(2))
    top = root(b)
    assert times(top / "access", f"{G}/prod/alice.yaml") == {f"{G}/prod/alice.yaml": at(2)}


def test_the_walk_stops_once_every_file_is_found(b: RepoBuilder) -> None:
    for hour in range(1, 50):
        b.commit({"README.md": f"{hour}\n"}, at(hour))
    b.commit({f"{G}/prod/alice.yaml": grant_yaml("alice@example.com", "prod")}, at(50))
    for hour in range(51, 60):
        b.commit({"README.md": f"{hour}\n"}, at(hour))
    found = merge_times(root(b), [grant(f"{G}/prod/alice.yaml")], now=NOW)
    assert dict(found) == {f"{G}/prod/alice.yaml": at(50)}
    assert (found.stats.commits, found.stats.diffs) == (11, 1)


@pytest.mark.slow
def test_a_long_history_is_read_in_one_walk(tmp_path: Path) -> None:
    """2,000 commits and 400 grant files, with edits and moves; the suite-sized version of bench/git_bench.py."""
    b = RepoBuilder.init(tmp_path / "repo")
    b.commit({"policy/policy.hujson": "{}\n"}, at(0))
    expected: dict[str, datetime] = {}
    grant_commits = 0
    started = time.perf_counter()
    for i in range(1, 2001):
        when = at(i / 4)
        if i % 5 == 0:
            n = i // 5 - 1
            path = f"{G}/t{n % 8}/user{n}.yaml"
            b.commit({path: grant_yaml(f"user{n}@example.com", f"t{n % 8}")}, when, write_ref=False)
            expected[path] = when
            grant_commits += 1
        elif i % 97 == 0 and expected:
            edited = sorted(expected)[i % len(expected)]
            b.commit({edited: grant_yaml("someone@example.com", edited.split("/")[-2], reason=f"edit {i}")}, when,
                     write_ref=False)
            grant_commits += 1
        else:
            b.commit({"README.md": f"{i}\n"}, when, write_ref=False)
    built = time.perf_counter() - started
    top = root(b)
    started = time.perf_counter()
    found = merge_times(top, [grant(p) for p in expected], now=NOW)
    took = time.perf_counter() - started
    print(f"\nbuilt 2,001 commits in {built:.2f}s; merge_times for {len(expected)} files: {took * 1000:.0f} ms, "
          f"{found.stats.commits} commits walked, {found.stats.diffs} diffed")
    assert dict(found) == expected
    assert found.stats.commits == 2000 - 4 + 1  # from the tip back to the parent of the oldest grant's merge
    assert found.stats.diffs == grant_commits


def test_validate_and_apply_report_a_merge_dated_in_the_future_and_grant_nothing(repo: AccessRepo) -> None:
    b = RepoBuilder.init(repo.root)
    b.commit(files_under(repo.root), at(0))
    ahead = CLI_NOW + timedelta(days=2)
    b.commit({f"{G}/prod/early.yaml": grant_yaml("early@example.com", "prod")}, ahead, author=BOB)
    b.commit({f"{G}/prod/fine.yaml": grant_yaml("fine@example.com", "prod")}, at(1), author=BOB)
    b.checkout()
    validate = repo.run("validate")
    assert validate.code == 1
    assert f"{G}/prod/early.yaml:4: merged by commit " in validate.err
    assert f"dated {format_time(ahead)}, 2d in the future;" in validate.err
    assert "1 problem(s) found." in validate.err
    apply = repo.run("apply", "--at", format_time(ahead + timedelta(hours=1)))
    assert apply.code == 1
    assert "early@example.com" not in repo.tailnet.read_text()
    status = json.loads(repo.run("status", "--json").out)["grants"]
    assert {(g["user"], g["state"]) for g in status} == {("early@example.com", "invalid"),
                                                         ("fine@example.com", "expired")}


def test_a_packed_repository_reads_the_same(b: RepoBuilder) -> None:
    b.commit({f"{G}/prod/alice.yaml": grant_yaml("alice@example.com", "prod")}, at(1), branch="access/alice")
    b.merge("access/alice", at(2))
    top = root(b)
    assert b.pack() == len(list(b.repo.odb))
    assert not [p for p in (top / ".git" / "objects").iterdir() if len(p.name) == 2]
    assert times(top, f"{G}/prod/alice.yaml") == {f"{G}/prod/alice.yaml": at(2)}
