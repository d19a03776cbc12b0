"""``tailjit access``: who has access now, per target, from the live policy (file tailnet and the fake API)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from reconciler.core.access import who_has_access
from reconciler.core.config import Target
from reconciler.core.durations import format_time
from tests.support.access import BASE_POLICY, AccessRepo
from tests.support.fake_tailscale import FakeTailscale
from tests.support.tailscale_repo import API_KEY, assert_hidden, fake_tailnet

T = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def grant(repo: AccessRepo, user: str, until: datetime, target: str = "prod") -> None:
    repo.grant(target, f"{user}.yaml", f"user: {user}@example.com\ntarget: {target}\nreason: r\n"
                                       f"start: {format_time(T - timedelta(hours=1))}\n"
                                       f"expires: {format_time(until)}\n")


def access(repo: AccessRepo, when: datetime, *args: str) -> dict[str, dict[str, dict[str, object]]]:
    result = repo.run("access", "--json", "--at", format_time(when), *args)
    assert result.code == 0, result.err
    doc = json.loads(result.out)
    return {t["target"]: {m["user"]: m for m in t["members"]} for t in doc["targets"]}


def test_permanent_temporary_and_members_the_repository_does_not_know(repo: AccessRepo) -> None:
    grant(repo, "alice", T + timedelta(hours=4))
    grant(repo, "bob", T + timedelta(days=2), "staging")
    grant(repo, "eve", T + timedelta(hours=4))
    assert repo.run("apply", "--at", format_time(T)).code == 0
    (repo.root / "policy" / "grants" / "prod" / "eve.yaml").unlink()  # deleted, not yet applied
    text = repo.tailnet.read_text().replace('"dana@example.com", // lead',
                                            '"dana@example.com", // lead\n\t\t\t"mallory@example.com",')
    repo.tailnet.write_text(text)
    found = access(repo, T + timedelta(hours=1))
    assert found["prod"] == {
        "dana@example.com": {"target": "prod", "group": "group:prod", "user": "dana@example.com",
                             "kind": "permanent", "until": None, "file": None, "problem": None},
        "mallory@example.com": {"target": "prod", "group": "group:prod", "user": "mallory@example.com",
                                "kind": "drift", "until": None, "file": None,
                                "problem": "not in the base policy and no grant file: added outside git"},
        "alice@example.com": {"target": "prod", "group": "group:prod", "user": "alice@example.com",
                              "kind": "temporary", "until": format_time(T + timedelta(hours=4)),
                              "file": "prod/alice.yaml", "problem": None},
        "eve@example.com": {"target": "prod", "group": "group:prod", "user": "eve@example.com", "kind": "drift",
                            "until": format_time(T + timedelta(hours=4)), "file": "prod/eve.yaml",
                            "problem": "its grant file is not in the repository"},
    }
    assert found["staging"]["bob@example.com"]["kind"] == "temporary"
    assert access(repo, T + timedelta(hours=5))["prod"]["alice@example.com"]["problem"] == (
        "expired; the next apply revokes it")

    table = repo.run("access", "--at", format_time(T + timedelta(hours=1)))
    assert table.code == 0
    lines = table.out.splitlines()
    assert lines[0].split() == ["TARGET", "USER", "ACCESS", "UNTIL", "LEFT", "GRANT", "FILE", "NOTE"]
    assert any(line.split()[:6] == ["prod", "alice@example.com", "temporary",
                                    format_time(T + timedelta(hours=4)), "3h", "prod/alice.yaml"] for line in lines)
    assert "warning: 2 member(s) the repository does not account for" in table.err


def test_an_empty_tailnet_has_nobody(repo: AccessRepo) -> None:
    result = repo.run("access", "--at", format_time(T))
    assert result.code == 0 and result.out == "No members in any target group of file:tailnet.hujson.\n"


def test_hostile_notes_are_drift_and_never_break_the_listing() -> None:
    targets = {"prod": Target("prod", "group:prod", timedelta(hours=8))}
    live = (b'{"groups": {"group:prod": [\n'
            b'  "a@example.com", // tailjit: prod/a.yaml until yesterday\n'
            b'  "b@example.com", // tailjit: ../../etc/passwd\n'
            b'  "c@example.com", /* tailjit: prod/c.yaml until 2026-12-01T13:00:00Z */\n'
            b'  "c@example.com",\n'
            b'  42, {"x": 1},\n'
            b']}}')
    found = {m.user: (m.kind, m.file, m.problem)
             for m in who_has_access(live, BASE_POLICY.encode(), targets, {"prod/a.yaml", "prod/c.yaml"}, T)}
    unknown = "not in the base policy and no grant file: added outside git"
    assert found == {
        "a@example.com": ("drift", None, unknown),
        "b@example.com": ("drift", None, unknown),
        "c@example.com": ("temporary", "prod/c.yaml", None),
    }


def test_reads_the_tailnet_through_the_api(repo: AccessRepo, monkeypatch: pytest.MonkeyPatch) -> None:
    grant(repo, "alice", T + timedelta(hours=4))
    with fake_tailnet(repo, monkeypatch) as fake:
        assert repo.run("apply", "--at", format_time(T)).code == 0
        found = access(repo, T)
        result = repo.run("access", "--at", format_time(T))
        assert_gets_only(fake)
    assert found["prod"]["alice@example.com"]["kind"] == "temporary"
    assert_hidden([API_KEY], result.out, result.err)


def assert_gets_only(fake: FakeTailscale) -> None:
    assert fake.count("POST", "/acl") == 1, "access writes nothing (the one write is apply's)"
