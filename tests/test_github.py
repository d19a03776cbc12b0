"""GitHub: annotations, the job summary, and the sticky plan comment against a loopback fake of the REST API."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from reconciler.credentials.tokens import Secret
from reconciler.errors import GitHubError
from reconciler.github.actions import annotation, event_head_sha
from reconciler.github.api import GitHub
from reconciler.text.comment import MARKER, code_block
from tests.support.access import AccessRepo
from tests.support.fake_github import FakeGitHub, serve

TOKEN = "ghs_" + "s3cret" * 6
ALICE = """\
user: alice@example.com
target: prod
reason: Investigate INC-1234
start: 2026-11-24T10:00:00Z
duration: 4h
"""
AT = "2026-11-24T12:00:00Z"


@pytest.fixture
def fake() -> Iterator[FakeGitHub]:
    with serve(token=TOKEN) as fake:
        yield fake


def client(fake: FakeGitHub, token: str = TOKEN) -> GitHub:
    return GitHub(fake.repository, Secret(token), fake.url, retries=0)


def test_annotation_escapes_what_would_end_the_command() -> None:
    assert annotation("error", "50% bad\nsecond line", path="policy/grants/prod/a,b:c.yaml", line=3) == \
        "::error file=policy/grants/prod/a%2Cb%3Ac.yaml,line=3::50%25 bad%0Asecond line"
    assert annotation("warning", "no file") == "::warning::no file"


def test_code_block_fence_outlasts_backticks_inside() -> None:
    assert code_block("a ``` b") == "````diff\na ``` b\n````\n"
    assert code_block("plain\n") == "```diff\nplain\n```\n"


def test_event_head_sha_reads_the_pull_request_head(tmp_path: Path) -> None:
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"pull_request": {"head": {"sha": "f" * 40}}}))
    assert event_head_sha({"GITHUB_EVENT_PATH": str(event)}) == "f" * 40
    event.write_text(json.dumps({"schedule": "*/5 * * * *"}))
    assert event_head_sha({"GITHUB_EVENT_PATH": str(event)}) is None
    assert event_head_sha({}) is None


def test_event_head_sha_reads_the_head_of_the_run_that_started_a_workflow_run(tmp_path: Path) -> None:
    """The plan comment's job runs on workflow_run: the pull request's commit is the triggering run's head."""
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"workflow_run": {"head_sha": "e" * 40, "event": "pull_request"}}))
    assert event_head_sha({"GITHUB_EVENT_PATH": str(event)}) == "e" * 40
    for hostile in ([1, 2], "pull_request", {"workflow_run": ["x"]}, {"pull_request": None}):
        event.write_text(json.dumps(hostile))
        assert event_head_sha({"GITHUB_EVENT_PATH": str(event)}) is None


def test_upsert_creates_the_comment_once_then_edits_it(fake: FakeGitHub) -> None:
    gh = client(fake)
    first = gh.upsert_comment(7, MARKER + "\nplan one")
    second = gh.upsert_comment(7, MARKER + "\nplan two")
    third = gh.upsert_comment(7, MARKER + "\nplan two")
    assert (first.action, second.action, third.action) == ("created", "updated", "unchanged")
    assert first.id == second.id == third.id
    assert [c.body for c in fake.comments_on(7)] == [MARKER + "\nplan two"]
    assert fake.count("POST") == 1 and fake.count("PATCH") == 1
    assert second.url.endswith(f"/example/access/pull/7#issuecomment-{first.id}")


def test_upsert_finds_its_comment_on_a_later_page(fake: FakeGitHub) -> None:
    for i in range(150):
        fake.add_comment(7, f"review remark {i}")
    sticky = fake.add_comment(7, MARKER + "\nold plan", login="github-actions[bot]", bot=True)
    fake.add_comment(7, "a remark after the plan")
    result = client(fake).upsert_comment(7, MARKER + "\nnew plan")
    assert (result.action, result.id) == ("updated", sticky.id)
    assert len(fake.comments_on(7)) == 152
    gets = [path for method, path in fake.requests if method == "GET"]
    assert gets == ["/repos/example/access/issues/7/comments?per_page=100",
                    "/repos/example/access/issues/7/comments?per_page=100&page=2"]


def test_a_person_quoting_the_marker_is_never_overwritten(fake: FakeGitHub) -> None:
    quoted = fake.add_comment(7, MARKER + "\nI pasted the bot's comment", login="dana")
    result = client(fake).upsert_comment(7, MARKER + "\nplan")
    assert result.action == "created"
    assert quoted.body == MARKER + "\nI pasted the bot's comment"
    assert fake.count("PATCH") == 0


def test_comments_on_other_pull_requests_are_left_alone(fake: FakeGitHub) -> None:
    other = fake.add_comment(8, MARKER + "\nplan of #8", login="github-actions[bot]", bot=True)
    client(fake).upsert_comment(7, MARKER + "\nplan of #7")
    assert other.body == MARKER + "\nplan of #8"
    assert [c.body for c in fake.comments_on(7)] == [MARKER + "\nplan of #7"]


def test_a_refused_token_is_a_clear_error_that_never_shows_the_token(fake: FakeGitHub) -> None:
    with pytest.raises(GitHubError) as caught:
        client(fake, token=TOKEN + "-wrong").upsert_comment(7, MARKER + "\nplan")
    error = caught.value
    assert "listing the comments of #7 was refused (HTTP 401: Bad credentials)" in str(error)
    assert error.hint is not None and "GITHUB_TOKEN" in error.hint
    assert TOKEN not in str(error) + error.hint
    assert fake.authorizations == [f"Bearer {TOKEN}-wrong"]


def test_a_fork_token_without_write_access_says_why(fake: FakeGitHub) -> None:
    fake.fail_next(1, 403)
    with pytest.raises(GitHubError) as caught:
        client(fake).upsert_comment(7, MARKER)
    assert caught.value.hint is not None and "pull-requests: write" in caught.value.hint


def test_server_errors_are_retried_then_reported(fake: FakeGitHub) -> None:
    waits: list[float] = []
    fake.fail_next(1, 502)
    gh = GitHub(fake.repository, Secret(TOKEN), fake.url, retries=1, sleep=waits.append)
    assert gh.upsert_comment(7, MARKER).action == "created"
    assert len(waits) == 1 and 0 < waits[0] <= 0.5, "one backoff, taken on the injected sleep"
    fake.fail_next(2, 503)
    with pytest.raises(GitHubError, match=r"failed 2 time\(s\); the last attempt: HTTP 503") as caught:
        GitHub(fake.repository, Secret(TOKEN), fake.url, retries=1, sleep=waits.append).upsert_comment(7, MARKER + "x")
    assert caught.value.hint is not None and "githubstatus.com" in caught.value.hint
    assert "Tailscale" not in str(caught.value) + caught.value.hint


def test_from_env_needs_token_and_repository() -> None:
    with pytest.raises(GitHubError, match="GITHUB_TOKEN and GITHUB_REPOSITORY not set"):
        GitHub.from_env({})
    with pytest.raises(GitHubError, match="is not owner/name"):
        GitHub.from_env({"GITHUB_TOKEN": "t", "GITHUB_REPOSITORY": "just-a-name"})


def test_a_next_link_to_another_host_is_not_followed_with_the_token(fake: FakeGitHub) -> None:
    for i in range(101):
        fake.add_comment(7, f"remark {i}")
    gh = GitHub(fake.repository, Secret(TOKEN), fake.url.replace("127.0.0.1", "localhost"), retries=0)
    with pytest.raises(GitHubError, match="not following it with the token"):
        gh.upsert_comment(7, MARKER)
    assert len(fake.requests) == 1


def test_plan_pr_posts_then_updates_the_sticky_comment_and_the_summary(
        repo: AccessRepo, fake: FakeGitHub, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    summary = tmp_path / "summary.md"
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"pull_request": {"number": 7, "head": {"sha": "abcdef1234567890" * 2}}}))
    for name, value in {"GITHUB_ACTIONS": "true", "GITHUB_STEP_SUMMARY": str(summary), "GITHUB_TOKEN": TOKEN,
                        "GITHUB_REPOSITORY": fake.repository, "GITHUB_API_URL": fake.url,
                        "GITHUB_EVENT_PATH": str(event)}.items():
        monkeypatch.setenv(name, value)
    repo.grant("prod", "alice.yaml", ALICE)
    first = repo.run("plan", "--at", AT, "--pr", "7")
    assert first.code == 0, first.err
    assert "Plan comment created on pull request #7: " in first.err
    repo.grant("staging", "bob.yaml", ALICE.replace("alice", "bob").replace("prod", "staging"))
    second = repo.run("plan", "--at", AT, "--pr", "7")
    assert second.code == 0, second.err
    assert "Plan comment updated on pull request #7" in second.err
    [posted] = fake.comments_on(7)
    assert posted.body.startswith(MARKER + "\n### tailjit plan: 2 to grant, 0 to revoke")
    assert "| ➕ grant | `bob@example.com` | **staging** `group:staging` |" in posted.body
    assert "for abcdef123456." in posted.body
    assert summary.read_text().count("### tailjit plan:") == 2, "each run appends its plan to the job summary"
    assert TOKEN not in first.out + first.err + second.out + second.err + summary.read_text()


def test_plan_pr_without_a_token_fails_after_printing_the_plan(repo: AccessRepo,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GITHUB_TOKEN", raising=False)
    repo.grant("prod", "alice.yaml", ALICE)
    result = repo.run("plan", "--at", AT, "--pr", "7")
    assert result.code == 1
    assert "+ grant   group:prod  alice@example.com" in result.out
    assert "error: cannot post the plan comment: GITHUB_TOKEN" in result.err
