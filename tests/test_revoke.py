"""The revoke-only plan (pure), and the checks around it: hostile times, pure machine output, warnings."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from reconciler import hujson
from reconciler.core.durations import parse_duration, parse_time
from reconciler.core.policy import split_header, with_header
from reconciler.core.revoke import revoke_plan, without_tests
from tests.support.access import AccessRepo

NOW = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)
LIVE = b"""{
\t"groups": {
\t\t"group:prod": [
\t\t\t"dana@example.com", // lead
\t\t\t"alice@example.com", // tailjit: prod/alice.yaml until 2026-11-24T14:00:00Z
\t\t\t"bob@example.com", // tailjit: prod/bob.yaml until 2026-11-24T18:00:00Z
\t\t\t"eve@example.com", // tailjit: prod/eve.yaml until someday
\t\t],
\t\t"group:inline": ["carol@example.com" /* tailjit: inline/c.yaml until 2026-11-24T14:00:00Z */],
\t},
\t"tests": [{"src": "alice@example.com", "accept": ["tag:prod:22"]}, {"src": "dana@example.com", "accept": []}],
}
"""


def groups(text: bytes) -> dict[str, list[str]]:
    return dict(hujson.parse(text).to_python()["groups"])


def test_expired_members_leave_with_their_notes_and_nothing_else_changes() -> None:
    plan = revoke_plan(LIVE, NOW)
    assert groups(plan.proposed) == {"group:prod": ["dana@example.com", "bob@example.com", "eve@example.com"],
                                     "group:inline": []}
    assert b"alice" not in plan.proposed.split(b'"tests"')[0] and b"inline/c.yaml" not in plan.proposed
    assert [(r.group, r.user, r.gone) for r in plan.revocations] == [
        ("group:prod", "alice@example.com", False), ("group:inline", "carol@example.com", False)]
    assert [(u.user, u.note) for u in plan.unreadable] == [("eve@example.com", "prod/eve.yaml until someday")]
    assert plan.next_expiry == datetime(2026, 11, 24, 18, 0, tzinfo=UTC)
    assert b'"dana@example.com", // lead' in plan.proposed


def test_a_member_whose_file_is_gone_leaves_when_the_files_are_known() -> None:
    plan = revoke_plan(LIVE, NOW, existing={"prod/alice.yaml"})
    assert "bob@example.com" not in groups(plan.proposed)["group:prod"]
    assert "eve@example.com" in groups(plan.proposed)["group:prod"], "an unreadable note is never revoked"


def test_nothing_expired_is_the_live_text_unchanged_and_an_empty_tailnet_has_nothing() -> None:
    early = datetime(2026, 11, 24, 13, 0, tzinfo=UTC)
    text = LIVE.replace(b"group:inline", b"group:other").replace(b"2026-11-24T14:00:00Z", b"2026-11-24T16:00:00Z")
    assert not revoke_plan(text, early).has_changes
    assert not revoke_plan(b"", NOW).has_changes


def test_a_header_tailjit_wrote_stays_valid_and_a_foreign_one_stays_as_it_is() -> None:
    managed = revoke_plan(with_header(LIVE), NOW).proposed
    digest, body = split_header(managed)
    assert digest is not None and with_header(body) == managed
    foreign = b"// tailjit:digest sha256:" + b"0" * 64 + b" (edited)\n" + LIVE
    proposed = revoke_plan(foreign, NOW).proposed
    assert proposed.startswith(foreign.split(b"\n")[0] + b"\n"), "drift stays drift"


def test_without_tests_drops_only_the_tests_of_revoked_users() -> None:
    plan, named = without_tests(revoke_plan(LIVE, NOW))
    assert named == ('tests[0]: {"src": "alice@example.com", "accept": ["tag:prod:22"]}',)
    assert hujson.parse(plan.proposed).to_python()["tests"] == [{"src": "dana@example.com", "accept": []}]


@pytest.mark.parametrize("text", ["9999-12-31T23:59:59-01:00", "0001-01-01T00:30:00+01:00",
                                  "1999-12-31T23:00:00Z", "2101-01-01T00:00:00Z"])
def test_times_outside_2000_to_2100_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="outside the years 2000-2100"):
        parse_time(text)


def test_durations_longer_than_ten_years_are_refused() -> None:
    with pytest.raises(ValueError, match="longer than ten years"):
        parse_duration("999999w")


def test_status_json_and_render_stay_pure_inside_actions(repo: AccessRepo, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    repo.grant("prod", "broken.yaml", "user: [\n")
    repo.grant("prod", "far.yaml", "user: far@example.com\ntarget: prod\nreason: x\nexpires: 9999-12-31T23:59:59-01:00\n")
    result = repo.run("status", "--json", "--at", "2026-11-24T12:00:00Z")
    rows = json.loads(result.out)["grants"]
    assert [(r["state"], r["file"]) for r in rows] == [("invalid", "policy/grants/prod/broken.yaml"),
                                                      ("invalid", "policy/grants/prod/far.yaml")]
    assert "::warning file=policy/grants/prod/broken.yaml" in result.err
    assert "policy/grants/prod/far.yaml:4: expires: '9999-12-31T23:59:59-01:00' is outside" in result.err
    rendered = repo.run("render", "--at", "2026-11-24T12:00:00Z")
    assert "// tailjit:digest" in rendered.out
    assert not any(line.startswith("::") for line in rendered.out.splitlines())
    planned = repo.run("plan", "--json", "--at", "2026-11-24T12:00:00Z")
    assert json.loads(planned.out)["changes"] is True, "the JSON parses: no annotation before it"


def test_a_file_name_cannot_inject_a_workflow_command(repo: AccessRepo, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    repo.grant("prod", "x\n::add-mask::y.yaml", "user: a@example.com\n")
    result = repo.run("validate")
    assert result.code == 1
    assert not any(line.startswith("::add-mask") for line in (result.out + result.err).splitlines())
    assert "prod/x\\n::add-mask::y.yaml" in result.err


def test_validate_warns_of_tests_tag_owners_and_auto_approvers_that_outlive_a_grant(repo: AccessRepo) -> None:
    path = repo.root / "policy" / "policy.hujson"
    path.write_text(path.read_text().replace(
        '"tagOwners": {"tag:prod": ["group:sre"]},',
        '"tagOwners": {"tag:prod": ["group:sre"], "tag:temp": ["group:prod"]},\n'
        '\t"autoApprovers": {"routes": {"10.0.0.0/8": ["group:staging"]}},\n'
        '\t"tests": [{"src": "alice@example.com", "accept": ["tag:prod:22"]},'
        ' {"src": "dana@example.com", "accept": ["tag:prod:22"]}],'))
    repo.grant("prod", "alice.yaml", "user: alice@example.com\ntarget: prod\nreason: x\n"
                                     "start: 2026-11-24T10:00:00Z\nexpires: 2026-11-24T14:00:00Z\n")
    result = repo.run("validate", "--at", "2026-11-24T12:00:00Z")
    assert result.code == 0, result.err
    assert ("policy/policy.hujson: warning: tests[0] checks alice@example.com, who has access only through a "
            "grant") in result.err
    assert "tests[1]" not in result.err, "a permanent member's test is fine"
    assert "tagOwners['tag:temp'] lists target group group:prod" in result.err
    assert "autoApprovers['routes']['10.0.0.0/8'] lists target group group:staging" in result.err


def test_a_missing_grants_folder_is_a_configuration_error_but_a_missing_target_folder_is_not(
        repo: AccessRepo) -> None:
    assert repo.run("validate").code == 0, "no prod/ or staging/ folder yet is fine"
    (repo.root / "policy" / "grants").rmdir()
    result = repo.run("validate")
    assert result.code == 1
    assert "policy/tailjit.yaml: 'grants': the folder policy/grants does not exist" in result.err


def test_audit_csv_cells_never_start_a_formula() -> None:
    from reconciler.cli.git import csv_cell

    assert [csv_cell(t) for t in ("=HYPERLINK(1)", "+1", "-2", "@SUM(A1)", "alice")] == [
        "'=HYPERLINK(1)", "'+1", "'-2", "'@SUM(A1)", "alice"]


@pytest.mark.parametrize("key", ["tskey-api-k\nSECRETVALUE", "tskey-api-kSECRÉTVALUE"])
def test_a_key_with_control_or_non_ascii_characters_is_refused_unsent(repo: AccessRepo, key: str,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TS_API_KEY", key)
    monkeypatch.setenv("TS_BASE_URL", "http://127.0.0.1:9")
    result = repo.run("--backend", "tailscale", "plan")
    assert result.code == 1
    assert "TS_API_KEY holds a control or non-ASCII character" in result.err
    assert "SECR" not in result.err + result.out


def test_a_base_url_with_a_password_is_refused_without_showing_it(repo: AccessRepo,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TS_BASE_URL", "https://user:hunter2@api.example.com")
    result = repo.run("--backend", "tailscale", "plan")
    assert result.code == 2
    assert "user name or password" in result.err and "hunter2" not in result.err


def test_the_plan_comment_shows_an_extend_row_when_an_active_grants_end_moves() -> None:
    from datetime import timedelta

    from reconciler.core.config import Target
    from reconciler.core.grants import Grant, GrantStatus, State
    from reconciler.core.plan import make_plan
    from reconciler.core.render import render
    from reconciler.text.comment import plan_comment
    from tests.support.access import BASE_POLICY

    targets = {"prod": Target("prod", "group:prod", timedelta(hours=8), approvers=("@acme/sre",)),
               "staging": Target("staging", "group:staging", timedelta(days=7))}
    start = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)

    def active(name: str, hours: int) -> GrantStatus:
        grant = Grant(f"policy/grants/prod/{name}", "alice@example.com", "prod", "INC-1")
        return GrantStatus(grant, State.ACTIVE, start, start + timedelta(hours=hours))

    live = render(BASE_POLICY.encode(), targets, [active("alice.yaml", 4)])
    # The file renamed and rewritten: same member, a later end.
    later = active("alice-again.yaml", 8)
    plan = make_plan(live, render(BASE_POLICY.encode(), targets, [later]), targets)
    assert plan.data["counts"]["grant"] == 0 and plan.data["counts"]["extend"] == 1
    [moved] = plan.data["extensions"]
    assert (moved["user"], moved["previous_until"], moved["until"]) == (
        "alice@example.com", "2026-11-24T14:00:00Z", "2026-11-24T18:00:00Z")
    body = plan_comment(plan.data, [later], targets, where="file:x", at=NOW)
    assert "0 to grant, 1 to extend, 0 to revoke" in body
    assert "🔁 extend | `alice@example.com` | **prod** `group:prod` | 2026-11-24T14:00:00Z → 2026-11-24T18:00:00Z" in body
    assert "@acme/sre" in body, "an extension is approved like a grant"
