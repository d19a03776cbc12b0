"""Warnings from the tailnet that never stop a run: the API key's expiry and grants for logins that are not users;
and targets whose group is synced by SCIM, refused at load."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from reconciler.backends.tailscale import TailscaleBackend
from reconciler.cli.tailnet_notes import KeyWatch
from reconciler.core.config import Config
from reconciler.core.tailnet import TailnetUser, key_warning, user_problems, users_by_login
from reconciler.credentials.tokens import ApiKey, Secret
from tests.support.access import AccessRepo
from tests.support.fake_tailscale import USERS_READ, WRITE, FakeTailscale, serve, user
from tests.support.policies import active
from tests.support.tailscale_repo import ALICE, API_KEY, AT, CLIENT_ID, CLIENT_SECRET, assert_hidden, fake_tailnet

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
SOON = "2026-11-29T12:00:00Z"     # 5 days after AT
LATER = "2027-01-20T12:00:00Z"    # 57 days after AT
KEYS = "/api/v2/tailnet/-/keys/kSECRETk1CNTRL"
BOB = ALICE.replace("alice", "bob").replace("INC-1234", "INC-1300")


@pytest.fixture
def fake(repo: AccessRepo, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeTailscale]:
    with fake_tailnet(repo, monkeypatch) as fake:
        yield fake


def test_key_warning_counts_days_and_says_how_to_move() -> None:
    soon = key_warning("TS_API_KEY", datetime(2026, 11, 29, 12, tzinfo=UTC), NOW, 14)
    assert soon is not None and "expires in 5 days (2026-11-29T12:00:00Z)" in soon
    assert "OAuth client or workload identity" in soon
    assert key_warning("TS_API_KEY", datetime(2026, 12, 8, 12, tzinfo=UTC), NOW, 14) is None, "14 days left: quiet"
    assert "within a day" in (key_warning("TS_API_KEY", datetime(2026, 11, 24, 18, tzinfo=UTC), NOW, 14) or "")
    assert "expired at" in (key_warning("TS_API_KEY", datetime(2026, 11, 1, tzinfo=UTC), NOW, 14) or "")
    assert key_warning("TS_API_KEY", datetime(2026, 11, 25, tzinfo=UTC), NOW, 0) is None, "0 turns it off"


def test_user_problems_name_unknown_and_suspended_logins_case_blind() -> None:
    users = users_by_login([TailnetUser("Alice@Example.com"), TailnetUser("bob@example.com", "suspended")])
    found = user_problems([active("alice@example.com"), active("bob@example.com"), active("zed@example.com")], users)
    assert len(found) == 2
    assert found[0].startswith("bob@example.com (prod/bob.yaml) is suspended")
    assert found[1].startswith("zed@example.com (prod/zed.yaml) is not a user of this tailnet")


def test_plan_and_apply_warn_when_the_key_expires_soon(repo: AccessRepo, fake: FakeTailscale,
                                                       tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake.add_api_key(API_KEY, expires=SOON)
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    repo.grant("prod", "alice.yaml", ALICE)
    planned = repo.run("plan", "--at", AT)
    applied = repo.run("apply", "--at", AT)
    for result in (planned, applied):
        assert result.code == 0, result.err
        assert "warning: the API access token from TS_API_KEY expires in 5 days (2026-11-29T12:00:00Z)" in result.err
    text = summary.read_text()
    assert text.count("expires in 5 days") == 2, "the plan comment and the apply summary both say it"
    assert "> [!NOTE]\n> the API access token from TS\\_API\\_KEY expires in 5 days" in text
    assert fake.count("GET", KEYS) == 1, "asked once a day (kept in .tailjit/api-key.json)"
    assert API_KEY not in (repo.root / ".tailjit" / "api-key.json").read_text()
    assert_hidden([API_KEY], planned.out, planned.err, applied.out, applied.err, text)


def test_a_key_far_from_expiry_or_an_oauth_client_gives_no_warning(repo: AccessRepo, fake: FakeTailscale,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    fake.add_api_key(API_KEY, expires=LATER)
    assert "expires" not in repo.run("apply", "--at", AT).err
    monkeypatch.delenv("TS_API_KEY")
    fake.add_oauth_client(CLIENT_ID, CLIENT_SECRET, scopes=[WRITE])
    monkeypatch.setenv("TS_OAUTH_CLIENT_ID", CLIENT_ID)
    monkeypatch.setenv("TS_OAUTH_CLIENT_SECRET", CLIENT_SECRET)
    fake.requests.clear()
    assert repo.run("apply", "--at", AT).code == 0
    assert fake.count("GET", KEYS) == 0, "an OAuth token is not an API key: nothing to look up"


@pytest.mark.parametrize("status", [404, 500, 403])
def test_a_failing_keys_endpoint_never_stops_a_revocation(repo: AccessRepo, fake: FakeTailscale,
                                                          status: int) -> None:
    repo.grant("prod", "alice.yaml", ALICE)
    assert repo.run("apply", "--at", AT).code == 0
    fake.fail_next(5, status=status, path="/api/v2/tailnet/-/keys/")
    result = repo.run("apply", "--at", "2026-11-24T15:00:00Z")
    assert result.code == 0, result.err
    assert b"alice@example.com" not in fake.policy
    assert "expires" not in result.err


def test_a_garbled_expiry_is_not_a_failure(repo: AccessRepo, fake: FakeTailscale) -> None:
    fake.add_api_key(API_KEY, expires="next tuesday")
    result = repo.run("apply", "--at", AT)
    assert result.code == 0 and "expires" not in result.err
    doctor = repo.run("doctor")
    assert "key         its expiry could not be read" in doctor.out and "not a time" in doctor.out


def test_doctor_prints_the_expiry(repo: AccessRepo, fake: FakeTailscale) -> None:
    fake.add_api_key(API_KEY, expires="2099-01-01T00:00:00Z")
    result = repo.run("doctor")
    assert result.code == 0, result.out
    assert "ok    key         the API access token expires 2099-01-01T00:00:00Z (in " in result.out
    fake.add_api_key(API_KEY, expires="2020-01-01T00:00:00Z")
    expired = repo.run("doctor")
    assert "key         warning: the API access token from TS_API_KEY expired at 2020-01-01T00:00:00Z" in expired.out
    assert_hidden([API_KEY], result.out, expired.out)


@pytest.mark.parametrize(("value", "message"), [
    ("-3", "'warn_key_days' must be a whole number of days from 0 (never warn) to 90"),
    ("365", "to 90, not '365'"),
    ("two weeks", "not 'two weeks'"),
    ("[14]", "'warn_key_days' must be a string"),
])
def test_bad_warn_key_days_is_refused_at_its_line(repo: AccessRepo, value: str, message: str) -> None:
    repo.config.write_text(repo.config.read_text() + f"warn_key_days: {value}\n")
    result = repo.run("validate")
    assert result.code == 1 and message in result.err
    line = repo.config.read_text().count("\n")
    assert f"tailjit.yaml:{line}:" in result.err


def test_warn_key_days_zero_turns_the_warning_off(repo: AccessRepo, fake: FakeTailscale) -> None:
    repo.config.write_text(repo.config.read_text() + "warn_key_days: 0\n")
    fake.add_api_key(API_KEY, expires=SOON)
    result = repo.run("plan", "--at", AT)
    assert result.code == 0 and "expires" not in result.err and fake.count("GET", KEYS) == 0


def test_plan_flags_grants_for_unknown_or_suspended_users(repo: AccessRepo, fake: FakeTailscale,
                                                          tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake.users = [user("dana@example.com"), user("bob@example.com", status="suspended")]
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    repo.grant("prod", "alice.yaml", ALICE)
    repo.grant("prod", "bob.yaml", BOB)
    result = repo.run("plan", "--at", AT, "--json")
    assert result.code == 0, result.err
    warnings = json.loads(result.out)["warnings"]
    assert [w.split(" (")[0] for w in warnings] == ["alice@example.com", "bob@example.com"]
    assert "is not a user of this tailnet" in warnings[0] and "is suspended" in warnings[1]
    assert "warning: alice@example.com (prod/alice.yaml) is not a user" in result.err
    assert "is not a user of this tailnet" in summary.read_text()
    applied = repo.run("apply", "--at", AT)
    assert applied.code == 0 and b"alice@example.com" in fake.policy, "a flag, never a refusal"


def test_users_not_readable_is_a_note_and_the_plan_goes_on(repo: AccessRepo, fake: FakeTailscale) -> None:
    fake.users = [user("dana@example.com")]
    fake.add_api_key(API_KEY, scopes=["policy_file"])
    repo.grant("prod", "alice.yaml", ALICE)
    result = repo.run("plan", "--at", AT)
    assert result.code == 0
    assert "note: grant users not checked against the tailnet: this credential may not list users (users:read)" \
        in result.err
    assert "not a user" not in result.err
    fake.users = None  # an API without the endpoint
    fake.add_api_key(API_KEY)
    assert "users:read" in repo.run("plan", "--at", AT).err


def test_a_users_read_scope_is_enough(repo: AccessRepo, fake: FakeTailscale) -> None:
    fake.users = []
    fake.add_api_key(API_KEY, scopes=["policy_file", USERS_READ])
    repo.grant("prod", "alice.yaml", ALICE)
    assert "alice@example.com (prod/alice.yaml) is not a user" in repo.run("plan", "--at", AT).err


def test_a_scim_synced_group_is_refused_with_an_explanation(repo: AccessRepo) -> None:
    repo.config.write_text(repo.config.read_text().replace("group: group:prod", "group: group:eng@example.com"))
    result = repo.run("validate")
    assert result.code == 1
    assert "tailjit.yaml:5:" in result.err
    assert "group:eng@example.com, a group synced from the identity provider" in result.err
    assert "SCIM" in result.err and "group:prod-jit" in result.err


def test_the_expiry_is_asked_for_once_a_day_even_when_it_cannot_be_read(repo: AccessRepo,
                                                                       fake: FakeTailscale) -> None:
    for at in ("2026-11-24T12:00:00Z", "2026-11-24T13:00:00Z", "2026-11-25T11:59:00Z"):
        assert repo.run("apply", "--at", at).code == 0
    assert fake.count("GET", KEYS) == 1, "no expiry known (404): not asked again within the day"
    fake.add_api_key(API_KEY, expires=SOON)
    result = repo.run("apply", "--at", "2026-11-25T12:00:00Z")
    assert fake.count("GET", KEYS) == 2 and "expires in 4 days" in result.err
    (repo.root / ".tailjit" / "api-key.json").write_text("{garbled")
    assert "expires in 3 days" in repo.run("apply", "--at", "2026-11-25T12:01:00Z").err  # 3 days 23 h
    assert fake.count("GET", KEYS) == 3, "a garbled cache is asked again, not trusted"


def test_the_watch_loop_warns_on_its_first_cycle_then_once_a_day(tmp_path: Path) -> None:
    config = Config(path=tmp_path / "policy" / "tailjit.yaml", root=tmp_path, policy_path=tmp_path / "p",
                    grants_dir=tmp_path / "g", targets={})
    with serve() as fake:
        fake.add_api_key(API_KEY, expires=SOON)
        backend = TailscaleBackend("-", ApiKey(Secret(API_KEY), "TS_API_KEY"), base_url=fake.url)
        watch = KeyWatch(backend, config)
        try:
            first = watch.due(NOW)
            assert watch.due(NOW + timedelta(hours=1)) == [], "said once; not again within the day"
            next_day = watch.due(NOW + timedelta(hours=25))
        finally:
            backend.close()
    assert len(first) == 1 and "expires in 5 days" in first[0]
    assert len(next_day) == 1 and "expires in 3 days" in next_day[0]
    assert fake.count("GET", KEYS) == 2
