"""Per-target request rules in tailjit.yaml: approvals, requesters, reason_pattern, default_duration, break glass."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from reconciler.core.config import login_matches
from reconciler.errors import ConfigError
from reconciler.repo.config import load_config
from tests.support.access import CLI_NOW, CONFIG, AccessRepo
from tests.support.gitutil import CAROL, Person, RepoBuilder, at, files_under, set_identity

RULES = """\
tailnet: "-"
backend: file:tailnet.hujson
targets:
  prod:
    group: group:prod
    max_duration: 8h
    approvers: ["@acme/sre", "@dana"]
    approvals: 2
    requesters: [alice@example.com, "*@contractors.example"]
    reason_pattern: 'INC-[0-9]+'
    default_duration: 2h
    break_glass:
      max_duration: 1h
      allowed: ["*@example.com"]
  staging:
    group: group:staging
    max_duration: 7d
identities:
  github:alice-gh: alice@example.com
  alice@corp.example: alice@example.com
"""
AT = "2026-11-24T12:00:00Z"
#: before the grants of `grant_text` start: a new request may not start in the past
BEFORE = "2026-11-24T11:00:00Z"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "policy" / "tailjit.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def error_of(tmp_path: Path, text: str) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text))
    return info.value


def test_the_rules_are_read_with_their_defaults(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, RULES))
    prod, staging = config.targets["prod"], config.targets["staging"]
    assert (prod.approvals, prod.requesters, prod.default_duration) == (
        2, ("alice@example.com", "*@contractors.example"), timedelta(hours=2))
    assert prod.reason_pattern is not None and prod.reason_pattern.pattern == "INC-[0-9]+"
    assert prod.break_glass is not None
    assert (prod.break_glass.max_duration, prod.break_glass.allowed) == (timedelta(hours=1), ("*@example.com",))
    assert (staging.approvals, staging.requesters, staging.reason_pattern, staging.default_duration,
            staging.break_glass) == (1, (), None, None, None)
    assert config.github_identity("alice-gh") == "alice@example.com"
    assert config.github_identity("ALICE-GH") == "alice@example.com", "GitHub logins ignore case"
    assert config.github_identity("bob") is None


def test_login_patterns_match_logins_and_whole_domains_only() -> None:
    patterns = ("alice@example.com", "*@contractors.example")
    assert login_matches(patterns, "Alice@Example.com")
    assert login_matches(patterns, "zed@contractors.example")
    assert not login_matches(patterns, "zed@evil-contractors.example")
    assert not login_matches(patterns, "zed@sub.contractors.example.evil")
    assert not login_matches(patterns, "bob@example.com")
    assert not login_matches((), "bob@example.com")


@pytest.mark.parametrize(("old", "new", "expected"), [
    ("approvals: 2", "approvals: 0", "tailjit.yaml:8: 'approvals' of target 'prod' must be a whole number from 1 to 20"),
    ("approvals: 2", "approvals: two", "tailjit.yaml:8: 'approvals' of target 'prod' must be a whole number"),
    ("approvals: 2", "approvals: 1000000000000000000000", "must be a whole number from 1 to 20"),
    ("approvals: 2", "approvals: [2]", "tailjit.yaml:8: 'approvals' must be a string"),
    ('"*@contractors.example"', '"*"', "tailjit.yaml:9: targets.prod.requesters: '*' is neither a Tailscale login"),
    ('"*@contractors.example"', "group:prod", "targets.prod.requesters: 'group:prod' is neither"),
    ("requesters: [alice@example.com, \"*@contractors.example\"]", "requesters: alice@example.com",
     "tailjit.yaml:9: 'requesters' must be a list of strings"),
    ("'INC-[0-9]+'", "'INC-[0-9+'", "tailjit.yaml:10: reason_pattern of target 'prod' is not a regular expression"),
    ("'INC-[0-9]+'", "'" + "a" * 501 + "'", "tailjit.yaml:10: reason_pattern of target 'prod' is 501 characters"),
    ("'INC-[0-9]+'", "'^(\\w+\\s?)*$'",
     "tailjit.yaml:10: reason_pattern of target 'prod' repeats a group that itself repeats ('^(\\\\w+\\\\s?)*$'): "
     "matching a hostile reason could take exponential time"),
    ("default_duration: 2h", "default_duration: 9h",
     "tailjit.yaml:11: default_duration 9h of target 'prod' is longer than its max_duration 8h"),
    ("default_duration: 2h", "default_duration: soon", "tailjit.yaml:11: 'soon' is not a duration"),
    ("max_duration: 1h", "max_duration: 9h",
     "tailjit.yaml:13: break_glass max_duration 9h of target 'prod' is longer than the target's max_duration 8h"),
    ("      max_duration: 1h\n", "", "tailjit.yaml:13: break_glass of target 'prod' needs 'max_duration'"),
    ('allowed: ["*@example.com"]', "allowed: []", "tailjit.yaml:14: break_glass of target 'prod' needs 'allowed'"),
    ('allowed: ["*@example.com"]', "who: [a]", "tailjit.yaml:14: unknown key in break_glass of target 'prod': 'who'"),
    ("    break_glass:\n      max_duration: 1h\n      allowed: [\"*@example.com\"]\n", "    break_glass: yes\n",
     "tailjit.yaml:12: break_glass of target 'prod' must be a mapping"),
    ('["@acme/sre", "@dana"]', '["acme/sre"]',
     "tailjit.yaml:7: targets.prod.approvers: 'acme/sre' is not a GitHub user (@name), team (@org/team) or email"),
    ("github:alice-gh: alice@example.com", "github:alice_gh: alice@example.com",
     "tailjit.yaml:19: identity 'github:alice_gh': 'alice_gh' is not a GitHub login"),
    ("github:alice-gh: alice@example.com", "github:alice-gh: group:prod",
     "tailjit.yaml:19: identity 'github:alice-gh' must map to a Tailscale login"),
    ("github:alice-gh: alice@example.com", "github:alice-gh: alice@example.com\n  github:Alice-GH: eve@example.com",
     "tailjit.yaml:20: identities 'github:alice-gh' and 'github:Alice-GH' name the same GitHub login"),
])
def test_a_bad_rule_is_an_error_at_its_line(tmp_path: Path, old: str, new: str, expected: str) -> None:
    assert old in RULES
    assert expected in str(error_of(tmp_path, RULES.replace(old, new, 1)))


def test_a_bad_pattern_error_says_how_to_write_one(tmp_path: Path) -> None:
    error = error_of(tmp_path, RULES.replace("'INC-[0-9]+'", "'(unclosed'"))
    assert "missing ), unterminated subpattern" in error.message
    assert error.hint is not None and "reason_pattern: 'INC-[0-9]+'" in error.hint


@pytest.fixture
def ruled(repo: AccessRepo) -> AccessRepo:
    repo.config.write_text(RULES)
    return repo


def grant_text(user: str = "alice@example.com", reason: str = "Investigate INC-1234", extra: str = "") -> str:
    return f"user: {user}\ntarget: prod\nreason: {reason}\nstart: 2026-11-24T11:30:00Z\nduration: 1h\n{extra}"


def test_validate_enforces_requesters_and_shows_the_reason_pattern(ruled: AccessRepo) -> None:
    ruled.grant("prod", "alice.yaml", grant_text())
    ruled.grant("prod", "zed.yaml", grant_text(user="zed@contractors.example"))
    assert ruled.run("validate", "--at", AT).code == 0
    ruled.grant("prod", "bob.yaml", grant_text(user="bob@example.com"))
    ruled.grant("prod", "carol.yaml", grant_text(user="alice@example.com", reason="because"))
    result = ruled.run("validate", "--at", AT)
    assert result.code == 1
    assert ("policy/grants/prod/bob.yaml:1: bob@example.com may not be granted 'prod': its requesters are "
            "alice@example.com, *@contractors.example") in result.err
    assert ("policy/grants/prod/carol.yaml:3: the reason does not match target 'prod''s reason_pattern "
            "'INC-[0-9]+'") in result.err
    assert "2 problem(s) found." in result.err


def test_a_rule_added_later_fails_validate_but_takes_no_access_away(ruled: AccessRepo) -> None:
    ruled.grant("prod", "bob.yaml", grant_text(user="bob@example.com"))
    assert ruled.run("validate", "--at", AT).code == 1
    applied = ruled.run("apply", "--at", AT)
    assert applied.code == 0, applied.err
    assert "bob@example.com" in ruled.tailnet.read_text()


@pytest.mark.parametrize(("user", "duration", "expected"), [
    ("alice@example.com", "1h", None),
    ("zed@contractors.example", "1h",  # at the user's line
     "1: zed@contractors.example may not use break glass on 'prod': allowed are *@example.com; granting nothing"),
    ("alice@example.com", "2h",  # at the duration's line
     "5: break glass lasts at most 1h on 'prod'; this grant lasts 2h; granting nothing"),
])
def test_break_glass_grants_only_for_allowed_users_within_the_shorter_maximum(
        ruled: AccessRepo, user: str, duration: str, expected: str | None) -> None:
    ruled.grant("prod", "a.yaml", grant_text(user=user, extra="break_glass: true\n").replace("1h", duration))
    result = ruled.run("validate", "--at", AT)
    if expected is None:
        assert result.code == 0, result.err
        ruled.run("apply", "--at", AT)
        assert user in ruled.tailnet.read_text()
    else:
        assert result.code == 1
        assert f"policy/grants/prod/a.yaml:{expected}" in result.err


def test_break_glass_on_a_target_without_it_grants_nothing(ruled: AccessRepo) -> None:
    ruled.grant("staging", "a.yaml", grant_text(extra="break_glass: true\n").replace("prod", "staging"))
    result = ruled.run("validate", "--at", AT)
    assert "target 'staging' does not allow break glass (no 'break_glass' in tailjit.yaml)" in result.err
    ruled.grant("staging", "a.yaml", grant_text(extra="break_glass: maybe\n").replace("prod", "staging"))
    assert "a.yaml:6: 'break_glass' is true or false, not 'maybe'" in ruled.run("validate", "--at", AT).err


@pytest.fixture
def clone(ruled: AccessRepo, no_machine_git_config: None) -> RepoBuilder:
    ruled.config.write_text(RULES)
    b = RepoBuilder.init(ruled.root)
    b.commit(files_under(ruled.root), at(0), author=CAROL)
    b.checkout()
    set_identity(b.repo, Person("Alice Example", "alice@corp.example"))
    return b


def test_request_without_for_takes_the_default_duration(ruled: AccessRepo, clone: RepoBuilder) -> None:
    result = ruled.run("request", "--target", "prod", "--reason", "Investigate INC-1")
    assert result.code == 0, result.err
    today = CLI_NOW.date().isoformat()
    assert "grants alice@example.com prod for 2h" in result.out
    assert "duration: 2h" in (ruled.root / f"policy/grants/prod/alice@example.com-{today}.yaml").read_text()


def test_request_without_for_or_a_default_is_a_usage_error(ruled: AccessRepo, clone: RepoBuilder) -> None:
    result = ruled.run("request", "--target", "staging", "--reason", "load test")
    assert result.code == 2
    assert "--for or --expires is needed: target 'staging' has no default_duration in policy/tailjit.yaml" \
        in result.err


def test_request_refuses_what_validate_would(ruled: AccessRepo, clone: RepoBuilder) -> None:
    before = clone.repo.head.target
    result = ruled.run("request", "--target", "prod", "--reason", "just because", "--user", "bob@example.com")
    assert result.code == 1
    assert "bob@example.com may not be granted 'prod'" in result.err
    assert "the reason does not match target 'prod''s reason_pattern 'INC-[0-9]+'" in result.err
    assert clone.repo.head.target == before and clone.repo.head.shorthand == "main"


def test_the_shared_config_still_loads(tmp_path: Path) -> None:
    assert load_config(write(tmp_path, CONFIG)).targets["prod"].approvals == 1


def test_changed_since_holds_only_new_and_changed_files_to_the_request_rules(ruled: AccessRepo,
                                                                             clone: RepoBuilder) -> None:
    # bob's grant was merged before prod had requesters; a pull request adds alice's
    clone.commit({"policy/grants/prod/bob.yaml": grant_text(user="bob@example.com")}, at(1), author=CAROL)
    clone.checkout()
    ruled.grant("prod", "alice.yaml", grant_text())
    assert ruled.run("validate", "--at", BEFORE).code == 1, "without --changed-since every file is held to them"
    result = ruled.run("validate", "--at", BEFORE, "--changed-since", "main")
    assert result.code == 0, result.err
    ruled.grant("prod", "carol.yaml", grant_text(reason="no ticket"))
    result = ruled.run("validate", "--at", BEFORE, "--changed-since", "main")
    assert result.code == 1
    assert "carol.yaml:3: the reason does not match target 'prod''s reason_pattern" in result.err
    assert "bob.yaml" not in result.err
