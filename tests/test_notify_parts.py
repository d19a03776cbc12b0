"""The parts of notifications on their own: the ``notify`` config, events from a plan, the log of what was sent,
the deadline of one delivery, the ``expiring`` notice and when the watcher wakes for it."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from reconciler.backends.file import FileBackend
from reconciler.cli import notices
from reconciler.core.config import Sink, Target
from reconciler.core.durations import format_time
from reconciler.core.grants import Grant, GrantStatus, State
from reconciler.core.plan import make_plan
from reconciler.core.render import render
from reconciler.errors import BackendError, ConfigError
from reconciler.http import HttpClient, RetryPolicy
from reconciler.notify.events import access_changes
from reconciler.notify.notifier import Notifier
from reconciler.notify.sinks import Report
from reconciler.notify.state import MAX_BYTES, SentLog
from reconciler.repo.config import load_config
from reconciler.repo.workspace import open_workspace
from reconciler.watch import LOCK_NAME, MARGIN, Watcher, state_dir
from tests.support.access import BASE_POLICY, CONFIG, AccessRepo
from tests.support.webhook_receiver import receive

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
TARGETS = {"prod": Target("prod", "group:prod", timedelta(hours=8))}
HOOK = "notify:\n  - type: webhook\n    url_env: HOOK_URL\n    secret_env: HOOK_SECRET\n"

# -- the config ---------------------------------------------------------------------------------------------


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "policy" / "tailjit.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def error_of(tmp_path: Path, text: str) -> str:
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text))
    return str(info.value)


def test_the_documented_shape_loads(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, CONFIG + HOOK + "  - type: slack\n    url_env: SLACK_WEBHOOK_URL\n"
                                                           "    timeout: 2.5\n    retries: 0\nexpiring_before: 1h\n"))
    assert config.notify == (Sink("webhook", "HOOK_URL", "HOOK_SECRET", line=12),
                             Sink("slack", "SLACK_WEBHOOK_URL", None, timeout=2.5, retries=0, line=15))
    assert config.expiring_before == timedelta(hours=1)
    assert load_config(write(tmp_path, CONFIG)).expiring_before == timedelta(minutes=30)


@pytest.mark.parametrize(("text", "expected"), [
    ("notify: {type: slack}\n", "tailjit.yaml:11: 'notify' must be a list of sinks"),
    ("notify:\n  - slack\n", "tailjit.yaml:12: notify sink 1 must be a mapping with 'type' and 'url_env'"),
    ("notify:\n  - type: email\n    url_env: X\n", "tailjit.yaml:12: notify sink 1 needs 'type: webhook' or"),
    ("notify:\n  - type: slack\n", "tailjit.yaml:12: notify sink 1 needs 'url_env'"),
    ("notify:\n  - type: webhook\n    url_env: HOOK_URL\n", "tailjit.yaml:12: notify sink 1 needs 'secret_env'"),
    ("notify:\n  - type: slack\n    url_env: S\n    secret_env: X\n", "tailjit.yaml:14: notify sink 1: a Slack"),
    ("notify:\n  - type: slack\n    url_env: S\n    url: x\n", "tailjit.yaml:14: unknown key in notify sink 1: 'url'"),
    ("notify:\n  - type: slack\n    url_env: S\n    timeout: 0\n", "tailjit.yaml:14: 'timeout' is in seconds"),
    ("notify:\n  - type: slack\n    url_env: S\n    timeout: nan\n", "tailjit.yaml:14: 'timeout' is in seconds"),
    ("notify:\n  - type: slack\n    url_env: S\n    retries: 9\n", "tailjit.yaml:14: 'retries' may be at most 5"),
    ("expiring_before: soon\n", "tailjit.yaml:11: 'soon' is not a duration"),
    ("expiring_before: 100d\n", "tailjit.yaml:11: expiring_before 100d exceeds the 90d ceiling"),
    ("notify:\n" + "  - {type: slack, url_env: S}\n" * 21, "tailjit.yaml:11: 'notify' lists 21 sinks; at most 20"),
])
def test_config_errors_say_where(tmp_path: Path, text: str, expected: str) -> None:
    assert expected in error_of(tmp_path, CONFIG + text)


@pytest.mark.parametrize("value", ["https://hooks.slack.com/services/T0/B0/sEcReTtOkEn", "sEcReT tOkEn",
                                   "['sEcReTtOkEn']"])
def test_a_url_or_secret_written_in_the_config_is_refused_without_repeating_it(tmp_path: Path, value: str) -> None:
    message = error_of(tmp_path, CONFIG + f"notify:\n  - type: slack\n    url_env: {value}\n")
    assert "tailjit.yaml:13: 'url_env' of notify sink 1 must be the name of an environment variable" in message
    assert "sEcReT" not in message


# -- events from a plan -----------------------------------------------------------------------------------


def status(user: str, end: datetime, name: str | None = None) -> GrantStatus:
    grant = Grant(path=f"policy/grants/prod/{name or user}.yaml", user=f"{user}@example.com", target="prod",
                  reason="r", expires=end)
    return GrantStatus(grant, State.ACTIVE if end > NOW else State.EXPIRED, NOW - timedelta(hours=1), end)


def test_access_changes_are_read_from_the_plan_and_its_notes() -> None:
    base = BASE_POLICY.encode()
    live = render(base, TARGETS, [status("alice", NOW + timedelta(hours=1)), status("bob", NOW + timedelta(hours=1)),
                                  status("carol", NOW + timedelta(hours=1))])
    desired = render(base, TARGETS, [status("alice", NOW + timedelta(hours=3)),
                                     status("carol", NOW + timedelta(hours=2), name="carol-again"),
                                     status("erin", NOW + timedelta(hours=2))])
    changes = {(c.kind, c.user, c.name, c.until, c.previous_until)
               for c in access_changes(make_plan(live, desired, TARGETS), {"group:prod"})}
    assert changes == {
        ("granted", "erin@example.com", "prod/erin.yaml", NOW + timedelta(hours=2), None),
        ("revoked", "bob@example.com", "prod/bob.yaml", NOW + timedelta(hours=1), None),
        ("extended", "alice@example.com", "prod/alice.yaml", NOW + timedelta(hours=3), NOW + timedelta(hours=1)),
        ("granted", "carol@example.com", "prod/carol-again.yaml", NOW + timedelta(hours=2), None),
    }
    assert access_changes(make_plan(desired, desired, TARGETS), {"group:prod"}) == []
    permanent = base.replace(b'"dana@example.com", // lead', b'"dana@example.com", // lead\n\t\t\t"zed@example.com",')
    assert access_changes(make_plan(render(base, TARGETS, []), render(permanent, TARGETS, []), TARGETS),
                          {"group:prod"}) == [], "a permanent member is no grant"


# -- the log of what was sent --------------------------------------------------------------------------------


@pytest.mark.parametrize("content", [b"", b"[]", b'{"version": 2, "sent": {}}', b'{"version": 1, "sent": []}',
                                     b"\xff\xfe", b"[" * 100_000, b'{"version": 1, "sent": {"k": 5}}'])
def test_an_unreadable_log_is_reported_and_starts_empty(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "notified.json"
    path.write_bytes(content)
    log, warning = SentLog.load(path)
    assert log.sent == {} and warning is not None and "starting a new one" in warning


def test_a_huge_log_is_not_read(tmp_path: Path) -> None:
    path = tmp_path / "notified.json"
    path.write_bytes(b" " * (MAX_BYTES + 1))
    log, warning = SentLog.load(path)
    assert log.sent == {} and warning is not None and "larger than" in warning


def test_the_log_round_trips_and_forgets_old_entries(tmp_path: Path) -> None:
    path = tmp_path / "notified.json"
    log, _ = SentLog.load(path)
    log.add("old", NOW - timedelta(days=200))
    log.add("new", NOW)
    log.save(NOW)
    again, warning = SentLog.load(path)
    assert warning is None and again.sent == {"new": NOW}


# -- one delivery's deadline ------------------------------------------------------------------------------


def test_a_deadline_bounds_all_attempts_of_one_request_together() -> None:
    with receive() as hook:
        hook.delay = 5.0
        client = HttpClient(RetryPolicy(retries=5, base_delay=0.05, timeout=10.0, deadline=0.4))
        started = time.monotonic()
        with pytest.raises(BackendError, match=r"0.4s deadline leaves no time for another"):
            client.send("POST", hook.url, what="test", content=b"{}")
        took = time.monotonic() - started
        client.close()
    assert 0.3 < took < 0.8, f"took {took:.2f}s for a 0.4s deadline"


# -- expiring notices ---------------------------------------------------------------------------------------


def expiring_repo(repo: AccessRepo, monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    repo.config.write_text(CONFIG + "expiring_before: 30m\n" + HOOK)
    monkeypatch.setenv("HOOK_URL", url)
    monkeypatch.setenv("HOOK_SECRET", "s3cret-value")
    repo.grant("prod", "alice.yaml", f"user: alice@example.com\ntarget: prod\nreason: r\n"
                                     f"start: {format_time(NOW - timedelta(hours=1))}\n"
                                     f"expires: {format_time(NOW + timedelta(hours=1))}\n")


def test_an_expiring_notice_goes_once_per_grant_window(repo: AccessRepo, monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    with receive() as hook:
        expiring_repo(repo, monkeypatch, hook.url)
        ws = open_workspace(repo.config)
        notifier = Notifier(ws.config, os.environ, state_dir(repo.root))
        early = NOW + timedelta(minutes=29)
        assert notifier.expiring(ws.statuses(early), early).delivered == ()
        for minutes in (31, 40, 59):
            moment = NOW + timedelta(minutes=minutes)
            notifier.expiring(ws.statuses(moment), moment)
        [request] = hook.wait_for(1)
        body = request.json
        assert (body["event"], body["user"], body["until"]) == (
            "expiring", "alice@example.com", format_time(NOW + timedelta(hours=1)))
        assert request.signed_with(b"s3cret-value")
        reread = Notifier(ws.config, os.environ, state_dir(repo.root))
        moment = NOW + timedelta(minutes=45)
        assert reread.expiring(ws.statuses(moment), moment).delivered == (), "remembered across processes"
        assert len(hook.requests) == 1
        sent = json.loads((repo.root / ".tailjit" / "notified.json").read_text())["sent"]
        assert list(sent) == ["webhook:HOOK_URL@expiring|policy/grants/prod/alice.yaml|2026-12-01T11:00:00Z|"
                              "2026-12-01T13:00:00Z"]


def test_the_watcher_wakes_when_an_expiring_notice_is_due(repo: AccessRepo, monkeypatch: pytest.MonkeyPatch) -> None:
    expiring_repo(repo, monkeypatch, "http://127.0.0.1:9")
    backend = FileBackend(repo.tailnet)

    def watcher(expiring_before: timedelta | None) -> Watcher:
        return Watcher(lambda: open_workspace(repo.config), backend, lock_path=state_dir(repo.root) / LOCK_NAME,
                       interval=timedelta(hours=2), clock=lambda: NOW, expiring_before=expiring_before)

    cycle = watcher(timedelta(minutes=30)).cycle()
    assert cycle is not None
    assert (cycle.next_wake, cycle.wake_reason) == (NOW + timedelta(minutes=30) + MARGIN, "an expiry notice is due")
    plain = watcher(None).cycle()
    assert plain is not None and plain.next_wake == NOW + timedelta(hours=1) + MARGIN


def test_an_unexpected_error_while_notifying_is_one_warning_without_its_message(
        capsys: pytest.CaptureFixture[str]) -> None:
    def boom() -> Report:
        raise RuntimeError("https://hooks.example.com/s3cr3t")

    notices.show(boom)
    captured = capsys.readouterr()
    assert captured.err == ("warning: notify: internal error (RuntimeError); notifications of this run were not "
                            "sent\n") and captured.out == ""
