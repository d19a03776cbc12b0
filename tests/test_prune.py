"""``tailjit prune`` on a real clone: what it removes, what it never touches, and pushing to a moving origin."""

from __future__ import annotations

from pathlib import Path

import pygit2
import pytest

from reconciler.core.durations import format_time
from reconciler.errors import GitError
from reconciler.git.history import merge_times
from reconciler.git.prune import commit_prune, select
from reconciler.repo.config import load_config
from reconciler.repo.workspace import open_workspace
from tests.support.access import AccessRepo
from tests.support.gitutil import BOB, CAROL, GITHUB, RepoBuilder, at, files_under, grant_yaml, publish

AT = format_time(at(10))
G = "policy/grants"
HISTORY: list[tuple[float, dict[str, str]]] = [
    (1, {f"{G}/prod/old.yaml": grant_yaml("old@example.com", "prod", duration="1h"),
         f"{G}/prod/long.yaml": grant_yaml("long@example.com", "prod", duration="9h"),
         f"{G}/README.md": "Grant files live here.\n"}),
    (1.5, {f"{G}/staging/done.yaml": grant_yaml("done@example.com", "staging", expires=format_time(at(3)))}),
    (2, {f"{G}/staging/later.yaml": grant_yaml("later@example.com", "staging", duration=None,
                                                expires=format_time(at(30))).replace(
        "expires:", f"start: {format_time(at(20))}\nexpires:")}),
    (9, {f"{G}/prod/now.yaml": grant_yaml("now@example.com", "prod", duration="8h"),
         "docs/old-notes.md": "expires: 2020-01-01T00:00:00Z\n"}),
]
EXPIRED = [f"{G}/prod/old.yaml", f"{G}/staging/done.yaml"]
KEPT = [f"{G}/README.md", f"{G}/prod/long.yaml", f"{G}/prod/now.yaml", f"{G}/staging/later.yaml",
        "docs/old-notes.md"]


pytestmark = pytest.mark.usefixtures("no_machine_git_config")


@pytest.fixture
def work(repo: AccessRepo) -> RepoBuilder:
    """A clone whose main has active, pending, expired and invalid grants, plus files that are not grants."""
    b = RepoBuilder.init(repo.root)
    b.commit(files_under(repo.root), at(0), author=CAROL)
    for hour, files in HISTORY:
        b.commit(files, at(hour), author=BOB, committer=GITHUB)
    b.checkout()
    repo.grant("prod", "uncommitted.yaml", grant_yaml("new@example.com", "prod"))  # start unknown
    return b


@pytest.fixture
def origin(work: RepoBuilder, tmp_path: Path) -> RepoBuilder:
    return publish(work.repo, tmp_path / "origin.git")


def tree_files(repo: pygit2.Repository, commit: pygit2.Oid | str) -> set[str]:
    found: set[str] = set()

    def walk(tree: pygit2.Tree, prefix: str) -> None:
        for entry in tree:
            if entry.type_str == "tree":
                walk(entry.peel(pygit2.Tree), f"{prefix}{entry.name}/")
            else:
                found.add(f"{prefix}{entry.name}")

    walk(repo[commit].peel(pygit2.Tree), "")
    return found


def test_prune_deletes_only_expired_grant_files(repo: AccessRepo, work: RepoBuilder) -> None:
    result = repo.run("prune", "--at", AT)
    assert result.code == 0, result.err
    assert "Deleted 2 expired grant file(s):" in result.out
    assert f"  - {G}/prod/old.yaml (old@example.com, expired {format_time(at(2))})" in result.out
    for path in EXPIRED:
        assert not (repo.root / path).exists()
    for path in [*KEPT, f"{G}/prod/uncommitted.yaml"]:
        assert (repo.root / path).exists(), path
    assert f"{G}/prod/long.yaml: not pruned: duration 9h is longer than target 'prod'" in result.err
    assert f"{G}/prod/uncommitted.yaml: not pruned: not committed yet" in result.err
    assert work.repo.head.target == work.tip()  # no commit without --commit


def test_prune_at_an_earlier_time_keeps_what_had_not_expired_yet(repo: AccessRepo, work: RepoBuilder) -> None:
    result = repo.run("prune", "--at", format_time(at(2.5)))
    assert result.code == 0, result.err
    assert not (repo.root / G / "prod/old.yaml").exists()
    assert (repo.root / G / "staging/done.yaml").exists()


def test_nothing_to_prune(repo: AccessRepo, work: RepoBuilder) -> None:
    result = repo.run("prune", "--at", format_time(at(1.2)), "--commit")
    assert result.code == 0
    assert "Nothing to prune." in result.out
    assert work.repo.head.target == work.tip()


def test_prune_commit_makes_one_commit_listing_them(repo: AccessRepo, work: RepoBuilder) -> None:
    before = work.tip()
    result = repo.run("prune", "--at", AT, "--commit")
    assert result.code == 0, result.err
    head = work.repo.head.peel(pygit2.Commit)
    assert head.parents[0].id == before
    assert work.repo.head.shorthand == "main"
    assert tree_files(work.repo, before) - tree_files(work.repo, head.id) == set(EXPIRED)
    assert tree_files(work.repo, head.id) - tree_files(work.repo, before) == set()
    assert head.message.startswith("Prune 2 expired grant files\n\n"
                                   f"- {G}/prod/old.yaml (old@example.com, expired {format_time(at(2))})\n"
                                   f"- {G}/staging/done.yaml (done@example.com, expired {format_time(at(3))})\n")
    assert (head.author.name, head.author.email) == ("tailjit", "tailjit@localhost")
    assert f"Committed {str(head.id)[:12]} removing 2 expired grant file(s):" in result.out
    # the working copy follows, with the uncommitted grant file untouched
    assert work.repo.status() == {f"{G}/prod/uncommitted.yaml": pygit2.enums.FileStatus.WT_NEW}


def test_the_prune_commit_is_signed_by_the_configured_identity(repo: AccessRepo, work: RepoBuilder) -> None:
    work.repo.config["user.name"] = "Reconciler Bot"
    work.repo.config["user.email"] = "bot@example.com"
    assert repo.run("prune", "--at", AT, "--commit").code == 0
    author = work.repo.head.peel(pygit2.Commit).author
    assert (author.name, author.email) == ("Reconciler Bot", "bot@example.com")


def test_a_locally_edited_expired_file_is_not_committed_away(repo: AccessRepo, work: RepoBuilder) -> None:
    edited = repo.root / G / "prod/old.yaml"
    edited.write_text(edited.read_text().replace("Investigate", "Still investigating"))
    result = repo.run("prune", "--at", AT, "--commit")
    assert result.code == 0, result.err
    assert f"{G}/prod/old.yaml" in tree_files(work.repo, work.repo.head.target)
    assert f"{G}/staging/done.yaml" not in tree_files(work.repo, work.repo.head.target)
    assert "Kept (changed locally, not committed, or changed on origin since):\n" in result.out
    assert edited.read_text().count("Still investigating") == 1


def test_prune_commit_refuses_a_staged_change(repo: AccessRepo, work: RepoBuilder) -> None:
    (repo.root / "notes.txt").write_text("x\n")
    index = work.repo.index
    index.add("notes.txt")
    index.write()
    result = repo.run("prune", "--at", AT, "--commit")
    assert result.code == 1
    assert "the index has staged changes" in result.err
    assert work.repo.head.target == work.tip()


def test_prune_push_publishes_the_commit(repo: AccessRepo, work: RepoBuilder, origin: RepoBuilder) -> None:
    result = repo.run("prune", "--at", AT, "--push")
    assert result.code == 0, result.err
    assert "Pushed to origin." in result.out
    pushed = origin.repo.references["refs/heads/main"].target
    assert pushed == work.repo.head.target
    assert tree_files(origin.repo, pushed).isdisjoint(EXPIRED)


def test_prune_push_retries_on_the_new_tip_when_origin_moved(repo: AccessRepo, work: RepoBuilder,
                                                            origin: RepoBuilder) -> None:
    # while we were looking, a request was merged on origin (a concurrent push)
    origin.commit({f"{G}/staging/fresh.yaml": grant_yaml("fresh@example.com", "staging")}, at(9.5),
                  author=BOB, branch="access/staging/fresh")
    merged = origin.merge("access/staging/fresh", at(9.6), author=CAROL, committer=GITHUB)
    result = repo.run("prune", "--at", AT, "--push")
    assert result.code == 0, result.err
    assert "Pushed to origin after 2 attempts (origin moved meanwhile)." in result.out
    tip = origin.repo[origin.repo.references["refs/heads/main"].target].peel(pygit2.Commit)
    assert tip.parents[0].id == merged
    assert tree_files(origin.repo, merged) - tree_files(origin.repo, tip.id) == set(EXPIRED)
    assert work.repo.head.target == tip.id
    assert (repo.root / G / "staging/fresh.yaml").is_file()  # the working copy has the other merge
    assert not (repo.root / G / "prod/old.yaml").exists()


def test_a_grant_extended_on_origin_meanwhile_is_not_pruned(repo: AccessRepo, work: RepoBuilder,
                                                           origin: RepoBuilder) -> None:
    extended = grant_yaml("old@example.com", "prod", duration="4h") + f"start: {format_time(at(9.5))}\n"
    origin.commit({f"{G}/prod/old.yaml": extended}, at(9.5))
    result = repo.run("prune", "--at", AT, "--push")
    assert result.code == 0, result.err
    tip = origin.repo.references["refs/heads/main"].target
    assert f"{G}/prod/old.yaml" in tree_files(origin.repo, tip)
    assert f"{G}/staging/done.yaml" not in tree_files(origin.repo, tip)
    assert f"  - {G}/prod/old.yaml" in result.out.split("Kept")[1]


def test_when_origin_already_pruned_them_the_clone_just_catches_up(repo: AccessRepo, work: RepoBuilder,
                                                                   origin: RepoBuilder) -> None:
    theirs = origin.commit(dict.fromkeys(EXPIRED), at(9.5), author=CAROL)
    result = repo.run("prune", "--at", AT, "--push")
    assert result.code == 0, result.err
    assert "Nothing left to prune on the branch tip after fetching origin." in result.out
    assert origin.repo.references["refs/heads/main"].target == theirs
    assert work.repo.head.target == theirs


def test_the_retries_are_bounded(repo: AccessRepo, work: RepoBuilder, origin: RepoBuilder) -> None:
    origin.commit({"README.md": "moved\n"}, at(9.5))
    ws = open_workspace(repo.config, merge_times)
    expired = select(ws.config, ws.statuses(at(10))).expired
    with pytest.raises(GitError, match="origin's main kept moving: gave up after 1 attempts"):
        commit_prune(load_config(repo.config), expired, at(10), push=True, max_attempts=1)
    assert origin.repo.references["refs/heads/main"].target != work.repo.head.target
    assert work.repo.head.target == work.tip()  # the local branch did not move


def test_a_refused_push_that_is_not_a_moved_remote_is_an_error(repo: AccessRepo, work: RepoBuilder,
                                                              tmp_path: Path) -> None:
    work.repo.remotes.create("origin", str(tmp_path / "missing.git"))
    result = repo.run("prune", "--at", AT, "--push")
    assert result.code == 1
    assert "error: pushing main to origin failed:" in result.err
    assert work.repo.head.target == work.tip()


def test_push_needs_a_branch(repo: AccessRepo, work: RepoBuilder, origin: RepoBuilder) -> None:
    work.repo.set_head(work.tip())
    result = repo.run("prune", "--at", AT, "--push")
    assert result.code == 1
    assert "HEAD is detached; prune --push needs a branch to push" in result.err
