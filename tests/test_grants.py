from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from reconciler.core.grants import Grant, State, evaluate
from reconciler.repo.config import load_config
from reconciler.repo.grants import load_grants
from reconciler.repo.workspace import open_workspace
from tests.support.access import AccessRepo

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
VALID = """\
user: alice@example.com
target: prod
reason: INC-1
duration: 4h
"""


def errors(repo: AccessRepo) -> list[str]:
    return [str(e) for e in load_grants(load_config(repo.config)).errors]


def test_valid_grant_is_loaded_with_its_fields(repo: AccessRepo) -> None:
    repo.grant("prod", "alice.yaml", VALID + "ticket: INC-1\n")
    loaded = load_grants(load_config(repo.config))
    assert loaded.errors == ()
    (grant,) = loaded.grants
    assert (grant.path, grant.user, grant.target, grant.duration, grant.ticket) == (
        "policy/grants/prod/alice.yaml", "alice@example.com", "prod", timedelta(hours=4), "INC-1")
    assert grant.name == "prod/alice.yaml"


@pytest.mark.parametrize("user", [
    "*", "group:prod", "tag:server", "autogroup:member", "100.64.0.1", "alice", "'alice@example.com'x",
    "alice@example.com\\nbob", "*@example.com", "al\\\"ice@example.com", "alice@@example.com", "alice@exa mple.com",
])
def test_user_must_be_one_login(repo: AccessRepo, user: str) -> None:
    repo.grant("prod", "a.yaml", f'user: "{user}"\ntarget: prod\nreason: r\nduration: 1h\n')
    (message,) = errors(repo)
    assert message.startswith("policy/grants/prod/a.yaml:1: 'user' must be one Tailscale login")


def test_user_with_a_newline_is_refused(repo: AccessRepo) -> None:
    repo.grant("prod", "a.yaml", 'user: "alice@example.com\\n  - group:admin"\ntarget: prod\nreason: r\nduration: 1h\n')
    (message,) = errors(repo)
    assert "must be one Tailscale login" in message


@pytest.mark.parametrize("user", ["alice@example.com", "alice@github", "alice@passkey", "a.b+c@sub.example.co.uk"])
def test_login_forms_accepted(repo: AccessRepo, user: str) -> None:
    repo.grant("prod", "a.yaml", f"user: {user}\ntarget: prod\nreason: r\nduration: 1h\n")
    assert errors(repo) == []


@pytest.mark.parametrize(("body", "expected"), [
    ("user: a@example.com\ntarget: prod\nreason: r\nexpires: 2026-11-25T02:00:00\n",
     "a.yaml:4: expires: '2026-11-25T02:00:00' has no time zone"),
    ("user: a@example.com\ntarget: prod\nreason: r\nexpires: 2026-11-25\n", "a.yaml:4: expires: '2026-11-25' is a date"),
    ("user: a@example.com\ntarget: prod\nreason: r\nduration: 1h\nexpires: 2026-11-25T02:00:00Z\n",
     "a.yaml:5: give only one of 'duration' and 'expires'"),
    ("user: a@example.com\ntarget: prod\nreason: r\n", "a.yaml:1: missing 'duration' or 'expires'"),
    ("user: a@example.com\ntarget: staging\nreason: r\nduration: 1h\n",
     "a.yaml:2: target 'staging' does not match the folder 'prod'"),
    ("user: a@example.com\ntarget: prod\nreason: r\nduration: 1h\ngroup: group:admin\n", "a.yaml:5: unknown key 'group'"),
    ("user: a@example.com\ntarget: prod\nduration: 1h\n", "missing 'reason'"),
    ("user: a@example.com\ntarget: prod\nreason: '  '\nduration: 1h\n", "a.yaml:3: 'reason' is empty"),
    ("user: a@example.com\ntarget: prod\nreason: r\nduration: 4 hours\n", "a.yaml:4: '4 hours' is not a duration"),
    ("user: a@example.com\ntarget: prod\nreason: r\nduration: 0h\n", "must be longer than zero"),
    ("user: [a@example.com]\ntarget: prod\nreason: r\nduration: 1h\n", "a.yaml:1: 'user' must be a single value"),
    ("user: a@example.com\ntarget: prod\nreason: r\nduration: 1h\nduration: 2h\n", "a.yaml:5: key 'duration' appears twice"),
    ("user: &u a@example.com\ntarget: prod\nreason: *u\nduration: 1h\n", "anchors and aliases are not allowed"),
    ("user: a@example.com\n  target: prod: x\n", "a.yaml:2: unexpected ':'"),
    ("just text\n", "a grant file is a mapping"),
    ("user: a@example.com\ntarget: prod\nreason: r\nstart: 2026-11-25T02:00:00Z\nexpires: 2026-11-25T01:00:00Z\n",
     "a.yaml:5: 'expires' (2026-11-25T01:00:00Z) is not after 'start' (2026-11-25T02:00:00Z)"),
])
def test_bad_grant_files_say_where_and_what(repo: AccessRepo, body: str, expected: str) -> None:
    repo.grant("prod", "a.yaml", body)
    (message,) = errors(repo)
    assert expected in message


@pytest.mark.parametrize("name", ["a b.yaml", "ünïcode.yaml", "a.yml", "a.yaml.bak", "-a.yaml", ".hidden.yaml",
                                  "a;rm -rf.yaml", "a\nb.yaml"])
def test_odd_file_names_are_refused(repo: AccessRepo, name: str) -> None:
    repo.grant("prod", name, VALID)
    (message,) = errors(repo)
    assert "is not allowed" in message


def test_unknown_target_folder_nested_files_and_symlinks(repo: AccessRepo, tmp_path: Path) -> None:
    repo.grant("admin", "a.yaml", VALID.replace("prod", "admin"))
    repo.grant("prod/deeper", "b.yaml", VALID)
    outside = tmp_path / "outside.yaml"
    outside.write_text(VALID)
    (repo.root / "policy" / "grants" / "prod" / "c.yaml").symlink_to(outside)
    (repo.root / "policy" / "grants" / "stray.yaml").write_text(VALID)
    found = sorted(errors(repo))
    assert any("admin/a.yaml: unknown target 'admin'; targets in tailjit.yaml: prod, staging" in m for m in found)
    assert any("deeper/b.yaml: a grant file belongs in <grants>/<target>/<name>.yaml" in m for m in found)
    assert any("prod/c.yaml: grant files may not be symbolic links" in m for m in found)
    assert any("grants/stray.yaml: a grant file belongs in" in m for m in found)
    assert len(found) == 4


def test_a_fifo_or_linked_folder_is_refused_without_blocking_or_following(repo: AccessRepo, tmp_path: Path) -> None:
    repo.grant("prod", "ok.yaml", VALID)
    os.mkfifo(repo.root / "policy" / "grants" / "prod" / "pipe.yaml")  # reading it would wait forever
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "x.yaml").write_text(VALID)
    (repo.root / "policy" / "grants" / "staging").symlink_to(elsewhere, target_is_directory=True)
    loaded = load_grants(load_config(repo.config))
    assert [g.name for g in loaded.grants] == ["prod/ok.yaml"]
    assert sorted(str(e) for e in loaded.errors) == [
        "policy/grants/prod/pipe.yaml: not a regular file",
        "policy/grants/staging: grant files may not be symbolic links",
    ]


def test_a_folder_that_cannot_be_read_is_reported_and_the_rest_still_load(
        repo: AccessRepo, monkeypatch: pytest.MonkeyPatch) -> None:
    repo.grant("prod", "ok.yaml", VALID)
    repo.grant("staging", "x.yaml", VALID.replace("prod", "staging"))
    real = os.scandir

    def scandir(path: str) -> Iterator[os.DirEntry[str]]:
        if path.endswith("staging"):
            raise PermissionError(13, "Permission denied")
        return real(path)

    monkeypatch.setattr(os, "scandir", scandir)
    loaded = load_grants(load_config(repo.config))
    assert [g.name for g in loaded.grants] == ["prod/ok.yaml"]
    assert [str(e) for e in loaded.errors] == ["policy/grants/staging: cannot read this folder: Permission denied"]


def test_a_very_deep_folder_tree_is_reported_not_a_crash(repo: AccessRepo) -> None:
    top = str(repo.root / "policy" / "grants" / "prod")
    folders = [top + "/d" * depth for depth in range(1, 1101)]  # deeper than Python's recursion limit
    for folder in folders:
        os.makedirs(folder, exist_ok=True) if folder is folders[0] else os.mkdir(folder)
    with open(folders[-1] + "/x.yaml", "w") as f:
        f.write(VALID)
    try:
        (message,) = errors(repo)
    finally:  # shutil.rmtree (and so pytest's clean-up of old runs) recurses, and would fail on this tree
        os.unlink(folders[-1] + "/x.yaml")
        for folder in reversed(folders):
            os.rmdir(folder)
    assert message.startswith("policy/grants/prod/d/d/")
    assert message.endswith("/d/x.yaml: a grant file belongs in <grants>/<target>/<name>.yaml")


def test_files_are_read_in_sorted_path_order(repo: AccessRepo) -> None:
    for name in ("b.yaml", "a.yaml", "a@x.yaml", "A.yaml"):
        repo.grant("prod", name, VALID)
    repo.grant("staging", "a.yaml", VALID.replace("prod", "staging"))
    assert [g.name for g in load_grants(load_config(repo.config)).grants] == [
        "prod/A.yaml", "prod/a.yaml", "prod/a@x.yaml", "prod/b.yaml", "staging/a.yaml"]


def test_huge_and_deep_grant_files_are_refused(repo: AccessRepo) -> None:
    repo.grant("prod", "huge.yaml", VALID + "# " + "x" * 300_000 + "\n")
    repo.grant("prod", "deep.yaml", "user: " + "[" * 3000 + "]" * 3000 + "\n")  # the Python composer
    repo.grant("prod", "deep2.yaml", "user: " + "{a: " * 900 + "}" * 900 + "\n")  # libyaml's
    repo.grant("prod", "deep3.yaml", "user:\n" + "".join(" " * i + "- \n" for i in range(1, 400)))  # blocks
    found = errors(repo)
    assert any("deep2.yaml" in m and "nested too deeply" in m for m in found)
    assert any("deep3.yaml" in m and "nested too deeply" in m for m in found)
    assert any("huge.yaml: file is" in m and "the limit is" in m for m in found)
    assert any("deep.yaml" in m and "nested too deeply" in m for m in found)


def test_a_file_at_the_size_limit_loads_and_one_byte_more_is_refused(repo: AccessRepo) -> None:
    limit = 256 * 1024
    padding = "# " + "x" * (limit - len(VALID) - 3) + "\n"
    repo.grant("prod", "at.yaml", VALID + padding)
    repo.grant("prod", "over.yaml", VALID + "#" + padding)
    assert (repo.root / "policy/grants/prod/at.yaml").stat().st_size == limit
    loaded = load_grants(load_config(repo.config))
    assert [g.name for g in loaded.grants] == ["prod/at.yaml"]
    assert [str(e) for e in loaded.errors] == [
        "policy/grants/prod/over.yaml: file is too large: the limit is 262144 bytes"]


def test_an_empty_file_and_one_that_is_not_utf8_are_reported(repo: AccessRepo) -> None:
    repo.grant("prod", "empty.yaml", "")
    repo.grant("prod", "latin1.yaml", "").write_bytes(VALID.replace("INC-1", "Caf\xe9").encode("latin-1"))
    assert errors(repo) == [
        "policy/grants/prod/empty.yaml:1: a grant file is a mapping with user, target, reason and duration or "
        "expires",
        "policy/grants/prod/latin1.yaml: not UTF-8 text (byte 48)",
    ]


def test_yaml_11_booleans_and_dates_stay_strings(repo: AccessRepo) -> None:
    repo.grant("prod", "a.yaml", "user: a@example.com\ntarget: prod\nreason: no\nticket: 2026-01-01\nduration: 1h\n")
    (grant,) = load_grants(load_config(repo.config)).grants
    assert grant.reason == "no"
    assert grant.ticket == "2026-01-01"


def grant(**kw: object) -> Grant:
    fields: dict[str, object] = {"path": "policy/grants/prod/a.yaml", "user": "a@example.com", "target": "prod",
                                 "reason": "r"}
    fields.update(kw)
    return Grant(**fields)  # type: ignore[arg-type]


@pytest.fixture
def prod(repo: AccessRepo):  # type: ignore[no-untyped-def]
    return load_config(repo.config).targets["prod"]


def test_window_boundaries(prod) -> None:  # type: ignore[no-untyped-def]
    g = grant(duration=timedelta(hours=4))
    merged = NOW - timedelta(hours=4)
    assert evaluate(g, prod, NOW - timedelta(hours=4, seconds=1), merged).state is State.PENDING
    assert evaluate(g, prod, merged, merged).state is State.ACTIVE
    assert evaluate(g, prod, NOW - timedelta(seconds=1), merged).state is State.ACTIVE
    assert evaluate(g, prod, NOW, merged).state is State.EXPIRED


def test_duration_grant_without_history_grants_nothing(prod) -> None:  # type: ignore[no-untyped-def]
    status = evaluate(grant(duration=timedelta(hours=1)), prod, NOW, None)
    assert status.state is State.UNKNOWN
    assert status.problem is not None and "start unknown" in status.problem


def test_max_duration_is_enforced_at_the_boundary(prod) -> None:  # type: ignore[no-untyped-def]
    at_limit = evaluate(grant(duration=timedelta(hours=8)), prod, NOW, NOW)
    over = evaluate(grant(duration=timedelta(hours=8, seconds=1)), prod, NOW, NOW)
    assert at_limit.state is State.ACTIVE
    assert over.state is State.INVALID
    assert over.problem is not None and "longer than target 'prod' allows (8h)" in over.problem
    far = evaluate(grant(expires=NOW + timedelta(days=3)), prod, NOW, NOW)
    assert far.state is State.INVALID


def test_expires_grant_measured_from_start_or_now(prod) -> None:  # type: ignore[no-untyped-def]
    g = grant(expires=NOW + timedelta(hours=2))
    assert evaluate(g, prod, NOW, None).state is State.ACTIVE
    assert evaluate(g, prod, NOW + timedelta(hours=2), None).state is State.EXPIRED
    scheduled = grant(start=NOW + timedelta(days=2), duration=timedelta(hours=8))
    status = evaluate(scheduled, prod, NOW, None)
    assert status.state is State.PENDING
    assert status.time_left(NOW) == timedelta(days=2)


def test_workspace_statuses_follow_the_moment_asked_for(repo: AccessRepo) -> None:
    repo.grant("prod", "a.yaml", VALID.replace("duration: 4h", "expires: 2026-11-24T14:00:00Z"))
    ws = open_workspace(repo.config)
    assert [s.state for s in ws.statuses(NOW)] == [State.ACTIVE]
    assert [s.state for s in ws.statuses(NOW + timedelta(hours=3))] == [State.EXPIRED]
    assert ws.statuses(NOW)[0].state is State.ACTIVE
