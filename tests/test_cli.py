"""The CLI end to end on an access repository in a tmp dir, against the file backend."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from reconciler import hujson
from tests.support.access import AccessRepo

AT = "2026-11-24T12:00:00Z"
ALICE = """\
user: alice@example.com
target: prod
reason: INC-1234
start: 2026-11-24T10:00:00Z
duration: 4h
"""
CAROL_EXPIRED = """\
user: carol@example.com
target: prod
reason: INC-1180
expires: 2026-11-24T11:00:00Z
"""


def members(path: Path, group: str = "group:prod") -> list[str]:
    return list(hujson.parse(path.read_bytes()).to_python()["groups"][group])


def test_validate_ok(repo: AccessRepo) -> None:
    repo.grant("prod", "alice.yaml", ALICE)
    result = repo.run("validate", "--at", AT)
    assert result.code == 0, result.err
    assert "OK: 2 target(s), 1 grant file(s)" in result.out


def test_validate_reports_every_problem_with_path_and_line(repo: AccessRepo) -> None:
    repo.grant("prod", "a.yaml", ALICE.replace("alice@example.com", "'*'"))
    repo.grant("prod", "b.yaml", ALICE.replace("duration: 4h", "duration: 9h"))
    repo.grant("admin", "c.yaml", ALICE)
    result = repo.run("validate", "--at", AT)
    assert result.code == 1
    assert "policy/grants/prod/a.yaml:1: 'user' must be one Tailscale login" in result.err
    assert "policy/grants/prod/b.yaml:5: duration 9h is longer than target 'prod' allows (8h)" in result.err
    assert "policy/grants/admin/c.yaml: unknown target 'admin'" in result.err
    assert "3 problem(s) found." in result.err


def test_validate_emits_github_annotations(repo: AccessRepo, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    repo.grant("prod", "a.yaml", ALICE.replace("duration: 4h", "duration: soon"))
    result = repo.run("validate", "--at", AT)
    assert result.code == 1
    assert "::error file=policy/grants/prod/a.yaml,line=5::'soon' is not a duration" in result.err


def test_validate_rejects_a_base_policy_that_lacks_a_target_group(repo: AccessRepo) -> None:
    policy = repo.root / "policy" / "policy.hujson"
    policy.write_text(policy.read_text().replace('"group:staging": [],', ""))
    result = repo.run("validate")
    assert result.code == 1
    assert "policy/policy.hujson: target 'staging' manages group:staging, which \"groups\" does not define" in result.err
    assert 'hint: add "group:staging": []' in result.err


def test_validate_rejects_malformed_base_policy_with_line(repo: AccessRepo) -> None:
    policy = repo.root / "policy" / "policy.hujson"
    policy.write_text(policy.read_text().replace('"tagOwners"', '"tagOwners" "oops"'))
    result = repo.run("validate")
    assert result.code == 1
    assert "policy/policy.hujson:11:" in result.err


def test_render_prints_the_desired_policy(repo: AccessRepo) -> None:
    repo.grant("prod", "alice.yaml", ALICE)
    result = repo.run("render", "--at", AT)
    assert result.code == 0
    assert '"alice@example.com", // tailjit: prod/alice.yaml until 2026-11-24T14:00:00Z' in result.out
    first, second = result.out.splitlines()[:2]
    assert first == "// Test tailnet." and second.startswith("// tailjit:digest sha256:"), \
        "the base policy's own first comment line stays line 1"


@pytest.mark.parametrize("at", ["2026-11-24T12:00:00", "tomorrow", "2026-13-01T00:00:00Z"])
def test_bad_at_is_a_usage_error(repo: AccessRepo, at: str) -> None:
    result = repo.run("plan", "--at", at)
    assert result.code == 2
    assert "Invalid value for '--at'" in result.err


def test_plan_apply_converge_and_expire(repo: AccessRepo) -> None:
    repo.grant("prod", "alice.yaml", ALICE)
    plan = repo.run("plan", "--at", AT, "--detailed-exitcode")
    assert plan.code == 2
    assert "+ grant   group:prod  alice@example.com  (prod/alice.yaml until 2026-11-24T14:00:00Z)" in plan.out
    assert not repo.tailnet.exists(), "plan never writes"

    applied = repo.run("apply", "--at", AT)
    assert applied.code == 0, applied.err
    assert members(repo.tailnet) == ["dana@example.com", "alice@example.com"]
    stat = repo.tailnet.stat()

    again = repo.run("apply", "--at", AT)
    assert again.code == 0 and "No changes" in again.out
    assert repo.tailnet.stat().st_mtime_ns == stat.st_mtime_ns, "a converged tailnet is not written"
    assert repo.run("plan", "--at", AT, "--detailed-exitcode").code == 0

    later = repo.run("apply", "--at", "2026-11-24T14:00:00Z")
    assert later.code == 0
    assert "- revoke  group:prod  alice@example.com" in later.out
    assert members(repo.tailnet) == ["dana@example.com"]


def test_plan_json_has_the_same_content(repo: AccessRepo) -> None:
    repo.grant("prod", "alice.yaml", ALICE)
    result = repo.run("plan", "--at", AT, "--json")
    assert result.code == 0
    data = json.loads(result.out)
    assert data["at"] == "2026-11-24T12:00:00Z" and data["changes"] is True and data["created"] is True
    assert data["counts"]["grant"] == 1
    assert [c for c in data["member_changes"] if c["kind"] == "grant"] == [{"group": "group:prod", "user": "alice@example.com", "kind": "grant",
                                       "detail": "prod/alice.yaml until 2026-11-24T14:00:00Z",
                                       "grant": "prod/alice.yaml", "until": "2026-11-24T14:00:00Z"}]
    assert data["diff"].startswith("--- live\n+++ desired\n")


def test_broken_grant_never_blocks_revocation(repo: AccessRepo) -> None:
    repo.grant("prod", "carol.yaml", CAROL_EXPIRED.replace("2026-11-24T11:00:00Z", "2026-11-24T13:00:00Z"))
    assert repo.run("apply", "--at", AT).code == 0
    assert "carol@example.com" in members(repo.tailnet)
    repo.grant("prod", "broken.yaml", "user: [oops\n")
    repo.grant("prod", "sneaky.yaml", ALICE.replace("alice@example.com", "group:admin"))
    result = repo.run("apply", "--at", "2026-11-24T13:30:00Z")
    assert result.code == 1, "the run shows red"
    assert "policy/grants/prod/broken.yaml:1: a '[' list is not closed" in result.err
    assert "2 grant file(s) are invalid and granted nothing" in result.err
    assert members(repo.tailnet) == ["dana@example.com"], "carol's expired access was revoked anyway"


def test_drift_is_kept_and_reported_and_force_overwrites_with_backup(repo: AccessRepo) -> None:
    repo.grant("prod", "alice.yaml", ALICE)
    assert repo.run("apply", "--at", "2026-11-24T11:00:00Z").code == 0
    console_edit = repo.tailnet.read_bytes().replace(b'"tag:prod:22"', b'"tag:prod:22", "tag:db:5432"')
    repo.tailnet.write_bytes(console_edit)

    result = repo.run("apply", "--at", "2026-11-24T15:00:00Z")
    assert result.code == 1
    assert "Drift: the live policy was edited outside git" in result.out
    assert '"tag:db:5432"' in result.out
    live = repo.tailnet.read_bytes()
    assert b'"tag:db:5432"' in live, "the outside edit is kept"
    assert members(repo.tailnet) == ["dana@example.com"], "expired access is revoked despite drift"

    forced = repo.run("apply", "--at", "2026-11-24T15:00:00Z", "--force")
    assert forced.code == 0, forced.err
    assert b'"tag:db:5432"' not in repo.tailnet.read_bytes()
    (backup,) = (repo.root / ".tailjit" / "backups").iterdir()
    assert backup.read_bytes() == live
    assert "Saved the replaced live policy to .tailjit/backups/" in forced.out
    assert (repo.root / ".tailjit" / ".gitignore").read_text() == "*\n"
    assert repo.run("apply", "--at", "2026-11-24T15:00:00Z").code == 0


def test_unsafe_plan_is_refused_unless_forced(repo: AccessRepo) -> None:
    crowd = ", ".join(f'"u{i}@example.com"' for i in range(10))
    policy = repo.root / "policy" / "policy.hujson"
    policy.write_text(policy.read_text().replace('"group:sre": ["dana@example.com"]', f'"group:sre": [{crowd}]'))
    assert repo.run("apply").code == 0
    policy.write_text(policy.read_text().replace(crowd, '"u0@example.com"'))
    refused = repo.run("apply")
    assert refused.code == 1
    assert "unsafe plan: it removes 9 of 11 permanent group members (limit 30%)" in refused.err
    assert "- remove  group:sre  u9@example.com" in refused.out, "the refused plan is shown before the refusal"
    assert "u9@example.com" in repo.tailnet.read_text()
    assert repo.run("apply", "--force").code == 0
    assert "u9@example.com" not in repo.tailnet.read_text()


def test_dry_run_validates_but_does_not_write(repo: AccessRepo) -> None:
    repo.grant("prod", "alice.yaml", ALICE)
    result = repo.run("apply", "--at", AT, "--dry-run")
    assert result.code == 0
    assert "Dry run" in result.out
    assert not repo.tailnet.exists()


def test_status_table_and_json(repo: AccessRepo) -> None:
    repo.grant("prod", "alice.yaml", ALICE)
    repo.grant("prod", "carol.yaml", CAROL_EXPIRED)
    repo.grant("staging", "pat.yaml", "user: pat@example.com\ntarget: staging\nreason: r\n"
                                      "start: 2026-11-25T00:00:00Z\nexpires: 2026-11-26T00:00:00Z\n")
    table = repo.run("status", "--at", AT)
    assert table.code == 0
    lines = table.out.splitlines()
    assert lines[0].split() == ["STATE", "TARGET", "USER", "START", "END", "LEFT", "FILE"]
    assert any(line.split()[:3] == ["active", "prod", "alice@example.com"] and "2h" in line.split()
               for line in lines)
    data = json.loads(repo.run("status", "--at", AT, "--json").out)
    states = {g["user"]: (g["state"], g["left_seconds"]) for g in data["grants"]}
    assert states == {"alice@example.com": ("active", 7200), "carol@example.com": ("expired", None),
                      "pat@example.com": ("pending", 12 * 3600)}


def test_missing_config_is_a_clear_error(tmp_path: Path, run_cli) -> None:  # type: ignore[no-untyped-def]
    result = run_cli("--config", str(tmp_path / "nope.yaml"), "plan")
    assert result.code == 1
    assert "no such file" in result.err and "hint:" in result.err


def test_unknown_backend_and_usage_errors(repo: AccessRepo) -> None:
    assert "unknown backend 'ftp:x'" in repo.run("--backend", "ftp:x", "plan").err
    assert repo.run("frobnicate").code == 2
    assert repo.run("plan", "--bogus").code == 2


def test_help_teaches(run_cli) -> None:  # type: ignore[no-untyped-def]
    result = run_cli("--help")
    assert result.code == 0
    for command in ("validate", "render", "plan", "apply", "status"):
        assert command in result.out
    assert "tailjit plan" in result.out


def test_file_backend_path_relative_to_repository_root(repo: AccessRepo) -> None:
    os.chdir(repo.root.parent)
    assert repo.run("--backend", "file:out/tailnet.hujson", "apply").code == 0
    assert (repo.root / "out" / "tailnet.hujson").exists()


def test_a_broken_base_policy_fails_validate_but_not_status(repo: AccessRepo) -> None:
    repo.grant("prod", "alice.yaml", ALICE)
    policy = repo.root / "policy" / "policy.hujson"
    policy.write_text(policy.read_text().replace('"acls": [', '"acls": [[', 1))
    assert repo.run("validate", "--at", AT).code == 1
    assert repo.run("apply", "--at", AT).code == 1
    assert not repo.tailnet.exists()
    status = repo.run("status", "--at", AT)
    assert status.code == 0 and "alice@example.com" in status.out
