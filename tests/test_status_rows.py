"""``status``: one row per grant file, a file that cannot be read as a grant included, with its problem."""

from __future__ import annotations

import json

from tests.support.access import AccessRepo

AT = "2026-11-24T12:00:00Z"
G = "policy/grants"
OK = "user: alice@example.com\ntarget: prod\nreason: INC-1\nstart: 2026-11-24T10:00:00Z\nduration: 4h\n"


def table(repo: AccessRepo) -> dict[str, list[str]]:
    """The status table's rows by file, each as its cells (split on two or more spaces)."""
    result = repo.run("status", "--at", AT)
    assert result.code == 0
    lines = result.out.splitlines()
    assert lines[0].split() == ["STATE", "TARGET", "USER", "START", "END", "LEFT", "FILE", "PROBLEM"]
    rows = [[cell for cell in line.split("  ") if cell.strip()] for line in lines[1:]]
    return {next(c.strip() for c in row if c.strip().startswith(G)): [c.strip() for c in row] for row in rows}


def test_every_file_is_a_row_and_invalid_ones_say_why(repo: AccessRepo) -> None:
    repo.grant("prod", "alice.yaml", OK)
    repo.grant("prod", "long.yaml", OK.replace("alice", "lou").replace("4h", "48h"))
    repo.grant("admin", "ann.yaml", OK.replace("alice", "ann").replace("prod", "admin"))
    repo.grant("prod", "broken.yaml", "user: [oops\n")
    (repo.root / G / "staging" / "d.yaml").mkdir(parents=True)
    rows = table(repo)
    assert len(rows) == 5
    assert rows[f"{G}/prod/alice.yaml"][:3] == ["active", "prod", "alice@example.com"]
    assert rows[f"{G}/prod/long.yaml"][0] == "invalid"
    assert rows[f"{G}/prod/long.yaml"][-1] == "duration 48h (2d) is longer than target 'prod' allows (8h); " \
                                              "granting nothing"
    assert rows[f"{G}/admin/ann.yaml"][:2] == ["invalid", "admin"]
    assert rows[f"{G}/admin/ann.yaml"][-1].startswith("unknown target 'admin'")
    assert rows[f"{G}/prod/broken.yaml"][-1] == "line 1: a '[' list is not closed"
    assert rows[f"{G}/staging/d.yaml"][-1] == "a folder named like a grant file"


def test_json_keeps_every_problem_with_its_line_and_hint(repo: AccessRepo) -> None:
    repo.grant("prod", "two.yaml", "user: '*'\ntarget: prod\nreason: r\nduration: soon\n")
    data = json.loads(repo.run("status", "--at", AT, "--json").out)
    (row,) = data["grants"]
    assert (row["state"], row["target"], row["file"]) == ("invalid", "prod", f"{G}/prod/two.yaml")
    assert row["problem"].startswith("line 1: 'user' must be one Tailscale login") and "(and 1 more)" in row["problem"]
    assert [(p["line"], p["message"][:30]) for p in row["problems"]] == [
        (1, "'user' must be one Tailscale l"), (4, "'soon' is not a duration: use ")]
    assert row["problems"][0]["hint"] == "grant one person at a time, by their Tailscale login"


def test_without_problems_the_problem_column_is_left_out(repo: AccessRepo) -> None:
    repo.grant("prod", "alice.yaml", OK)
    header = repo.run("status", "--at", AT).out.splitlines()[0]
    assert header.split() == ["STATE", "TARGET", "USER", "START", "END", "LEFT", "FILE"]
