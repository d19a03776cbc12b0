"""``tailjit request``: made from the default branch whatever is checked out, ``--start`` / ``--expires``,
a warning for a login taken from an unmapped git email, errors that name what was typed, and ``--open``
against the fake GitHub API (``POST /repos/{owner}/{repo}/pulls``)."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pygit2
import pytest

from tests.support.access import CLI_NOW, AccessRepo
from tests.support.fake_github import serve
from tests.support.gitutil import Person, RepoBuilder, publish, set_identity
from tests.support.requesting import request, requester_clone

TOKEN = "ghs-open-SECRET-token"

pytestmark = pytest.mark.usefixtures("no_machine_git_config")


def iso(delta: timedelta) -> str:
    """The CLI's (fixed) now plus ``delta``, as typed on the command line."""
    return (CLI_NOW.replace(microsecond=0) + delta).isoformat().replace("+00:00", "Z")


@pytest.fixture
def work(repo: AccessRepo) -> RepoBuilder:
    return requester_clone(repo)


def test_a_second_request_on_a_request_branch_is_made_from_the_default_branch(
        repo: AccessRepo, work: RepoBuilder) -> None:
    assert request(repo, "--for", "1h")[0] == 0
    first = work.repo.head.peel(pygit2.Commit)
    code, out, err = request(repo, "--for", "2h", "--user", "bob@example.com")
    assert code == 0, err
    second = work.repo.head.peel(pygit2.Commit)
    assert second.parents[0].id == work.tip("main"), "not stacked on the first request"
    assert first.id not in [p.id for p in second.parents]
    assert "(from main)" in out
    files = sorted(p.name for p in (repo.root / "policy" / "grants" / "prod").iterdir())
    assert len(files) == 1 and files[0].startswith("bob@example.com-"), "the first request's file is not here"
    assert work.repo.status() == {}


def test_a_request_made_on_a_branch_with_local_changes_in_the_way_changes_nothing(
        repo: AccessRepo, work: RepoBuilder) -> None:
    assert request(repo, "--for", "1h")[0] == 0
    grant = next((repo.root / "policy" / "grants" / "prod").iterdir())
    grant.write_text(grant.read_text() + "# my notes\n")
    branches = sorted(work.repo.branches.local)
    code, _, err = request(repo, "--for", "2h", "--user", "bob@example.com")
    assert code == 1
    assert "cannot switch to the new branch" in err and "git stash" in err
    assert sorted(work.repo.branches.local) == branches
    assert grant.read_text().endswith("# my notes\n")


def test_start_and_expires_make_a_scheduled_window(repo: AccessRepo, work: RepoBuilder) -> None:
    start, end = iso(timedelta(hours=2)), iso(timedelta(hours=5))
    code, out, err = request(repo, "--start", start, "--expires", end)
    assert code == 0, err
    assert f"until {end} from {start}" in out
    status = json.loads(repo.run("status", "--json").out)
    (row,) = status["grants"]
    assert (row["start"], row["end"]) == (start, end)
    assert row["state"] == "unknown" and row["problem"].startswith("not merged yet")
    assert repo.run("validate").code == 0


@pytest.mark.parametrize(("args", "code", "message"), [
    (("--start", "{past}", "--for", "1h"), 2, "error: --start {past} is in the past"),
    (("--expires", "{past}"), 2, "error: --expires {past} is not after now"),
    (("--expires", "{far}"), 1, "error: --expires {far} is 1d from now, longer than target 'prod' allows (8h)"),
    (("--for", "1h", "--expires", "{far}"), 2, "give --for 1h or --expires {far}, not both"),
    (("--start", "tomorrow", "--for", "1h"), 2, "Invalid value for '--start': 'tomorrow' is not an ISO 8601 time"),
])
def test_bad_windows_are_refused_naming_what_was_typed(repo: AccessRepo, work: RepoBuilder,
                                                        args: tuple[str, ...], code: int, message: str) -> None:
    times = {"past": iso(timedelta(hours=-1)), "far": iso(timedelta(days=1))}
    result = request(repo, *(a.format(**times) for a in args))
    assert result[0] == code
    assert message.format(**times) in result[2]
    assert "policy/grants" not in result[2]
    assert list(work.repo.branches.local) == ["main"]


def test_a_login_from_an_unmapped_git_email_is_warned_about(repo: AccessRepo, work: RepoBuilder) -> None:
    set_identity(work.repo, Person("Bob", "bob@corp.example"))
    code, out, err = request(repo, "--for", "1h")
    assert code == 0
    assert ("warning: your git email bob@corp.example is not under 'identities' in policy/tailjit.yaml, so it is "
            "used as your Tailscale login; if that is not your login, pass --user LOGIN") in err
    assert "grants bob@corp.example prod" in out
    assert "warning" not in request(repo, "--for", "1h", "--user", "bob@example.com")[2]


def test_a_git_email_that_is_no_login_is_named_as_such(repo: AccessRepo, work: RepoBuilder) -> None:
    work.repo.config["user.email"] = "alice"
    code, _, err = request(repo, "--for", "1h")
    assert code == 1
    assert "your git email 'alice' is not a Tailscale login such as alice@example.com" in err
    code, _, err = request(repo, "--for", "1h", "--user", "group:admin")
    assert "--user 'group:admin' is not a Tailscale login" in err


def test_open_opens_the_pull_request_through_the_github_api(
        repo: AccessRepo, work: RepoBuilder, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    origin = publish(work.repo, tmp_path / "origin.git")
    with serve(token=TOKEN, repository="acme/access") as fake:
        monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
        monkeypatch.setenv("GITHUB_REPOSITORY", "acme/access")
        monkeypatch.setenv("GITHUB_API_URL", fake.url)
        code, out, err = request(repo, "--for", "4h", "--open")
        assert code == 0, err
        (opened,) = fake.opened
        branch = work.repo.head.shorthand
        assert (opened["head"]["ref"], opened["base"]["ref"]) == (branch, "main")
        assert opened["title"] == "Request prod access for alice@example.com (for 4h)"
        assert opened["body"].startswith("Investigate INC-1234")
        assert f"Opened pull request #900: {fake.url}/acme/access/pull/900" in out
        assert fake.requests == [("POST", "/repos/acme/access/pulls")]
    assert origin.repo.references[f"refs/heads/{branch}"].target == work.repo.head.target
    assert TOKEN not in out + err


def test_open_when_github_refuses_says_the_branch_is_pushed(
        repo: AccessRepo, work: RepoBuilder, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    publish(work.repo, tmp_path / "origin.git")
    with serve(token=TOKEN, repository="acme/access") as fake:
        monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
        monkeypatch.setenv("GITHUB_REPOSITORY", "acme/access")
        monkeypatch.setenv("GITHUB_API_URL", fake.url)
        day = CLI_NOW.date().isoformat()
        fake.opened.append({"head": {"ref": f"access/prod/alice@example.com-{day}"}, "base": {"ref": "main"}})
        code, out, err = request(repo, "--for", "4h", "--open")
    assert code == 1
    assert "Pushed access/prod/alice@example.com-" in out
    assert "HTTP 422" in err and "hint: the branch is pushed; one may be open for it already" in err


def test_open_without_a_token_prints_where_to_open_it(
        repo: AccessRepo, work: RepoBuilder, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    publish(work.repo, tmp_path / "origin.git")
    for name in ("GITHUB_TOKEN", "GH_TOKEN", "TAILJIT_GIT_TOKEN", "GITHUB_REPOSITORY"):
        monkeypatch.delenv(name, raising=False)
    code, out, _ = request(repo, "--for", "4h", "--open")
    assert code == 0
    assert "Not opened through the GitHub API: GITHUB_TOKEN (or GH_TOKEN) is not set." in out
    assert "Open a pull request from access/prod/alice@example.com-" in out
