"""``lock: posture`` on apply and plan, through the real CLI against the fake Tailscale API (devices included)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from reconciler import hujson
from reconciler.backends import open_backend
from reconciler.posture import open_lock, target_of_grant
from reconciler.repo.workspace import open_workspace
from reconciler.watch import LOCK_NAME, Watcher, state_dir
from tests.support.access import AccessRepo
from tests.support.fake_devices import CORE_READ, POSTURE
from tests.support.fake_tailscale import READ, WRITE, FakeTailscale
from tests.support.tailscale_repo import ALICE, API_KEY, AT, CLIENT_ID, CLIENT_SECRET, assert_hidden, fake_tailnet
from tests.test_posture_policy import LOCKED_CONFIG, LOCKED_POLICY

ACL = "/api/v2/tailnet/-/acl"
DEVICES = "/api/v2/tailnet/-/devices"
KEY = "custom:tailjit_prod"
END = datetime(2026, 11, 24, 14, 0, tzinfo=UTC)
STAGING = """\
user: erin@example.com
target: staging
reason: testing
expires: 2026-11-24T14:00:00Z
"""


@pytest.fixture
def fake(repo: AccessRepo, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeTailscale]:
    """A tailnet with the locked policy (no grant active); alice has a laptop, a phone and a tagged server,
    bob a laptop."""
    repo.config.write_text(LOCKED_CONFIG)
    (repo.root / "policy" / "policy.hujson").write_text(LOCKED_POLICY)
    with fake_tailnet(repo, monkeypatch) as fake:
        fake.devices.add("alice@example.com", "alice-laptop")
        fake.devices.add("alice@example.com", "alice-phone")
        fake.devices.add("alice@example.com", "build-server", tags=["tag:ci"])
        fake.devices.add("bob@example.com", "bob-laptop")
        yield fake


def members(fake: FakeTailscale) -> list[str]:
    return list(hujson.parse(fake.policy).to_python()["groups"]["group:prod"])


def reaches(fake: FakeTailscale, user: str, hostname: str) -> bool:
    device = next(d.node_id for d in fake.devices.devices.values() if d.hostname == hostname)
    return fake.devices.reaches(fake.policy, user, device, "group:prod", KEY)


def calls(fake: FakeTailscale) -> list[tuple[str, str]]:
    return [(r.method, r.path) for r in fake.received]


def test_apply_marks_each_device_before_adding_the_member(repo: AccessRepo, fake: FakeTailscale) -> None:
    repo.grant("prod", "alice.yaml", ALICE)
    result = repo.run("apply", "--at", AT)
    assert result.code == 0, result.err
    assert members(fake) == ["alice@example.com"]
    assert fake.devices.holders(KEY) == {"alice-laptop": END, "alice-phone": END}  # not the tagged server
    assert fake.devices.attribute("n0001CNTRL", KEY) == (
        "granted", END, "tailjit: prod/alice.yaml until 2026-11-24T14:00:00Z")
    order = calls(fake)
    sets = [i for i, (m, p) in enumerate(order) if m == "POST" and p.endswith("/attributes/" + KEY)]
    assert len(sets) == 2 and max(sets) < order.index(("POST", ACL)), "attributes first, then the member"
    assert "+ set    custom:tailjit_prod=granted on alice-laptop (alice@example.com) until 2026-11-24T14:00:00Z" \
        in result.out
    assert "2 posture attribute(s) changed." in result.out
    assert reaches(fake, "alice@example.com", "alice-laptop") and not reaches(fake, "bob@example.com", "bob-laptop")
    assert_hidden([API_KEY], result.out, result.err)


def test_access_ends_at_the_grant_end_with_tailjit_stopped(repo: AccessRepo, fake: FakeTailscale) -> None:
    repo.grant("prod", "alice.yaml", ALICE)
    assert repo.run("apply", "--at", AT).code == 0
    assert reaches(fake, "alice@example.com", "alice-phone")
    fake.received.clear()
    # tailjit never runs again: no schedule, no watcher. Only Tailscale's clock moves.
    fake.devices.advance(END - fake.devices.now - timedelta(seconds=1))
    assert reaches(fake, "alice@example.com", "alice-phone"), "one second before the end: still in"
    fake.devices.advance(timedelta(seconds=1))
    assert members(fake) == ["alice@example.com"], "the group still lists her: nobody removed her"
    assert not reaches(fake, "alice@example.com", "alice-phone")
    assert not reaches(fake, "alice@example.com", "alice-laptop")
    assert fake.received == [], "no call to the tailnet was needed"


def test_a_converged_run_lists_devices_once_and_writes_nothing(repo: AccessRepo, fake: FakeTailscale) -> None:
    repo.grant("prod", "alice.yaml", ALICE)
    assert repo.run("apply", "--at", AT).code == 0
    fake.requests.clear()
    result = repo.run("apply", "--at", AT)
    assert result.code == 0 and "No changes" in result.out and "posture attribute" not in result.out
    assert dict(fake.requests) == {("GET", ACL): 1, ("GET", DEVICES): 1, ("GET", "/api/v2/device/n0001CNTRL/attributes"): 1,
                                   ("GET", "/api/v2/device/n0002CNTRL/attributes"): 1}


def test_without_a_locked_grant_no_device_is_read(repo: AccessRepo, fake: FakeTailscale) -> None:
    repo.grant("staging", "erin.yaml", STAGING)
    fake.requests.clear()
    result = repo.run("apply", "--at", AT)
    assert result.code == 0, result.err
    assert "erin@example.com" in hujson.parse(fake.policy).to_python()["groups"]["group:staging"]
    # plus the API key's expiry, asked for once a day (docs/real-tailnet.md)
    assert set(fake.requests) == {("GET", ACL), ("POST", ACL + "/validate"), ("POST", ACL),
                                  ("GET", "/api/v2/tailnet/-/keys/kSECRETk1CNTRL")}


def test_a_device_added_during_the_grant_is_marked_on_the_next_run(repo: AccessRepo, fake: FakeTailscale) -> None:
    repo.grant("prod", "alice.yaml", ALICE)
    assert repo.run("apply", "--at", AT).code == 0
    tablet = fake.devices.add("alice@example.com", "alice-tablet")
    assert not fake.devices.reaches(fake.policy, "alice@example.com", tablet, "group:prod", KEY)
    fake.received.clear()
    result = repo.run("apply", "--at", AT)
    assert result.code == 0, result.err
    assert [(m, p) for m, p in calls(fake) if m != "GET"] == [("POST", f"/api/v2/device/{tablet}/attributes/{KEY}")]
    assert fake.devices.reaches(fake.policy, "alice@example.com", tablet, "group:prod", KEY)


def test_an_extended_grant_moves_the_expiry(repo: AccessRepo, fake: FakeTailscale) -> None:
    path = repo.grant("prod", "alice.yaml", ALICE)
    assert repo.run("apply", "--at", AT).code == 0
    path.write_text(ALICE.replace("14:00:00Z", "16:00:00Z"))
    repo.commit("extend alice")
    assert repo.run("apply", "--at", AT).code == 0
    assert fake.devices.holders(KEY) == {"alice-laptop": END + timedelta(hours=2),
                                         "alice-phone": END + timedelta(hours=2)}


@pytest.mark.parametrize("how", ["file deleted", "expired"])
def test_revocation_removes_the_member_then_the_attributes(repo: AccessRepo, fake: FakeTailscale, how: str) -> None:
    path = repo.grant("prod", "alice.yaml", ALICE)
    assert repo.run("apply", "--at", AT).code == 0
    fake.received.clear()
    if how == "file deleted":
        path.unlink()
        repo.commit("revoke alice")
        result = repo.run("apply", "--at", AT)
    else:
        result = repo.run("apply", "--at", "2026-11-24T14:30:00Z")
    assert result.code == 0, result.err
    assert members(fake) == [] and fake.devices.holders(KEY) == {}
    order = calls(fake)
    deletes = [i for i, (m, _) in enumerate(order) if m == "DELETE"]
    assert len(deletes) == 2 and min(deletes) > order.index(("POST", ACL)), "the member first, then the attribute"
    assert "- delete custom:tailjit_prod on alice-phone (alice@example.com)" in result.out


def test_plan_shows_attribute_changes_per_device_and_writes_nothing(repo: AccessRepo, fake: FakeTailscale) -> None:
    repo.grant("prod", "alice.yaml", ALICE)
    result = repo.run("plan", "--at", AT)
    assert result.code == 0, result.err
    assert "Posture attributes (lock: posture):" in result.out
    assert "+ set    custom:tailjit_prod=granted on alice-phone (alice@example.com) until 2026-11-24T14:00:00Z" \
        in result.out and "2 posture attribute(s) would change." in result.out
    data = json.loads(repo.run("plan", "--at", AT, "--json").out)
    assert [(c["action"], c["device"], c["expiry"]) for c in data["attribute_changes"]] == [
        ("set", "alice-laptop", "2026-11-24T14:00:00Z"), ("set", "alice-phone", "2026-11-24T14:00:00Z")]
    assert {m for m, _ in calls(fake)} == {"GET"} and fake.devices.holders(KEY) == {}


def test_dry_run_reads_and_writes_no_attribute(repo: AccessRepo, fake: FakeTailscale) -> None:
    repo.grant("prod", "alice.yaml", ALICE)
    result = repo.run("apply", "--at", AT, "--dry-run")
    assert result.code == 0, result.err
    assert "2 posture attribute(s) would change." in result.out
    assert fake.devices.holders(KEY) == {} and fake.count("POST", ACL) == 0


# -- failures between the steps leave access closed ------------------------------------------------------


def test_a_failed_attribute_write_leaves_that_device_out(repo: AccessRepo, fake: FakeTailscale) -> None:
    repo.grant("prod", "alice.yaml", ALICE)
    fake.fail_next(1, status=500, path=f"/api/v2/device/n0002CNTRL/attributes/{KEY}")
    result = repo.run("apply", "--at", AT)
    assert result.code == 1
    assert f"error: POST /api/v2/device/n0002CNTRL/attributes/{KEY} failed" in result.err
    assert "1 posture attribute step(s) failed" in result.err
    assert "alice-phone (alice@example.com) until 2026-11-24T14:00:00Z  (FAILED)" in result.out
    assert members(fake) == ["alice@example.com"], "the write went on: other grants and revocations never wait"
    assert reaches(fake, "alice@example.com", "alice-laptop")
    assert not reaches(fake, "alice@example.com", "alice-phone"), "closed, never open"
    assert repo.run("apply", "--at", AT).code == 0 and reaches(fake, "alice@example.com", "alice-phone")


def test_an_unreachable_devices_api_grants_nothing_but_still_writes(repo: AccessRepo, fake: FakeTailscale) -> None:
    repo.grant("prod", "alice.yaml", ALICE)
    fake.fail_next(1, status=503, path=DEVICES)
    result = repo.run("apply", "--at", AT)
    assert result.code == 1 and f"error: GET {DEVICES} failed" in result.err
    assert members(fake) == ["alice@example.com"] and fake.devices.holders(KEY) == {}
    assert not reaches(fake, "alice@example.com", "alice-laptop")


def test_a_failed_policy_write_after_the_attributes_leaves_access_closed(
        repo: AccessRepo, fake: FakeTailscale) -> None:
    fake.add_api_key(API_KEY, scopes=[READ, CORE_READ, POSTURE])  # may mark devices, may not write the policy
    repo.grant("prod", "alice.yaml", ALICE)
    result = repo.run("apply", "--at", AT)
    assert result.code == 1 and "lacks the policy_file scope" in result.err
    assert fake.devices.holders(KEY) == {"alice-laptop": END, "alice-phone": END}
    assert members(fake) == [] and not reaches(fake, "alice@example.com", "alice-laptop")


def test_a_failed_attribute_delete_after_the_revocation_leaves_access_closed(
        repo: AccessRepo, fake: FakeTailscale) -> None:
    path = repo.grant("prod", "alice.yaml", ALICE)
    assert repo.run("apply", "--at", AT).code == 0
    path.unlink()
    repo.commit("revoke alice")
    fake.fail_next(5, status=500, path="/api/v2/device/n0001CNTRL/attributes/")
    result = repo.run("apply", "--at", AT)
    assert result.code == 1 and f"error: DELETE /api/v2/device/n0001CNTRL/attributes/{KEY} failed" in result.err
    assert members(fake) == [] and fake.devices.holders(KEY) == {"alice-laptop": END}
    assert not reaches(fake, "alice@example.com", "alice-laptop"), "the member is gone: closed"


def test_a_failed_revocation_write_is_closed_by_tailscale_at_the_end(
        repo: AccessRepo, fake: FakeTailscale) -> None:
    repo.grant("prod", "alice.yaml", ALICE)
    assert repo.run("apply", "--at", AT).code == 0
    fake.add_api_key(API_KEY, scopes=[READ, CORE_READ, POSTURE])  # from now on the policy cannot be written
    fake.devices.advance(timedelta(hours=2, minutes=30))
    result = repo.run("apply", "--at", "2026-11-24T14:30:00Z")
    assert result.code == 1
    assert members(fake) == ["alice@example.com"], "the revocation could not be written"
    assert fake.count("DELETE") == 0, "no attribute goes before its member"
    assert not reaches(fake, "alice@example.com", "alice-laptop"), "Tailscale ended it at the grant's end"


def test_a_credential_without_device_scopes_is_told_which_it_needs(repo: AccessRepo, fake: FakeTailscale) -> None:
    fake.add_api_key(API_KEY, scopes=[WRITE])
    repo.grant("prod", "alice.yaml", ALICE)
    result = repo.run("apply", "--at", AT)
    assert result.code == 1
    assert f"GET {DEVICES} was refused (HTTP 403" in result.err
    assert "lock: posture needs the devices:core:read and devices:posture_attributes scopes" in result.err
    assert members(fake) == ["alice@example.com"] and not reaches(fake, "alice@example.com", "alice-laptop")
    assert_hidden([API_KEY], result.out, result.err)


def test_hostile_device_answers_are_skipped(repo: AccessRepo, fake: FakeTailscale) -> None:
    """Entries that are not devices, and a device whose owner is not a string, are passed over."""
    original = fake.devices.handle

    def handle(method: str, parts: list[str], scopes: set[str], body: bytes) -> tuple[int, dict[str, str], bytes]:
        status, headers, answer = original(method, parts, scopes, body)
        if parts[3] == "tailnet":
            listing = json.loads(answer)
            listing["devices"] += [None, "x", {"nodeId": "nX", "user": 7}, {"user": "alice@example.com"}]
            answer = json.dumps(listing).encode()
        return status, headers, answer

    fake.devices.handle = handle  # type: ignore[method-assign]
    repo.grant("prod", "alice.yaml", ALICE)
    result = repo.run("apply", "--at", AT)
    assert result.code == 0, result.err
    assert fake.devices.holders(KEY) == {"alice-laptop": END, "alice-phone": END}


def test_a_devices_answer_that_is_not_a_listing_is_an_error(repo: AccessRepo, fake: FakeTailscale) -> None:
    fake.devices.handle = lambda *a: (200, {"Content-Type": "application/json"}, b"[]")  # type: ignore[method-assign]
    repo.grant("prod", "alice.yaml", ALICE)
    result = repo.run("apply", "--at", AT)
    assert result.code == 1 and f'GET {DEVICES} answered without a "devices" list' in result.err
    assert members(fake) == ["alice@example.com"] and not reaches(fake, "alice@example.com", "alice-laptop")


def test_the_watcher_marks_then_revokes_in_order(repo: AccessRepo, fake: FakeTailscale) -> None:
    repo.grant("prod", "alice.yaml", ALICE)
    clock = [datetime(2026, 11, 24, 12, 0, tzinfo=UTC)]
    config = open_workspace(repo.config).config
    watcher = Watcher(lambda: open_workspace(repo.config), open_backend("tailscale", config),
                      lock_path=state_dir(repo.root) / LOCK_NAME, clock=lambda: clock[0])
    try:
        first = watcher.cycle()
        assert first is not None and first.errors == () and len(first.lock.done) == 2
        assert reaches(fake, "alice@example.com", "alice-laptop")
        clock[0] = END + timedelta(milliseconds=50)
        fake.received.clear()
        second = watcher.cycle()
    finally:
        watcher.backend.close()
    assert second is not None and second.errors == ()
    assert [c.action for c in second.lock.done] == ["delete", "delete"]
    assert members(fake) == [] and fake.devices.holders(KEY) == {}
    order = calls(fake)
    assert order.index(("POST", ACL)) < min(i for i, (m, _) in enumerate(order) if m == "DELETE")


def test_doctor_checks_the_device_scopes_of_a_locked_repository(
        repo: AccessRepo, fake: FakeTailscale, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TS_API_KEY")
    fake.add_oauth_client(CLIENT_ID, CLIENT_SECRET, scopes=[WRITE])
    monkeypatch.setenv("TS_OAUTH_CLIENT_ID", CLIENT_ID)
    monkeypatch.setenv("TS_OAUTH_CLIENT_SECRET", CLIENT_SECRET)
    result = repo.run("doctor")
    assert result.code == 1
    assert ("FAIL  lock        lock: posture needs the devices:core:read and devices:posture_attributes scope(s), "
            "which this credential lacks") in result.out
    assert f"FAIL  devices     GET {DEVICES} was refused (HTTP 403" in result.out
    fake.add_oauth_client(CLIENT_ID, CLIENT_SECRET, scopes=[WRITE, CORE_READ, POSTURE])
    result = repo.run("doctor")
    assert result.code == 0, result.out
    assert "ok    lock        the credential has the devices:core:read and devices:posture_attributes scopes" \
        in result.out
    assert "ok    devices     4 device(s) listed, for lock: posture" in result.out
    assert not any(m != "GET" for m, p in calls(fake) if "device" in p), "doctor writes nothing"
    assert_hidden([CLIENT_SECRET, *fake.tokens], result.out, result.err)


def test_doctor_of_an_unlocked_repository_lists_no_device(repo: AccessRepo, fake: FakeTailscale) -> None:
    repo.config.write_text(repo.config.read_text().replace("    lock: posture\n", ""))
    result = repo.run("doctor")
    assert result.code == 0, result.out
    assert fake.count("GET", "/devices") == 0 and "devices" not in result.out


def test_the_pr_comment_lists_attribute_changes_per_device(
        repo: AccessRepo, fake: FakeTailscale, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    repo.grant("prod", "alice.yaml", ALICE)
    result = repo.run("plan", "--at", AT)
    assert result.code == 0, result.err
    markdown = summary.read_text()
    assert "### tailjit plan: 1 to grant, 0 to revoke, 2 posture attribute(s) to change" in markdown
    assert "| + | alice-laptop | alice@\u2060example.com | `custom:tailjit_prod` | 2026-11-24T14:00:00Z |" in markdown
    assert "bob" not in markdown and "build-server" not in markdown


def test_revoke_members_serves_a_revocation_written_elsewhere(repo: AccessRepo, fake: FakeTailscale) -> None:
    """The revoke-only fallback writes the policy itself, then hands the removed members over: no config needed,
    the member note's grant names the target."""
    repo.grant("prod", "alice.yaml", ALICE)
    assert repo.run("apply", "--at", AT).code == 0
    backend = open_backend("tailscale", open_workspace(repo.config).config)
    try:
        lock = open_lock(backend, {}, always=True)
        assert lock is not None and open_lock(backend, {}) is None
        preview = lock.revoke_members([("alice@example.com", target_of_grant("prod/alice.yaml"))], dry_run=True)
        assert [str(c.action) for c in preview.changes] == ["delete", "delete"] and preview.done == ()
        assert lock.revoke_members([("bob@example.com", "prod")]).changes == (), "bob's laptop holds nothing"
        done = lock.revoke_members([("Alice@Example.com", "prod")])
    finally:
        backend.close()
    assert len(done.done) == 2 and done.errors == () and fake.devices.holders(KEY) == {}


@pytest.mark.slow
def test_a_hanging_devices_api_times_out_and_the_policy_write_goes_on(
        repo: AccessRepo, fake: FakeTailscale, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TAILJIT_HTTP_TIMEOUT", "0.5")
    fake.hang_next(1, path=DEVICES)
    repo.grant("prod", "alice.yaml", ALICE)
    result = repo.run("apply", "--at", AT)
    assert result.code == 1 and f"GET {DEVICES}" in result.err
    assert members(fake) == ["alice@example.com"] and not reaches(fake, "alice@example.com", "alice-laptop")


def test_a_large_tailnet_costs_reads_only_for_the_granted_users_devices(
        repo: AccessRepo, fake: FakeTailscale) -> None:
    for number in range(5000):
        fake.devices.add(f"user{number}@example.com", f"host{number}")
    repo.grant("prod", "alice.yaml", ALICE)
    assert repo.run("apply", "--at", AT).code == 0
    fake.requests.clear()
    assert repo.run("apply", "--at", AT).code == 0
    assert fake.count("GET", DEVICES) == 1 and fake.count("GET", "/attributes") == 2
    assert fake.count("POST") == 0 and fake.count("DELETE") == 0


def test_plan_with_a_policy_only_credential_still_plans_and_warns(repo: AccessRepo, fake: FakeTailscale) -> None:
    fake.add_api_key(API_KEY, scopes=[READ])
    repo.grant("prod", "alice.yaml", ALICE)
    result = repo.run("plan", "--at", AT, "--detailed-exitcode")
    assert result.code == 2, result.err
    assert "+ grant   group:prod  alice@example.com" in result.out
    assert f"warning: GET {DEVICES} was refused (HTTP 403" in result.err
    assert "the posture attribute changes above may be incomplete" in result.err


def test_without_the_lock_access_outlives_the_grant_while_tailjit_is_stopped(
        repo: AccessRepo, fake: FakeTailscale) -> None:
    """The other column of the README's table: staging has no lock, so its access is the membership alone."""
    repo.grant("staging", "erin.yaml", STAGING)
    assert repo.run("apply", "--at", AT).code == 0
    fake.devices.advance(timedelta(hours=5))  # past the end; tailjit does not run
    staging = hujson.parse(fake.policy).to_python()["groups"]["group:staging"]
    assert "erin@example.com" in staging, "still a member: nothing but tailjit's next run removes her"
    assert repo.run("apply", "--at", "2026-11-24T17:00:00Z").code == 0
    assert "erin@example.com" not in hujson.parse(fake.policy).to_python()["groups"]["group:staging"]


def test_device_names_are_printed_without_control_characters(repo: AccessRepo, fake: FakeTailscale) -> None:
    fake.devices.add("alice@example.com", "evil\n+ set    custom:tailjit_prod on forged\x1b[2J")
    repo.grant("prod", "alice.yaml", ALICE)
    result = repo.run("plan", "--at", AT)
    assert result.code == 0, result.err
    assert "\x1b" not in result.out and "\n+ set    custom:tailjit_prod on forged" not in result.out
    assert "on evil+ set    custom:tailjit_prod on forged[2J (alice@example.com)" in result.out


def test_the_revoke_only_fallback_unmarks_the_members_it_removes(repo: AccessRepo, fake: FakeTailscale) -> None:
    repo.grant("prod", "alice.yaml", ALICE)
    assert repo.run("apply", "--at", AT).code == 0
    base = repo.root / "policy" / "policy.hujson"
    base.write_text(base.read_text().replace('"acls": [', '"acls": [[['))  # the full reconcile cannot run
    fake.received.clear()
    result = repo.run("apply", "--at", "2026-11-24T14:30:00Z")
    assert result.code == 1 and "falling back to revoke-only" in result.err
    assert members(fake) == [] and fake.devices.holders(KEY) == {}
    order = calls(fake)
    assert order.index(("POST", ACL)) < min(i for i, (m, _) in enumerate(order) if m == "DELETE")
    assert "- delete custom:tailjit_prod on alice-laptop (alice@example.com)" in result.out


def test_the_fallback_without_a_readable_config_unmarks_by_the_note(repo: AccessRepo, fake: FakeTailscale) -> None:
    repo.grant("prod", "alice.yaml", ALICE)
    assert repo.run("apply", "--at", AT).code == 0
    repo.config.write_text(repo.config.read_text() + "targets: [\n")  # not YAML any more
    result = repo.run("apply", "--at", "2026-11-24T14:30:00Z")
    assert result.code == 1 and "falling back to revoke-only" in result.err
    assert members(fake) == [] and fake.devices.holders(KEY) == {}


def test_the_fallback_of_an_unlocked_repository_reads_no_device(repo: AccessRepo, fake: FakeTailscale) -> None:
    repo.config.write_text(repo.config.read_text().replace("    lock: posture\n", ""))
    repo.grant("staging", "erin.yaml", STAGING)
    assert repo.run("apply", "--at", AT).code == 0
    base = repo.root / "policy" / "policy.hujson"
    base.write_text(base.read_text().replace('"acls": [', '"acls": [[['))
    fake.received.clear()
    result = repo.run("apply", "--at", "2026-11-24T14:30:00Z")
    assert result.code == 1 and "erin@example.com" not in fake.policy.decode()
    assert not any("device" in p for _, p in calls(fake))


def test_a_watcher_cycle_that_falls_back_unmarks_too(repo: AccessRepo, fake: FakeTailscale) -> None:
    repo.grant("prod", "alice.yaml", ALICE)
    clock = [datetime(2026, 11, 24, 12, 0, tzinfo=UTC)]
    config = open_workspace(repo.config).config
    watcher = Watcher(lambda: open_workspace(repo.config), open_backend("tailscale", config),
                      lock_path=state_dir(repo.root) / LOCK_NAME, clock=lambda: clock[0])
    try:
        assert watcher.cycle() is not None and fake.devices.holders(KEY) != {}
        base = repo.root / "policy" / "policy.hujson"
        base.write_text(base.read_text().replace('"acls": [', '"acls": [[['))
        clock[0] = END + timedelta(minutes=1)
        cycle = watcher.cycle()
    finally:
        watcher.backend.close()
    assert cycle is not None and cycle.fallback is not None and cycle.fallback.written
    assert [str(c.action) for c in cycle.lock.done] == ["delete", "delete"]
    assert members(fake) == [] and fake.devices.holders(KEY) == {}


def test_a_slow_devices_api_does_not_delay_a_run_that_adds_no_locked_member(
        repo: AccessRepo, fake: FakeTailscale) -> None:
    """Marking waits for the write only when the write adds a member to a locked group."""
    repo.grant("prod", "alice.yaml", ALICE.replace("14:00:00Z", "16:00:00Z"))
    repo.grant("staging", "erin.yaml", STAGING)
    assert repo.run("apply", "--at", AT).code == 0
    fake.received.clear()
    result = repo.run("apply", "--at", "2026-11-24T14:30:00Z")  # erin (staging, unlocked) expires
    assert result.code == 0, result.err
    order = calls(fake)
    assert order.index(("POST", ACL)) < order.index(("GET", DEVICES)), "the revocation is written first"
    assert "erin@example.com" not in fake.policy.decode() and reaches(fake, "alice@example.com", "alice-laptop")
