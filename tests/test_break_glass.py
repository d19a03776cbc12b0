"""Break glass after the merge: apply opens one review issue per grant (never failing when GitHub is down),
and audit marks the grant reviewed or not, against the fake GitHub API and a real git history."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from typing import Any

import pytest

from reconciler.core.durations import format_time
from tests.support.access import AccessRepo, Result
from tests.support.fake_github import FakeGitHub, Issue, serve
from tests.support.gitutil import ALICE, CAROL, GITHUB, RepoBuilder, at, files_under

TOKEN = "ghs_" + "br3akglass" * 4
CONFIG = """\
tailnet: "-"
backend: file:tailnet.hujson
targets:
  prod:
    group: group:prod
    max_duration: 8h
    approvers: ["@acme/sre"]
    break_glass:
      max_duration: 1h
      allowed: ["*@example.com"]
  staging:
    group: group:staging
    max_duration: 7d
"""
GLASS = "user: alice@example.com\ntarget: prod\nreason: INC-9 database <b>down</b> @here\nduration: 1h\nbreak_glass: true\n"
MERGED = at(1)
DURING = format_time(at(1.5))


pytestmark = pytest.mark.usefixtures("no_machine_git_config")


@pytest.fixture
def merged(repo: AccessRepo) -> RepoBuilder:
    """Alice's break-glass grant merged at ``MERGED``, with no approval."""
    repo.config.write_text(CONFIG)
    b = RepoBuilder.init(repo.root)
    b.commit(files_under(repo.root), at(0), author=CAROL)
    b.commit({"policy/grants/prod/alice.yaml": GLASS}, at(0.5), author=ALICE, branch="access/prod/alice")
    b.merge("access/prod/alice", MERGED, author=ALICE, committer=GITHUB)
    b.checkout()
    return b


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeGitHub]:
    with serve(token=TOKEN) as fake:
        for name, value in {"GITHUB_TOKEN": TOKEN, "GITHUB_REPOSITORY": fake.repository,
                            "GITHUB_API_URL": fake.url}.items():
            monkeypatch.setenv(name, value)
        yield fake


def run(repo: AccessRepo, *args: str) -> Result:
    result = repo.run(*args)
    assert TOKEN not in result.out + result.err
    return result


def audit_rows(repo: AccessRepo) -> dict[str, dict[str, Any]]:
    result = run(repo, "audit", "--format", "json")
    assert result.code == 0, result.err
    return {row["file"].split("/")[-1]: row for row in json.loads(result.out)["grants"]}


def test_apply_opens_one_review_issue_per_grant(repo: AccessRepo, merged: RepoBuilder, fake: FakeGitHub) -> None:
    first = run(repo, "apply", "--at", DURING)
    assert first.code == 0, first.err
    assert "alice@example.com" in repo.tailnet.read_text()
    [issue] = fake.issues
    assert f"Opened break-glass review issue #{issue.number} for prod/alice.yaml" in first.out
    assert issue.title == "Review break-glass access: alice@example.com to prod"
    assert issue.labels == ["tailjit-break-glass"]
    assert issue.body.startswith(
        f"<!-- tailjit:break-glass policy/grants/prod/alice.yaml {format_time(MERGED)} -->\n")
    assert "| who | `alice@example.com` |" in issue.body
    assert "| what | prod (`group:prod`) |" in issue.body
    assert f"| until | {format_time(at(2))} |" in issue.body
    assert "| why | INC-9 database \\<b\\>down\\</b\\> @\u200bhere |" in issue.body, "no HTML, no mention"
    assert "Reviewers: @acme/sre" in issue.body
    second = run(repo, "apply", "--at", DURING)
    assert second.code == 0
    assert "Opened" not in second.out
    assert len(fake.issues) == 1, "found again by its marker: never a second issue"


def test_a_persons_issue_or_a_pull_request_with_the_marker_is_not_the_review(
        repo: AccessRepo, merged: RepoBuilder, fake: FakeGitHub) -> None:
    marker = f"<!-- tailjit:break-glass policy/grants/prod/alice.yaml {format_time(MERGED)} -->"
    fake.issues.append(Issue(400, "fake review", marker, ["tailjit-break-glass"], login="mallory", bot=False,
                             state="closed"))
    fake.add_pull(9, author="mallory", files={"x": b"y"}, labels=("tailjit-break-glass",))
    run(repo, "apply", "--at", DURING)
    assert [i.login for i in fake.issues] == ["mallory", "github-actions[bot]"]


def test_grants_that_are_not_break_glass_or_not_active_open_no_issue(
        repo: AccessRepo, merged: RepoBuilder, fake: FakeGitHub) -> None:
    assert run(repo, "apply", "--at", format_time(at(3))).code == 0  # expired by then
    assert fake.issues == [] and fake.requests == []


def test_apply_never_fails_because_github_is_down(repo: AccessRepo, merged: RepoBuilder, fake: FakeGitHub) -> None:
    fake.fail_next(10, 503)
    result = run(repo, "apply", "--at", DURING)
    assert result.code == 0, result.err
    assert "alice@example.com" in repo.tailnet.read_text(), "access is applied before GitHub is asked"
    assert "warning: listing break-glass issues failed 2 time(s)" in result.err
    assert "the next apply tries again" in result.err
    fake.failures.clear()
    assert "Opened break-glass review issue" in run(repo, "apply", "--at", DURING).out


def test_apply_without_a_token_or_with_github_unreachable_warns_only(
        repo: AccessRepo, merged: RepoBuilder, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GITHUB_TOKEN", raising=False)
    monkeypatch.setenv("GITHUB_REPOSITORY", "example/access")
    result = run(repo, "apply", "--at", DURING)
    assert result.code == 0
    assert "warning: cannot open break-glass review issues: GITHUB_TOKEN not set" in result.err
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    monkeypatch.setenv("GITHUB_API_URL", f"http://127.0.0.1:{closed}")
    result = run(repo, "apply", "--at", DURING)
    assert result.code == 0
    assert "could not connect" in result.err


def test_a_slow_github_delays_apply_by_its_timeout_only(repo: AccessRepo, merged: RepoBuilder, fake: FakeGitHub,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TAILJIT_HTTP_TIMEOUT", "0.2")
    monkeypatch.setenv("TAILJIT_HTTP_RETRIES", "0")
    fake.delay = 5.0
    result = run(repo, "apply", "--at", DURING)
    assert result.code == 0
    assert "alice@example.com" in repo.tailnet.read_text()
    assert "warning: listing break-glass issues failed 1 time(s); the last attempt: timed out after 0.2s" in result.err


def test_a_revocation_is_never_blocked_by_github(repo: AccessRepo, merged: RepoBuilder, fake: FakeGitHub) -> None:
    assert run(repo, "apply", "--at", DURING).code == 0
    asked = len(fake.requests)
    fake.fail_next(10, 500)
    result = run(repo, "apply", "--at", format_time(at(2.5)))
    assert result.code == 0
    assert "alice@example.com" not in repo.tailnet.read_text()
    assert len(fake.requests) == asked, "expired: GitHub is not even asked"


def test_audit_marks_break_glass_reviewed_or_not(repo: AccessRepo, merged: RepoBuilder, fake: FakeGitHub) -> None:
    run(repo, "apply", "--at", DURING)
    [issue] = fake.issues
    row = audit_rows(repo)["alice.yaml"]
    assert (row["break_glass"], row["review"], row["review_issue"]) == (True, "not reviewed", issue.number)
    fake.close_issue(issue.number)
    row = audit_rows(repo)["alice.yaml"]
    assert (row["review"], row["review_issue"]) == ("reviewed", issue.number)
    table = run(repo, "audit").out
    assert table.splitlines()[0].rstrip().endswith("BREAK GLASS")
    assert f"reviewed (#{issue.number})" in table


def test_audit_says_when_there_is_no_review_issue_or_no_token(
        repo: AccessRepo, merged: RepoBuilder, fake: FakeGitHub, monkeypatch: pytest.MonkeyPatch) -> None:
    assert audit_rows(repo)["alice.yaml"]["review"] == "no review issue"
    monkeypatch.delenv("GITHUB_TOKEN")
    result = run(repo, "audit")
    assert "note: 1 break-glass grant(s); set GITHUB_TOKEN and GITHUB_REPOSITORY" in result.err
    assert "review unknown" in result.out
    fake.fail_next(10, 500)
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    result = run(repo, "audit", "--format", "json")
    assert result.code == 0 and "warning: listing break-glass issues" in result.err
    assert json.loads(result.out)["grants"][0]["review"] is None
