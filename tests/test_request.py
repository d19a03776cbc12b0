"""``tailjit request`` in a real clone of a real (bare) origin, and the merge that starts the clock."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pygit2
import pytest

from reconciler.git.remote import compare_url, extra_headers
from reconciler.repo import yamlfile
from reconciler.repo.grants import parse_grant
from tests.support.access import CLI_NOW, AccessRepo
from tests.support.gitutil import CAROL, GITHUB, RepoBuilder, publish
from tests.support.requesting import request, requester_clone

TODAY = CLI_NOW.date().isoformat()


pytestmark = pytest.mark.usefixtures("no_machine_git_config")


@pytest.fixture
def work(repo: AccessRepo) -> RepoBuilder:
    return requester_clone(repo)


def test_request_commits_a_valid_grant_file_on_a_new_branch(repo: AccessRepo, work: RepoBuilder) -> None:
    code, out, err = request(repo, "--for", "4h", "--ticket", "INC-1234")
    assert code == 0, err
    branch = f"access/prod/alice@example.com-{TODAY}"
    rel = f"policy/grants/prod/alice@example.com-{TODAY}.yaml"
    assert f"Switched to a new branch {branch} (from main): {rel} grants alice@example.com prod for 4h" in out
    assert work.repo.head.shorthand == branch
    commit = work.repo.head.peel(pygit2.Commit)
    assert (commit.author.name, commit.author.email) == ("Alice Example", "alice@corp.example")
    assert commit.parents[0].id == work.tip("main")
    assert commit.message.startswith("Request prod access for alice@example.com (4h)\n\nInvestigate INC-1234\n")
    committed = commit.tree[rel].peel(pygit2.Blob).data
    assert (repo.root / rel).read_bytes() == committed
    grant = parse_grant(yamlfile.load(committed), rel, "prod")
    assert (grant.user, grant.duration, grant.reason, grant.ticket) == (
        "alice@example.com", timedelta(hours=4), "Investigate INC-1234", "INC-1234")
    assert work.repo.status() == {}  # nothing left staged or modified
    assert "Next: git push -u origin" in out


def test_user_option_and_awkward_reasons_still_make_a_valid_file(repo: AccessRepo, work: RepoBuilder) -> None:
    result = repo.run("request", "--target", "staging", "--for", "2d", "--user", "bob@github",
                      "--reason", "yes: #1 'quoted' \"load test\"", "--ticket", "1234")
    assert result.code == 0, result.err
    rel = f"policy/grants/staging/bob@github-{TODAY}.yaml"
    grant = parse_grant(yamlfile.load((repo.root / rel).read_bytes()), rel, "staging")
    assert (grant.user, grant.reason, grant.ticket) == ("bob@github", "yes: #1 'quoted' \"load test\"", "1234")
    assert repo.run("validate").code == 0


def test_a_second_request_the_same_day_gets_its_own_branch_and_file(repo: AccessRepo, work: RepoBuilder) -> None:
    assert request(repo, "--for", "1h")[0] == 0
    code, out, _ = request(repo, "--for", "2h")
    assert code == 0
    assert f"access/prod/alice@example.com-{TODAY}-2" in out
    assert (repo.root / f"policy/grants/prod/alice@example.com-{TODAY}-2.yaml").is_file()


def test_a_duration_over_the_target_maximum_is_refused(repo: AccessRepo, work: RepoBuilder) -> None:
    code, _, err = request(repo, "--for", "9h")
    assert code == 1
    assert err.startswith("error: --for 9h is longer than target 'prod' allows (8h)\n")
    assert "policy/grants" not in err, "no file that was never written is named"
    assert "hint: ask for at most 8h" in err
    assert work.repo.head.shorthand == "main"
    assert list(work.repo.branches.local) == ["main"]


@pytest.mark.parametrize("value", ["soon", "4", "-1h", "0m"])
def test_a_bad_duration_is_a_usage_error(repo: AccessRepo, work: RepoBuilder, value: str) -> None:
    code, _, err = request(repo, "--for", value)
    assert code == 2
    assert "--for" in err


def test_an_unknown_target_is_refused(repo: AccessRepo, work: RepoBuilder) -> None:
    result = repo.run("request", "--target", "admin", "--for", "1h", "--reason", "x")
    assert result.code == 2
    assert result.err == "error: --target 'admin' is not a target; targets in policy/tailjit.yaml: prod, staging\n"


def test_a_staged_change_is_not_clobbered(repo: AccessRepo, work: RepoBuilder) -> None:
    (repo.root / "notes.txt").write_text("work in progress\n")
    index = work.repo.index
    index.add("notes.txt")
    index.write()
    code, _, err = request(repo, "--for", "1h")
    assert code == 1
    assert "the index has staged changes (notes.txt)" in err
    assert work.repo.head.shorthand == "main"
    assert work.repo.status() == {"notes.txt": pygit2.enums.FileStatus.INDEX_NEW}


def test_without_a_git_identity_the_request_says_how_to_set_one(repo: AccessRepo, work: RepoBuilder) -> None:
    del work.repo.config["user.email"]
    del work.repo.config["user.name"]
    code, _, err = request(repo, "--for", "1h")
    assert code == 1
    assert "no git identity is configured" in err
    assert "git config --global user.email" in err


def test_an_identity_that_is_no_login_needs_user(repo: AccessRepo, work: RepoBuilder) -> None:
    work.repo.config["user.email"] = "alice"
    code, _, err = request(repo, "--for", "1h")
    assert code == 1
    assert "'alice' is not a Tailscale login" in err
    assert "pass --user LOGIN" in err


def test_push_publishes_the_branch_to_origin(repo: AccessRepo, work: RepoBuilder, tmp_path: Path) -> None:
    origin = publish(work.repo, tmp_path / "origin.git")
    code, out, err = request(repo, "--for", "4h", "--push")
    assert code == 0, err
    branch = f"access/prod/alice@example.com-{TODAY}"
    assert origin.repo.references[f"refs/heads/{branch}"].target == work.repo.head.target
    assert f"Pushed {branch} to origin." in out
    assert f"Open a pull request from {branch} into main." in out


def test_the_merge_of_the_request_starts_the_grant(repo: AccessRepo, work: RepoBuilder, tmp_path: Path) -> None:
    origin = publish(work.repo, tmp_path / "origin.git")
    assert request(repo, "--for", "4h", "--push")[0] == 0
    branch = f"access/prod/alice@example.com-{TODAY}"
    merged = CLI_NOW - timedelta(hours=1)
    origin.merge(branch, merged, author=CAROL, committer=GITHUB)
    work.repo.remotes["origin"].fetch()
    work.repo.checkout("refs/heads/main")
    work.repo.head.set_target(work.repo.references["refs/remotes/origin/main"].target)
    work.repo.checkout_head(strategy=pygit2.enums.CheckoutStrategy.FORCE)  # type: ignore[no-untyped-call]
    status = json.loads(repo.run("status", "--json").out)
    (row,) = status["grants"]
    assert (row["state"], row["user"], row["start"]) == ("active", "alice@example.com",
                                                         merged.isoformat().replace("+00:00", "Z"))
    assert 3 * 3600 - 120 < row["left_seconds"] <= 3 * 3600


@pytest.mark.parametrize(("url", "expected"), [
    ("git@github.com:acme/access.git", "https://github.com/acme/access/compare/main...access/prod/a@b.c?expand=1"),
    ("https://github.com/acme/access", "https://github.com/acme/access/compare/main...access/prod/a@b.c?expand=1"),
    ("https://x-access-token@github.com/acme/access.git/",
     "https://github.com/acme/access/compare/main...access/prod/a@b.c?expand=1"),
    ("ssh://git@github.com/acme/access.git", "https://github.com/acme/access/compare/main...access/prod/a@b.c?expand=1"),
    ("https://gitlab.com/acme/access.git", None),
    ("/srv/git/access.git", None),
])
def test_compare_url(url: str, expected: str | None) -> None:
    assert compare_url(url, "main", "access/prod/a@b.c") == expected


def test_extra_headers_follow_the_most_specific_url(work: RepoBuilder) -> None:
    config = work.repo.config
    config["http.https://github.com/.extraheader"] = "AUTHORIZATION: basic specific"
    config["http.extraheader"] = "X-Any: 1"
    config["http.https://example.com/.extraheader"] = "X-Other: 1"
    assert extra_headers(config, "https://github.com/acme/access") == ["AUTHORIZATION: basic specific", "X-Any: 1"]
    assert extra_headers(config, "/srv/git/access.git") == ["X-Any: 1"]


def test_the_request_commit_is_dated_by_the_commands_clock(repo: AccessRepo, work: RepoBuilder) -> None:
    assert request(repo, "--for", "1h")[0] == 0
    commit = work.repo.head.peel(pygit2.Commit)
    assert datetime.fromtimestamp(commit.commit_time, UTC) == CLI_NOW
