"""Every problem of every file, each at the line of the key or value at fault, with what to do."""

from __future__ import annotations

import pytest

from tests.support.access import CONFIG, AccessRepo

AT = "2026-11-24T12:00:00Z"
G = "policy/grants/prod"


def problems(repo: AccessRepo) -> list[str]:
    """validate's ``error:`` lines, each followed by its hint when there is one."""
    result = repo.run("validate", "--at", AT)
    assert result.code == 1
    return result.err.splitlines()


def test_a_duration_over_the_limit_is_reported_at_its_line_as_written(repo: AccessRepo) -> None:
    repo.grant("prod", "a.yaml", "# asked in chat\nuser: a@example.com\ntarget: prod\nduration: 48h\nreason: r\n")
    lines = problems(repo)
    at = lines.index(f"error: {G}/a.yaml:4: duration 48h (2d) is longer than target 'prod' allows (8h); "
                     "granting nothing")
    assert lines[at + 1] == "hint: ask for at most 8h, or use a target that allows longer"


def test_an_expiry_too_far_is_reported_at_its_line_with_what_to_do(repo: AccessRepo) -> None:
    repo.grant("prod", "a.yaml", "user: a@example.com\ntarget: prod\nreason: r\nstart: 2026-11-24T11:00:00Z\n"
                                 "expires: 2026-11-25T11:00:00Z\n")
    lines = problems(repo)
    at = lines.index(f"error: {G}/a.yaml:5: lasts 1d, longer than target 'prod' allows (8h); granting nothing")
    assert lines[at + 1] == "hint: end at most 8h after the start"


@pytest.mark.parametrize("reason", ["reason:", 'reason: ""', "reason: ~"])
def test_an_empty_reason_is_reported_at_its_own_line(repo: AccessRepo, reason: str) -> None:
    repo.grant("prod", "a.yaml", f"user: a@example.com\ntarget: prod\n{reason}\nduration: 1h\n")
    lines = problems(repo)
    assert f"error: {G}/a.yaml:3: 'reason' is empty" in lines
    assert lines[lines.index(f"error: {G}/a.yaml:3: 'reason' is empty") + 1].startswith("hint: say why")


def test_every_problem_of_a_file_is_shown_each_at_its_line(repo: AccessRepo) -> None:
    repo.grant("prod", "a.yaml", "user: '*'\ntarget: staging\nreasn: r\nduration: 4 hours\nstart: tomorrow\n")
    errors = [line for line in problems(repo) if line.startswith("error:")]
    assert errors == [
        f"error: {G}/a.yaml:1: missing 'reason'",
        f"error: {G}/a.yaml:1: 'user' must be one Tailscale login such as alice@example.com or alice@github; "
        "'*' is a wildcard",
        f"error: {G}/a.yaml:2: target 'staging' does not match the folder 'prod' the file is in",
        f"error: {G}/a.yaml:3: unknown key 'reasn'",
        f"error: {G}/a.yaml:4: '4 hours' is not a duration: use a number and a unit, e.g. 30m, 4h, 7d or 1d12h",
        f"error: {G}/a.yaml:5: start: 'tomorrow' is not an ISO 8601 time, e.g. 2026-11-25T02:00:00Z",
    ]
    lines = problems(repo)
    assert lines[lines.index(f"error: {G}/a.yaml:3: unknown key 'reasn'") + 1] == "hint: did you mean 'reason'?"
    assert "6 problem(s) found." in lines


def test_a_file_with_problems_also_hears_of_a_duration_over_the_limit(repo: AccessRepo) -> None:
    repo.grant("prod", "a.yaml", "user: a@example.com\ntarget: prod\nreason: r\nduration: 9h\nticket: [1, 2]\n")
    lines = problems(repo)
    assert f"error: {G}/a.yaml:4: duration 9h is longer than target 'prod' allows (8h)" in lines
    assert f"error: {G}/a.yaml:5: 'ticket' must be a single value, not a list" in lines


@pytest.mark.parametrize(("body", "line", "message", "hint"), [
    ("user: a@example.com\ntarget prod\nreason: r\nduration: 1h\n", 2, "no ':' after 'target'",
     "hint: write target: prod"),
    ("user: a@example.com\ntarget: prod\nreason: r\nduration 1h\n", 4, "no ':' after 'duration'",
     "hint: write duration: 1h"),
    ("user a@example.com\ntarget: prod\nreason: r\nduration: 1h\n", 1, "no ':' after 'user'",
     "hint: write user: a@example.com"),
    ("user:a@example.com\ntarget: prod\nreason: r\nduration: 1h\n", 1, "no space after 'user:'",
     "hint: write user: a@example.com"),
    ("user: 'a@example.com\ntarget: prod\n", 1, "a quoted value is not closed",
     "hint: end the value with the same quote it starts with"),
    ("user: a@example.com\n\ttarget: prod\n", 2, "indented with a tab",
     "hint: indent with spaces: YAML does not allow tabs"),
])
def test_yaml_slips_are_named_at_their_line_with_a_hint_not_pyyaml_text(
        repo: AccessRepo, body: str, line: int, message: str, hint: str) -> None:
    repo.grant("prod", "a.yaml", body)
    lines = problems(repo)
    at = lines.index(f"error: {G}/a.yaml:{line}: {message}")
    assert lines[at + 1] == hint
    assert not any("could not find expected" in x or "mapping values" in x for x in lines)


def test_every_config_problem_is_shown_each_at_its_line(repo: AccessRepo) -> None:
    repo.config.write_text(CONFIG.replace("max_duration: 8h", "max_duration: forever")
                           .replace("    max_duration: 7d", "    max_duraton: 7d") + "tailnt: x\n")
    result = repo.run("validate")
    assert result.code == 1
    lines = result.err.splitlines()
    errors = [line.replace(str(repo.config), "policy/tailjit.yaml") for line in lines if line.startswith("error:")]
    assert errors == [
        "error: policy/tailjit.yaml:6: 'forever' is not a duration: use a number and a unit, e.g. 30m, 4h, 7d "
        "or 1d12h",
        "error: policy/tailjit.yaml:9: target 'staging' needs 'max_duration' (e.g. 8h): how long one grant may last",
        "error: policy/tailjit.yaml:10: unknown key in target 'staging': 'max_duraton'",
        "error: policy/tailjit.yaml:11: unknown setting 'tailnt'",
    ]
    assert lines[lines.index(f"error: {repo.config}:11: unknown setting 'tailnt'") + 1] == \
        "hint: did you mean 'tailnet'?"
    assert lines[-1] == f"4 problem(s) in {repo.config}."


def test_a_config_slip_is_named_at_its_line(repo: AccessRepo) -> None:
    repo.config.write_text(CONFIG.replace("group: group:staging", "group group:staging"))
    result = repo.run("validate")
    assert result.code == 1
    assert result.err.splitlines()[:2] == [f"error: {repo.config}:9: no ':' after 'group'",
                                           "hint: write group: group:staging"]


@pytest.mark.parametrize(("old", "new", "line", "message"), [
    # a missing comma: at the value it should follow (line 4), past the comments, not at the next name (line 6)
    ('"group:sre": ["dana@example.com"],', '"group:sre": ["dana@example.com"] // the SREs', 4,
     "missing ',' after this value (the next one starts on line 6)"),
    ('{"action": "accept", "src": ["group:prod"], "dst": ["tag:prod:22"]},',
     '{"action": "accept", "src": ["group:prod"] "dst": ["tag:prod:22"]},', 14,
     "missing ',' after this value (the next one starts on the same line)"),
    ('"tagOwners": {', '"tagOwners" {', 11, "missing ':' after this name (found '{')"),
])
def test_a_hujson_error_is_reported_once_where_it_is(repo: AccessRepo, old: str, new: str, line: int,
                                                     message: str) -> None:
    policy = repo.root / "policy" / "policy.hujson"
    assert old in policy.read_text()
    policy.write_text(policy.read_text().replace(old, new))
    result = repo.run("validate")
    assert result.code == 1
    first = result.err.splitlines()[0]
    assert first == f"error: policy/policy.hujson:{line}: {message}"
    assert "column" not in result.err and "hujson: line" not in result.err
    assert result.err.splitlines()[1].startswith("hint: ")


def test_a_missing_comma_after_a_comment_block_points_at_the_value(repo: AccessRepo) -> None:
    policy = repo.root / "policy" / "policy.hujson"
    policy.write_text('{\n\t"groups": {"group:prod": [], "group:staging": []} /* the groups,\n'
                      '\t   "quoted" in a comment */\n\n\t// next\n\t"acls": [],\n}\n')
    result = repo.run("validate")
    assert result.err.splitlines()[0] == \
        "error: policy/policy.hujson:2: missing ',' after this value (the next one starts on line 6)"
