"""``tailjit approvals --pr N`` against the fake GitHub API: who counts, who does not and why, break glass,
and answers that must fail the check rather than pass it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.access import AccessRepo, Result
from tests.support.fake_github import FakeGitHub, serve

TOKEN = "ghs_" + "appr0vals" * 5
CONFIG = """\
tailnet: "-"
backend: file:tailnet.hujson
targets:
  prod:
    group: group:prod
    max_duration: 8h
    approvers: ["@acme/sre", "@dana-gh"]
    approvals: 2
    break_glass:
      max_duration: 1h
      allowed: ["*@example.com"]
  staging:
    group: group:staging
    max_duration: 7d
    approvers: ["@frank"]
    requesters: ["*@example.com"]
identities:
  github:alice-gh: alice@example.com
  github:dana-gh: dana@example.com
  github:sam: sam@example.com
  github:erin: erin@example.com
  github:erin-2: erin@example.com
  github:zoe: zoe@example.com
  github:frank: frank@example.com
  github:bob: bob@example.com
"""
ALICE = "policy/grants/prod/alice.yaml"
GRANT = b"user: alice@example.com\ntarget: prod\nreason: Investigate INC-1234\nduration: 4h\n"
BREAK_GLASS = b"user: alice@example.com\ntarget: prod\nreason: INC-9 database down\nduration: 1h\nbreak_glass: true\n"
AT = "2026-11-24T12:00:00Z"


@pytest.fixture
def fake(repo: AccessRepo, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeGitHub]:
    repo.config.write_text(CONFIG)
    with serve(token=TOKEN) as fake:
        for name, value in {"GITHUB_TOKEN": TOKEN, "GITHUB_REPOSITORY": fake.repository,
                            "GITHUB_API_URL": fake.url}.items():
            monkeypatch.setenv(name, value)
        # 150 others first: the members that matter are on the second page
        fake.add_team("acme/sre", [f"member-{i}" for i in range(150)] + ["sam", "erin", "erin-2", "alice-gh"])
        yield fake


def check(repo: AccessRepo, number: int = 7) -> Result:
    result = repo.run("approvals", "--pr", str(number), "--at", AT)
    assert TOKEN not in result.out + result.err
    return result


def test_two_approvers_one_named_one_through_a_paginated_team_pass(repo: AccessRepo, fake: FakeGitHub) -> None:
    fake.add_pull(7, author="bob", files={ALICE: GRANT})
    fake.review(7, "dana-gh", "APPROVED")
    fake.review(7, "sam", "APPROVED")
    result = check(repo)
    assert result.code == 0, result.out + result.err
    assert "tailjit approvals for pull request #7: satisfied" in result.out
    assert "prod (alice@example.com): 2 of 2 approval(s) from @acme/sre, @dana-gh; enough" in result.out
    assert "  counts: dana-gh approved " in result.out and "  counts: sam approved " in result.out
    teams = [path for _, path in fake.requests if "/teams/" in path]
    assert teams == ["/orgs/acme/teams/sre/members?per_page=100", "/orgs/acme/teams/sre/members?per_page=100&page=2"]


def test_one_approval_of_two_is_not_enough(repo: AccessRepo, fake: FakeGitHub) -> None:
    fake.add_pull(7, author="bob", files={ALICE: GRANT})
    fake.review(7, "sam", "APPROVED")
    result = check(repo)
    assert result.code == 1
    assert "NOT satisfied" in result.out
    assert "prod (alice@example.com): 1 of 2 approval(s) from @acme/sre, @dana-gh; 1 more needed" in result.out


def test_the_grantee_approving_does_not_count(repo: AccessRepo, fake: FakeGitHub) -> None:
    fake.add_pull(7, author="bob", files={ALICE: GRANT})
    fake.review(7, "alice-gh", "APPROVED")
    fake.review(7, "sam", "APPROVED")
    result = check(repo)
    assert result.code == 1
    assert "  does not count: alice-gh is the grantee (alice@example.com)" in result.out


def test_two_approvals_from_one_person_count_once(repo: AccessRepo, fake: FakeGitHub) -> None:
    fake.add_pull(7, author="bob", files={ALICE: GRANT})
    fake.review(7, "dana-gh", "APPROVED")
    fake.review(7, "dana-gh", "APPROVED")
    assert check(repo).code == 1
    fake.review(7, "erin", "APPROVED")
    fake.review(7, "erin-2", "APPROVED")  # a second GitHub account of the same Tailscale login
    result = check(repo)
    assert result.code == 0, result.out
    assert "does not count: erin-2 is the same person (erin@example.com) as erin, who already counts" in result.out
    assert result.out.count("counts: dana-gh") == 1


def test_a_team_member_counts_and_a_non_member_does_not(repo: AccessRepo, fake: FakeGitHub) -> None:
    fake.add_pull(7, author="bob", files={ALICE: GRANT})
    fake.review(7, "zoe", "APPROVED")
    fake.review(7, "sam", "APPROVED")
    result = check(repo)
    assert result.code == 1
    assert "does not count: zoe is not one of prod's approvers (@acme/sre, @dana-gh)" in result.out
    assert "counts: sam" in result.out


def test_a_dismissed_approval_and_a_change_request_do_not_count(repo: AccessRepo, fake: FakeGitHub) -> None:
    fake.add_pull(7, author="bob", files={ALICE: GRANT})
    dana = fake.review(7, "dana-gh", "APPROVED")
    fake.review(7, "sam", "APPROVED")
    fake.review(7, "sam", "COMMENTED")  # a comment after approving changes nothing, as on GitHub
    assert check(repo).code == 0
    fake.dismiss(7, dana["id"])
    result = check(repo)
    assert result.code == 1
    assert "does not count: dana-gh their approval was dismissed" in result.out
    fake.review(7, "dana-gh", "APPROVED")
    fake.review(7, "sam", "CHANGES_REQUESTED")
    result = check(repo)
    assert "does not count: sam requested changes" in result.out and result.code == 1


def test_a_push_to_a_grant_file_after_approval_makes_the_approvals_stale(repo: AccessRepo, fake: FakeGitHub) -> None:
    fake.add_pull(7, author="bob", files={ALICE: GRANT})
    fake.review(7, "dana-gh", "APPROVED")
    fake.review(7, "sam", "APPROVED")
    fake.push(7, {"README.md": b"a note"})  # not a grant file: the approvals stand
    assert check(repo).code == 0
    change = fake.push(7, {ALICE: GRANT.replace(b"4h", b"8h")})
    fake.push(7, {"README.md": b"another note"})
    result = check(repo)
    assert result.code == 1
    assert f"before the grant files changed in {change[:12]}: a new approval is needed" in result.out
    fake.review(7, "dana-gh", "APPROVED")
    fake.review(7, "sam", "APPROVED")
    assert check(repo).code == 0


def test_an_approval_of_a_commit_force_pushed_away_does_not_count(repo: AccessRepo, fake: FakeGitHub) -> None:
    fake.add_pull(7, author="bob", files={ALICE: GRANT})
    fake.review(7, "dana-gh", "APPROVED", commit="f" * 40)
    fake.review(7, "sam", "APPROVED")
    result = check(repo)
    assert result.code == 1
    assert "does not count: dana-gh approved ffffffffffff, which is no longer in the pull request" in result.out


def test_the_author_and_an_unknown_reviewer_do_not_count(repo: AccessRepo, fake: FakeGitHub) -> None:
    fake.add_pull(7, author="dana-gh", files={ALICE: GRANT})
    fake.review(7, "dana-gh", "APPROVED")
    fake.review(7, "mallory", "APPROVED")
    result = check(repo)
    assert "does not count: dana-gh is the pull request's author" in result.out
    assert ("does not count: mallory has no 'github:mallory' entry under identities in tailjit.yaml, so tailjit "
            "cannot tell that they are not the grantee") in result.out


def test_each_target_needs_its_own_approvers(repo: AccessRepo, fake: FakeGitHub) -> None:
    bob = b"user: bob@example.com\ntarget: staging\nreason: load test\nduration: 2d\n"
    fake.add_pull(7, author="carol", files={ALICE: GRANT, "policy/grants/staging/bob.yaml": bob})
    fake.review(7, "dana-gh", "APPROVED")
    fake.review(7, "sam", "APPROVED")
    result = check(repo)
    assert result.code == 1
    assert "staging (bob@example.com): 0 of 1 approval(s) from @frank; 1 more needed" in result.out
    fake.review(7, "frank", "APPROVED")
    assert check(repo).code == 0


def test_break_glass_by_an_allowed_user_with_the_label_needs_no_approval(repo: AccessRepo, fake: FakeGitHub) -> None:
    fake.add_pull(7, author="alice-gh", files={ALICE: BREAK_GLASS}, labels=("break-glass",))
    result = check(repo)
    assert result.code == 0, result.out + result.err
    assert "prod (alice@example.com): break glass, no approval needed" in result.out
    assert "note: break glass: alice@example.com for at most 1h, with no approval" in result.out
    assert not [path for _, path in fake.requests if "/teams/" in path], "nobody approved: no team is looked up"


def test_break_glass_by_a_user_not_allowed_needs_approvals(repo: AccessRepo, fake: FakeGitHub) -> None:
    zed = BREAK_GLASS.replace(b"alice@example.com", b"zed@contractors.example")
    fake.add_pull(7, author="bob", files={"policy/grants/prod/zed.yaml": zed}, labels=("break-glass",))
    result = check(repo)
    assert result.code == 1
    assert ("note: prod/zed.yaml: zed@contractors.example may not use break glass on 'prod': allowed are "
            "*@example.com") in result.out
    assert "note: so approvals are needed as usual" in result.out


def test_break_glass_longer_than_its_maximum_or_without_the_label_needs_approvals(
        repo: AccessRepo, fake: FakeGitHub) -> None:
    fake.add_pull(7, author="bob", files={ALICE: BREAK_GLASS.replace(b"1h", b"2h")}, labels=("break-glass",))
    assert "break glass lasts at most 1h on 'prod'; this grant lasts 2h" in check(repo).out
    fake.add_pull(8, author="bob", files={ALICE: BREAK_GLASS})
    result = check(repo, 8)
    assert result.code == 1
    assert "the pull request is not labelled 'break-glass': approvals are needed as usual" in result.out


def test_a_grant_breaking_the_request_rules_fails_the_check(repo: AccessRepo, fake: FakeGitHub) -> None:
    zed = b"user: zed@contractors.example\ntarget: staging\nreason: load test\nduration: 2d\n"
    fake.add_pull(7, author="bob", files={"policy/grants/staging/zed.yaml": zed,
                                          "policy/grants/nope/x.yaml": GRANT})
    fake.review(7, "frank", "APPROVED")
    result = check(repo)
    assert result.code == 1
    assert ("error: policy/grants/staging/zed.yaml:1: zed@contractors.example may not be granted 'staging': its "
            "requesters are *@example.com") in result.err
    assert "error: policy/grants/nope/x.yaml: unknown target 'nope': the base branch's tailjit.yaml" in result.err


def test_removing_grants_or_changing_no_grant_needs_nothing(repo: AccessRepo, fake: FakeGitHub) -> None:
    fake.add_pull(7, author="bob", base={ALICE: GRANT}, files={ALICE: None})
    result = check(repo)
    assert result.code == 0
    assert f"Removed (a revocation needs no approval): {ALICE}" in result.out
    fake.add_pull(8, author="bob", files={"README.md": b"docs"})
    assert "No grant file is added or changed: nothing needs approval." in check(repo, 8).out


def test_the_job_summary_says_who_counted(repo: AccessRepo, fake: FakeGitHub, monkeypatch: pytest.MonkeyPatch,
                                          tmp_path: Path) -> None:
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    fake.add_pull(7, author="bob", files={ALICE: GRANT})
    fake.review(7, "alice-gh", "APPROVED")
    assert check(repo).code == 1
    text = summary.read_text()
    assert text.startswith("### tailjit approvals for pull request #7: NOT satisfied\n")
    assert "| `alice-gh` | no | is the grantee (alice@example.com) |" in text


def test_without_a_token_the_check_fails(repo: AccessRepo, fake: FakeGitHub, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GITHUB_TOKEN")
    result = check(repo)
    assert result.code == 1
    assert "error: cannot check the approvals: GITHUB_TOKEN not set" in result.err


@pytest.mark.parametrize(("path", "status", "body", "expected"), [
    ("/repos/example/access/pulls/7/reviews", 200, b"[{not json",
     "listing the reviews of #7: GitHub answered HTTP 200 without JSON"),
    ("/repos/example/access/pulls/7/reviews", 200, json.dumps([{"state": "APPROVED"}] * 101).encode(),
     "listing the reviews of #7: GitHub answered 101 items on a page of at most 100"),
    ("/repos/example/access/pulls/7/reviews", 200, b"[" + b" " * (9 * 1024 * 1024) + b"]",
     "listing the reviews of #7: the answer is 9,437,186 bytes, more than the 8,388,608 tailjit reads"),
    ("/repos/example/access/pulls/7/reviews", 200, b'{"message": "a dict"}',
     "listing the reviews of #7: GitHub answered something other than a list of objects"),
    ("/repos/example/access/pulls/7", 200, b'{"user": {"login": "bob"}, "head": {}}',
     "reading pull request #7: GitHub's answer has no head.sha"),
    ("/repos/example/access/pulls/7/files", 200, b'[{"status": "added"}]',
     "listing the files of #7: GitHub's answer has no filename"),
    ("/orgs/acme/teams/sre/members", 404, b'{"message": "Not Found"}',
     "listing the members of @acme/sre: HTTP 404: Not Found"),
])
def test_a_hostile_or_broken_answer_fails_the_check_clearly(repo: AccessRepo, fake: FakeGitHub, path: str,
                                                            status: int, body: bytes, expected: str) -> None:
    fake.add_pull(7, author="bob", files={ALICE: GRANT})
    fake.review(7, "dana-gh", "APPROVED")
    fake.review(7, "sam", "APPROVED")
    fake.answer_raw(path, status, body)
    result = check(repo)
    assert result.code == 1
    assert f"error: {expected}" in result.err
    assert "satisfied" not in result.out


def test_a_huge_answer_of_unknown_length_is_refused_as_it_arrives(repo: AccessRepo, fake: FakeGitHub) -> None:
    fake.add_pull(7, author="bob", files={ALICE: GRANT})
    fake.answer_raw("/repos/example/access/pulls/7/reviews", 200, b"[" + b" " * (20 * 1024 * 1024) + b"]",
                    length=False)
    result = check(repo)
    assert result.code == 1
    assert "error: listing the reviews of #7: the answer is more than the 8,388,608 bytes tailjit reads" in result.err


def test_a_team_the_token_cannot_see_says_which_token_to_use(repo: AccessRepo, fake: FakeGitHub) -> None:
    fake.teams.clear()
    fake.add_pull(7, author="bob", files={ALICE: GRANT})
    fake.review(7, "sam", "APPROVED")
    result = check(repo)
    assert result.code == 1
    assert "hint: the token cannot see the team, or it does not exist" in result.err
    assert "Members: read" in result.err


@pytest.mark.slow
def test_server_errors_are_retried_then_fail_the_check(repo: AccessRepo, fake: FakeGitHub) -> None:
    fake.add_pull(7, author="bob", files={ALICE: GRANT})
    fake.fail_next(3, 500)
    result = check(repo)
    assert result.code == 1
    assert "error: reading pull request #7 failed 3 time(s); the last attempt: HTTP 500: Server Error" in result.err
    fake.fail_next(1, 502)
    fake.review(7, "dana-gh", "APPROVED")
    fake.review(7, "sam", "APPROVED")
    assert check(repo).code == 0, "one failure is ridden out"


def test_a_slow_github_times_out_and_fails_the_check(repo: AccessRepo, fake: FakeGitHub,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    fake.add_pull(7, author="bob", files={ALICE: GRANT})
    monkeypatch.setenv("TAILJIT_HTTP_TIMEOUT", "0.2")
    monkeypatch.setenv("TAILJIT_HTTP_RETRIES", "0")
    fake.delay = 5.0
    result = check(repo)
    assert result.code == 1
    assert "error: reading pull request #7 failed 1 time(s); the last attempt: timed out after 0.2s" in result.err
    monkeypatch.setenv("TAILJIT_HTTP_TIMEOUT", "soon")
    assert "error: TAILJIT_HTTP_TIMEOUT='soon' is not a number" in check(repo).err


def test_more_commits_than_github_lists_fails_the_check(repo: AccessRepo, fake: FakeGitHub) -> None:
    pull = fake.add_pull(7, author="bob", files={ALICE: GRANT})
    pull.commit_count = 300
    result = check(repo)
    assert result.code == 1
    assert "error: pull request #7 has 300 commits; GitHub lists only 250" in result.err


def test_what_one_check_asks_github(repo: AccessRepo, fake: FakeGitHub) -> None:
    fake.add_pull(7, author="bob", files={ALICE: GRANT})
    first = fake.review(7, "dana-gh", "APPROVED")["commit_id"]
    fake.push(7, {"README.md": b"a note"})
    fake.review(7, "sam", "APPROVED")
    assert check(repo).code == 0
    base = "/repos/example/access"
    assert [path for _, path in fake.requests] == [
        f"{base}/pulls/7",
        f"{base}/pulls/7/files?per_page=100",
        f"{base}/contents/{ALICE}?ref={fake.pulls[7].head.sha}",
        f"{base}/pulls/7/reviews?per_page=100",
        f"{base}/pulls/7/commits?per_page=100",
        f"{base}/commits/{fake.pulls[7].head.sha}?per_page=100",  # the one commit after the oldest approval
        "/orgs/acme/teams/sre/members?per_page=100",
        "/orgs/acme/teams/sre/members?per_page=100&page=2",
    ]
    assert first != fake.pulls[7].head.sha


def test_an_unknown_pull_request_or_too_many_grant_files_fail_clearly(repo: AccessRepo, fake: FakeGitHub) -> None:
    result = check(repo, 99)
    assert result.code == 1
    assert "error: reading pull request #99: HTTP 404: Not Found" in result.err
    assert "hint: check that example/access and the pull request number exist" in result.err
    fake.add_pull(7, author="bob", files={f"policy/grants/prod/a{i}.yaml": GRANT for i in range(101)})
    result = check(repo)
    assert result.code == 1
    assert "error: pull request #7 changes more than 100 grant files; they are not checked one by one" in result.err
