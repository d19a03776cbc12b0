"""``tailjit audit`` over a real history: merge commits, squash merges, edits, moves, prunes and early revocations."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import pygit2
import pytest

from reconciler.core.durations import format_time
from reconciler.git.audit import FIELDS
from tests.support.access import AccessRepo
from tests.support.gitutil import (
    ALICE,
    BOB,
    BOT,
    CAROL,
    GITHUB,
    Person,
    RepoBuilder,
    at,
    files_under,
    grant_yaml,
    make_shallow,
)

G = "policy/grants"
DAVE = Person("Dave Example", "dave@example.com")


pytestmark = pytest.mark.usefixtures("no_machine_git_config")


@pytest.fixture
def history(repo: AccessRepo) -> RepoBuilder:
    b = RepoBuilder.init(repo.root)
    b.commit(files_under(repo.root), at(0), author=CAROL)
    # Alice asks on a branch; Bob fixes a typo on it; Carol merges it in GitHub's web interface.
    b.commit({f"{G}/prod/alice.yaml": grant_yaml("alice@example.com", "prod", reason="Investgate INC-1")}, at(1),
             author=ALICE, branch="access/prod/alice")
    b.commit({f"{G}/prod/alice.yaml": grant_yaml("alice@example.com", "prod", reason="Investigate INC-1",
                                                 ticket="INC-1")}, at(1.5), author=BOB, branch="access/prod/alice")
    b.merge("access/prod/alice", at(2), author=CAROL, committer=GITHUB)
    # Bob's request is squash-merged, then revoked by hand an hour later.
    b.commit({f"{G}/staging/bob.yaml": grant_yaml("bob@example.com", "staging")}, at(3), author=BOB,
             committer=GITHUB)
    b.commit({f"{G}/staging/bob.yaml": None}, at(4), author=CAROL)
    # Dave's grant is merged, extended, then renamed; it is still there.
    b.commit({f"{G}/prod/dave.yaml": grant_yaml("dave@example.com", "prod", duration="2h")}, at(5), author=DAVE,
             branch="access/prod/dave")
    b.merge("access/prod/dave", at(5), author=CAROL, committer=GITHUB)
    b.commit({f"{G}/prod/dave.yaml": grant_yaml("dave@example.com", "prod", duration="6h")}, at(6), author=DAVE,
             committer=GITHUB)
    b.commit({f"{G}/prod/dave.yaml": None,
              f"{G}/prod/dave-inc.yaml": grant_yaml("dave@example.com", "prod", duration="6h")}, at(7))
    b.commit({f"{G}/prod/bad.yaml": "user: '*'\ntarget: prod\nreason: x\nduration: 1h\n"}, at(7.5), author=BOB)
    # The scheduled prune removes Alice's expired grant.
    b.commit({f"{G}/prod/alice.yaml": None}, at(8), author=BOT)
    b.checkout()
    return b


def audit(repo: AccessRepo, *args: str) -> dict[str, dict[str, Any]]:
    result = repo.run("audit", "--format", "json", *args)
    assert result.code == 0, result.err
    return {row["file"].split("/")[-1]: row for row in json.loads(result.out)["grants"]}


def test_one_record_per_grant_ever_merged(repo: AccessRepo, history: RepoBuilder) -> None:
    rows = audit(repo)
    assert list(rows) == ["alice.yaml", "bob.yaml", "dave-inc.yaml", "bad.yaml"]  # in merge order
    alice = rows["alice.yaml"]
    assert alice == {
        "user": "alice@example.com", "target": "prod", "reason": "Investigate INC-1", "ticket": "INC-1",
        "requested_by": "Alice Example <alice@example.com>", "approved_by": "Carol Approver <carol@example.com>",
        "merged_at": format_time(at(2)), "merge_commit": alice["merge_commit"],
        "active_from": format_time(at(2)), "active_to": format_time(at(6)), "edits": 0,
        "removed_at": format_time(at(8)), "removed_by_commit": str(history.tip()),
        "revoked_early": False, "file": f"{G}/prod/alice.yaml", "problem": None,
        "removed_by": "tailjit <tailjit@localhost>", "pull_request": None,
        "break_glass": False, "review": None, "review_issue": None,
    }
    assert history.repo[alice["merge_commit"]].peel(pygit2.Commit).parents[1].id == history.tip("access/prod/alice")


def test_a_squash_merge_has_no_known_approver_and_an_early_delete_is_a_revocation(
        repo: AccessRepo, history: RepoBuilder) -> None:
    bob = audit(repo)["bob.yaml"]
    assert (bob["requested_by"], bob["approved_by"]) == ("Bob Example <bob@example.com>", None)
    assert (bob["active_from"], bob["active_to"], bob["removed_at"]) == (
        format_time(at(3)), format_time(at(7)), format_time(at(4)))
    assert bob["revoked_early"] is True
    assert bob["removed_by"] == "Carol Approver <carol@example.com>", "who deleted the file"


def test_an_edited_and_moved_grant_stays_one_record_from_its_first_merge(repo: AccessRepo,
                                                                         history: RepoBuilder) -> None:
    dave = audit(repo)["dave-inc.yaml"]
    assert (dave["file"], dave["merged_at"], dave["active_to"], dave["edits"]) == (
        f"{G}/prod/dave-inc.yaml", format_time(at(5)), format_time(at(11)), 1)
    assert (dave["requested_by"], dave["approved_by"]) == ("Dave Example <dave@example.com>",
                                                           "Carol Approver <carol@example.com>")
    assert (dave["removed_at"], dave["revoked_early"]) == (None, None)


def test_an_invalid_file_is_listed_with_its_problem(repo: AccessRepo, history: RepoBuilder) -> None:
    bad = audit(repo)["bad.yaml"]
    assert bad["user"] is None
    assert "'user' must be one Tailscale login" in bad["problem"]
    assert bad["requested_by"] == "Bob Example <bob@example.com>"


def test_since_keeps_what_happened_on_or_after_it(repo: AccessRepo, history: RepoBuilder) -> None:
    assert list(audit(repo, "--since", format_time(at(7.5)))) == ["alice.yaml", "dave-inc.yaml", "bad.yaml"]
    assert list(audit(repo, "--since", "2025-11-02")) == ["dave-inc.yaml", "bad.yaml"]


def test_a_bad_since_is_a_usage_error(repo: AccessRepo, history: RepoBuilder) -> None:
    assert repo.run("audit", "--since", "last week").code == 2


def test_csv_has_every_field_and_says_unknown(repo: AccessRepo, history: RepoBuilder) -> None:
    result = repo.run("audit", "--format", "csv")
    assert result.code == 0, result.err
    assert result.out.splitlines()[0] == ",".join(FIELDS)
    rows = {r["file"].split("/")[-1]: r for r in csv.DictReader(io.StringIO(result.out))}
    assert (rows["bob.yaml"]["approved_by"], rows["bob.yaml"]["revoked_early"]) == ("unknown", "true")
    assert rows["dave-inc.yaml"]["removed_at"] == ""


def test_table_for_people(repo: AccessRepo, history: RepoBuilder) -> None:
    result = repo.run("audit")
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert lines[0].split() == ["MERGED", "USER", "TARGET", "FROM", "TO", "REQUESTED", "BY", "APPROVED", "BY",
                                "REMOVED", "FILE"]
    alice = next(line for line in lines if "alice.yaml" in line)
    assert "alice@example.com" in alice and "carol@example.com" in alice
    assert f"{format_time(at(8))} pruned ({str(history.tip())[:8]})" in alice
    bob = next(line for line in lines if "bob.yaml" in line)
    assert "unknown" in bob and "revoked early" in bob


def test_a_shallow_clone_marks_what_it_cannot_know(repo: AccessRepo, history: RepoBuilder) -> None:
    boundary = history.repo.revparse_single("HEAD~4").id  # Dave's merge commit
    make_shallow(history.repo, boundary)
    rows = audit(repo)
    assert "bob.yaml" not in rows  # merged and removed before the clone's history starts
    assert rows["alice.yaml"]["merged_at"] is None
    assert rows["alice.yaml"]["problem"] == "merged before the start of this shallow clone's history"
    assert rows["alice.yaml"]["removed_at"] == format_time(at(8))
    assert rows["dave-inc.yaml"]["merged_at"] is None
    assert rows["bad.yaml"]["merged_at"] == format_time(at(7.5))


def test_no_history_yet(repo: AccessRepo) -> None:
    RepoBuilder.init(repo.root)
    result = repo.run("audit")
    assert result.code == 0
    assert "No grant files in the history." in result.out


def test_outside_git_audit_is_an_error(repo: AccessRepo) -> None:
    result = repo.run("audit")
    assert result.code == 1
    assert "is not in a git working copy" in result.err


def test_pull_request_numbers_and_who_removed_a_file_through_a_pull_request(repo: AccessRepo) -> None:
    b = RepoBuilder.init(repo.root)
    b.commit(files_under(repo.root), at(0), author=CAROL)
    b.commit({f"{G}/prod/alice.yaml": grant_yaml("alice@example.com", "prod")}, at(1), author=ALICE,
             branch="access/prod/alice")
    b.merge("access/prod/alice", at(2), author=CAROL, committer=GITHUB,
            message="Merge pull request #12 from acme/access/prod/alice\n\nInvestigate INC-1")
    b.commit({f"{G}/staging/bob.yaml": grant_yaml("bob@example.com", "staging")}, at(3), author=BOB,
             committer=GITHUB, message="Grant bob staging (#13)\n\n* body")
    # Dave removes Alice's grant early on a branch; Carol merges that pull request.
    b.commit({f"{G}/prod/alice.yaml": None}, at(3.5), author=DAVE, branch="revoke/alice")
    b.merge("revoke/alice", at(4), author=CAROL, committer=GITHUB, message="Merge pull request #14 from acme/revoke")
    b.checkout()
    rows = audit(repo)
    assert (rows["alice.yaml"]["pull_request"], rows["bob.yaml"]["pull_request"]) == (12, 13)
    assert rows["alice.yaml"]["removed_by"] == "Dave Example <dave@example.com>", "the deleter, not the merger"
    assert rows["alice.yaml"]["revoked_early"] is True
    assert rows["bob.yaml"]["removed_by"] is None


#: The fields of schema 1 of ``audit --format jsonl``, in order, as docs/audit.md lists them.
JSONL_FIELDS = ["schema", "event", "at", "user", "target", "group", "file", "start", "until", "reason", "ticket",
                "requested_by", "approved_by", "pull_request", "previous_until", "revoked_because", "removed_by",
                "commit", "detail"]


def jsonl(repo: AccessRepo, *args: str) -> list[dict[str, Any]]:
    result = repo.run("audit", "--format", "jsonl", *args)
    assert result.code == 0, result.err
    return [json.loads(line) for line in result.out.splitlines()]


def test_jsonl_is_one_event_per_line_oldest_first(repo: AccessRepo, history: RepoBuilder) -> None:
    events = jsonl(repo)
    assert [(e["event"], e["file"].split("/")[-1], e["at"]) for e in events] == [
        ("granted", "alice.yaml", format_time(at(2))),
        ("granted", "bob.yaml", format_time(at(3))),
        ("revoked", "bob.yaml", format_time(at(4))),
        ("granted", "dave-inc.yaml", format_time(at(5))),
        ("revoked", "alice.yaml", format_time(at(6))),
        ("invalid", "bad.yaml", format_time(at(7.5))),
        ("revoked", "dave-inc.yaml", format_time(at(11))),
    ]
    assert all(list(e) == JSONL_FIELDS and e["schema"] == 1 for e in events)
    alice = events[0]
    assert (alice["user"], alice["target"], alice["start"], alice["until"], alice["reason"], alice["ticket"],
            alice["requested_by"], alice["approved_by"]) == (
        "alice@example.com", "prod", format_time(at(2)), format_time(at(6)), "Investigate INC-1", "INC-1",
        "Alice Example <alice@example.com>", "Carol Approver <carol@example.com>")
    bob_revoked = events[2]
    assert (bob_revoked["revoked_because"], bob_revoked["removed_by"]) == (
        "removed", "Carol Approver <carol@example.com>")
    assert bob_revoked["commit"] == str(history.repo.revparse_single("main~5").id)
    assert events[4]["revoked_because"] == "expired" and events[4]["removed_by"] is None
    assert events[5]["detail"] and events[5]["user"] is None


def test_jsonl_since_keeps_the_events_at_or_after_it(repo: AccessRepo, history: RepoBuilder) -> None:
    events = jsonl(repo, "--since", format_time(at(5)))
    assert [(e["event"], e["at"]) for e in events] == [
        ("granted", format_time(at(5))), ("revoked", format_time(at(6))), ("invalid", format_time(at(7.5))),
        ("revoked", format_time(at(11)))]
    assert jsonl(repo, "--since", "2099-01-01") == []
