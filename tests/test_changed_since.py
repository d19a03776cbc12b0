"""``validate --changed-since REF`` in a real git repository: new grants held to the rules of a request, a
grant waiting for its merge only noted, and why a start is unknown said plainly (not committed, not merged,
shallow clone). ``status`` on an unmerged request branch does not call the grant active."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.access import AccessRepo
from tests.support.gitutil import CAROL, Person, RepoBuilder, at, files_under, make_shallow, set_identity

AT = "2026-11-24T12:00:00Z"
G = "policy/grants/prod"
NEW = "user: alice@example.com\ntarget: prod\nreason: INC-1234\n"

pytestmark = pytest.mark.usefixtures("no_machine_git_config")


@pytest.fixture
def work(repo: AccessRepo) -> RepoBuilder:
    """The access repository committed on main, with one old duration grant merged long ago."""
    repo.grant("prod", "old.yaml", NEW.replace("alice", "olga") + "duration: 4h\n")
    b = RepoBuilder.init(repo.root)
    b.commit(files_under(repo.root), at(0), author=CAROL)
    b.checkout()
    set_identity(b.repo, Person("Alice Example", "alice@corp.example"))
    return b


def validate(repo: AccessRepo, *args: str) -> tuple[int, list[str], list[str]]:
    result = repo.run("validate", "--at", AT, "--changed-since", "main", *args)
    return result.code, result.out.splitlines(), result.err.splitlines()


def test_a_new_uncommitted_duration_grant_is_fine_it_starts_when_merged(repo: AccessRepo, work: RepoBuilder) -> None:
    repo.grant("prod", "alice.yaml", NEW + "duration: 4h\n")
    code, out, err = validate(repo)
    assert code == 0, err
    assert f"note: {G}/alice.yaml:4: starts when merged (not committed yet)" in out
    assert not any("shallow" in line for line in out + err)


@pytest.mark.parametrize(("body", "line", "message"), [
    ("expires: 2026-11-24T11:00:00Z\n", 4, "has already ended (2026-11-24T11:00:00Z): it would grant nothing"),
    ("start: 2026-11-24T08:00:00Z\nduration: 2h\n", 4,
     "starts in the past (2026-11-24T08:00:00Z); a new request starts now or later"),
    ("start: 2026-11-24T09:00:00Z\nexpires: 2026-11-24T15:00:00Z\n", 4,
     "starts in the past (2026-11-24T09:00:00Z); a new request starts now or later"),
])
def test_a_new_grant_that_is_over_or_starts_in_the_past_is_an_error(
        repo: AccessRepo, work: RepoBuilder, body: str, line: int, message: str) -> None:
    repo.grant("prod", "alice.yaml", NEW + body)
    code, _, err = validate(repo)
    assert code == 1
    assert f"error: {G}/alice.yaml:{line}: {message}" in err
    assert repo.run("validate", "--at", AT).code == 0, "without --changed-since only the file itself is checked"


def test_a_start_a_few_minutes_ago_is_fine(repo: AccessRepo, work: RepoBuilder) -> None:
    repo.grant("prod", "alice.yaml", NEW + "start: 2026-11-24T11:57:00Z\nduration: 2h\n")
    assert validate(repo)[0] == 0


def test_grants_unchanged_since_the_base_are_not_held_to_the_request_rules(
        repo: AccessRepo, work: RepoBuilder) -> None:
    code, _, err = validate(repo)  # old.yaml (merged a year before AT) has ended long ago
    assert code == 0, err
    repo.grant("prod", "old.yaml", NEW.replace("alice", "olga") + "duration: 5h\n")  # an edit is a change
    code, _, err = validate(repo)
    assert code == 1 and f"error: {G}/old.yaml:4: has already ended" in "\n".join(err)


def test_an_unknown_ref_is_a_usage_error(repo: AccessRepo, work: RepoBuilder) -> None:
    result = repo.run("validate", "--changed-since", "origin/nope")
    assert result.code == 2
    assert "--changed-since: 'origin/nope' names no commit in this repository" in result.err


def test_a_shallow_clone_is_named_as_such_and_differs_from_not_committed(
        repo: AccessRepo, work: RepoBuilder) -> None:
    work.commit({f"{G}/later.yaml": NEW.replace("alice", "lena") + "expires: 2026-11-25T00:00:00Z\n"}, at(1))
    work.checkout()
    make_shallow(work.repo, work.tip())
    repo.grant("prod", "alice.yaml", NEW + "duration: 4h\n")
    result = repo.run("validate", "--at", AT)
    assert result.code == 1
    assert f"error: {G}/old.yaml:4: start unknown: this clone is shallow" in result.err
    assert "fetch-depth: 0" in result.err
    assert f"note: {G}/alice.yaml:4: starts when merged (not committed yet)" in result.out


def test_status_on_an_unmerged_request_branch_does_not_call_the_grant_active(
        repo: AccessRepo, work: RepoBuilder) -> None:
    requested = repo.run("request", "--target", "prod", "--for", "4h", "--reason", "Investigate INC-1234")
    assert requested.code == 0, requested.err
    data = json.loads(repo.run("status", "--json").out)
    (row,) = [g for g in data["grants"] if g["user"] == "alice@corp.example"]
    assert row["state"] == "unknown"
    assert row["problem"].startswith("not merged yet (it is on access/prod/alice@corp.example-")
    assert "not on main)" in row["problem"]
    validated = repo.run("validate")
    assert validated.code == 0, validated.err
    assert "starts when merged (not merged yet" in validated.out


def test_outside_git_changed_since_is_a_usage_error(repo: AccessRepo, tmp_path: Path) -> None:
    result = repo.run("validate", "--changed-since", "main")
    assert result.code == 2 and "needs a git repository" in result.err
