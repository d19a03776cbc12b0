"""Notifications from ``tailjit apply``, against real webhook receivers on 127.0.0.1.

What a user would notice: each sink gets one signed event per access change, after the tailnet was
written; a rerun sends nothing again; a receiver that is down, slow or failing costs at most its
timeout, never fails the run and never holds back a revocation; URLs and secrets never appear.
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from reconciler import hujson
from reconciler.backends.file import FileBackend
from reconciler.cli import notices
from reconciler.core.durations import format_time
from reconciler.notify.notifier import Notifier
from reconciler.repo.config import load_config
from reconciler.repo.workspace import open_workspace
from reconciler.watch import LOCK_NAME, Watcher, state_dir
from tests.support.access import CONFIG, AccessRepo, Result
from tests.support.gitutil import ALICE, CAROL, GITHUB, Person, RepoBuilder, at, files_under, grant_yaml
from tests.support.tailscale_repo import API_KEY, assert_hidden, fake_tailnet
from tests.support.webhook_receiver import Receiver, closed_url, receive

SECRET = "whsec-0123456789abcdef"
HOOK_PATH = "/hooks/T0001/B0001/s3cr3tT0k3nInThePath"
SLACK_PATH = "/services/T0002/B0002/sl4ckT0k3nInThePath"
T = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
DAVE = Person("Dave Example", "dave@example.com")

NOTIFY = """\
notify:
  - type: webhook
    url_env: TAILJIT_WEBHOOK_URL
    secret_env: TAILJIT_WEBHOOK_SECRET
    timeout: {timeout}
    retries: {retries}
  - type: slack
    url_env: SLACK_WEBHOOK_URL
    timeout: {timeout}
    retries: {retries}
"""


@pytest.fixture
def hooks(repo: AccessRepo, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Receiver, Receiver]]:
    """A webhook receiver and a Slack one, configured as the repository's two sinks."""
    with receive() as hook, receive() as slack:
        slack.slack = True
        configure(repo)
        monkeypatch.setenv("TAILJIT_WEBHOOK_URL", hook.url + HOOK_PATH)
        monkeypatch.setenv("TAILJIT_WEBHOOK_SECRET", SECRET)
        monkeypatch.setenv("SLACK_WEBHOOK_URL", slack.url + SLACK_PATH)
        yield hook, slack


def configure(repo: AccessRepo, timeout: float = 0.5, retries: int = 1) -> None:
    repo.config.write_text(CONFIG + NOTIFY.format(timeout=timeout, retries=retries))


def grant(repo: AccessRepo, user: str = "alice", until: datetime = T + timedelta(hours=4),
          reason: str = "Investigate INC-1") -> None:
    repo.grant("prod", f"{user}.yaml", f"user: {user}@example.com\ntarget: prod\nreason: {reason}\n"
                                       f"start: {format_time(T - timedelta(hours=1))}\n"
                                       f"expires: {format_time(until)}\n")


def apply(repo: AccessRepo, when: datetime) -> Result:
    result = repo.run("apply", "--at", format_time(when))
    assert_no_secret(result)
    return result


def assert_no_secret(result: Result) -> None:
    for secret in (SECRET, HOOK_PATH, SLACK_PATH, "s3cr3tT0k3n", "sl4ckT0k3n"):
        assert secret not in result.out and secret not in result.err, f"{secret!r} was shown"


def members(repo: AccessRepo) -> list[str]:
    return list(hujson.parse(repo.tailnet.read_bytes()).to_python()["groups"]["group:prod"])


def test_a_grant_is_announced_to_each_sink_once_signed_after_the_write(
        repo: AccessRepo, hooks: tuple[Receiver, Receiver]) -> None:
    hook, slack = hooks
    grant(repo, reason="Investigate <!channel> & INC-1")
    result = apply(repo, T)
    assert result.code == 0, result.err
    assert "Sent 2 notification(s): granted." in result.out
    [request] = hook.wait_for(1)
    assert request.path == HOOK_PATH and request.signed_with(SECRET.encode())
    assert not request.signed_with(b"another secret")
    assert request.headers["X-Tailjit-Event"] == "granted"
    body = request.json
    assert {k: body[k] for k in ("schema", "event", "user", "target", "group", "file", "start", "until",
                                 "reason", "revoked_because")} == {
        "schema": 1, "event": "granted", "user": "alice@example.com", "target": "prod", "group": "group:prod",
        "file": "policy/grants/prod/alice.yaml", "start": format_time(T - timedelta(hours=1)),
        "until": format_time(T + timedelta(hours=4)), "reason": "Investigate <!channel> & INC-1",
        "revoked_because": None}
    assert {"requested_by", "approved_by", "pull_request", "at"} <= set(body)
    [message] = slack.wait_for(1)
    text = message.json["text"]
    assert text == f"alice@example.com was granted prod until {format_time(T + timedelta(hours=4))}"
    details = json.dumps(message.json["blocks"])
    assert "&lt;!channel&gt; &amp; INC-1" in details and "<!channel>" not in details, "no mention from a file"
    assert request.at >= repo.tailnet.stat().st_mtime, "sent after the tailnet was written"

    again = apply(repo, T + timedelta(minutes=5))
    assert again.code == 0 and "Sent" not in again.out
    assert len(hook.requests) == 1 and len(slack.requests) == 1, "a rerun notifies nobody again"


def test_extension_and_revocation_on_expiry(repo: AccessRepo, hooks: tuple[Receiver, Receiver]) -> None:
    hook, _ = hooks
    grant(repo)
    assert apply(repo, T).code == 0
    grant(repo, until=T + timedelta(hours=6))
    assert apply(repo, T + timedelta(hours=1)).code == 0
    hook.wait_for(2)
    extended = hook.requests[1].json
    assert (extended["event"], extended["until"], extended["previous_until"]) == (
        "extended", format_time(T + timedelta(hours=6)), format_time(T + timedelta(hours=4)))
    assert apply(repo, T + timedelta(hours=6, seconds=1)).code == 0
    revoked = hook.wait_for(3)[2].json
    assert (revoked["event"], revoked["user"], revoked["revoked_because"], revoked["until"]) == (
        "revoked", "alice@example.com", "expired", format_time(T + timedelta(hours=6)))
    assert revoked["reason"] == "Investigate INC-1", "the reason comes from the grant file still there"
    assert hook.events() == ["granted", "extended", "revoked"]


@pytest.mark.parametrize("failure", ["down", "slow", "error"])
def test_a_failing_receiver_never_holds_back_a_revocation_nor_fails_the_run(
        repo: AccessRepo, hooks: tuple[Receiver, Receiver], monkeypatch: pytest.MonkeyPatch, failure: str) -> None:
    hook, slack = hooks
    grant(repo, "alice")
    grant(repo, "bob")
    assert apply(repo, T).code == 0
    hook.wait_for(2)
    configure(repo, timeout=0.3, retries=1)
    if failure == "down":
        monkeypatch.setenv("TAILJIT_WEBHOOK_URL", closed_url() + HOOK_PATH)
    elif failure == "slow":
        hook.delay = 5.0
    else:
        hook.status = 500
    started = time.monotonic()
    result = apply(repo, T + timedelta(hours=5))
    took = time.monotonic() - started
    assert result.code == 0, result.err
    assert members(repo) == ["dana@example.com"], "both revoked"
    assert took < 1.5, f"the run took {took:.2f}s with a {failure} receiver (timeout 0.3s)"
    warning = next(line for line in result.err.splitlines() if "not delivered" in line)
    assert warning.startswith("warning: notify: webhook sink (TAILJIT_WEBHOOK_URL): revoked event not delivered")
    assert "1 more event(s) not sent to it in this run" in warning
    expected = {"down": "could not connect", "slow": "timed out", "error": "HTTP 500"}[failure]
    assert expected in warning
    if failure != "down":
        assert len(hook.requests) - 2 == (2 if failure == "error" else 1), "retries are bounded"
    assert len(slack.wait_for(4)) == 4, "the other sink still gets both"
    assert "Sent 2 notification(s): revoked." in result.out


def test_a_missing_variable_is_a_warning_naming_it_and_never_a_value(
        repo: AccessRepo, hooks: tuple[Receiver, Receiver], monkeypatch: pytest.MonkeyPatch) -> None:
    hook, slack = hooks
    monkeypatch.delenv("TAILJIT_WEBHOOK_SECRET")
    monkeypatch.setenv("SLACK_WEBHOOK_URL", "ftp://user:pw@example.com" + SLACK_PATH)
    grant(repo)
    result = apply(repo, T)
    assert result.code == 0 and members(repo) == ["dana@example.com", "alice@example.com"]
    assert ("warning: notify: webhook sink (TAILJIT_WEBHOOK_URL): the environment variable TAILJIT_WEBHOOK_SECRET "
            "(its signing secret) is not set; nothing sent") in result.err
    assert ("warning: notify: slack sink (SLACK_WEBHOOK_URL): SLACK_WEBHOOK_URL must hold an https:// URL "
            "(http:// only to localhost); nothing sent") in result.err
    assert "user:pw" not in result.err + result.out
    assert hook.requests == [] and slack.requests == []


def test_an_answer_echoing_the_url_is_redacted(repo: AccessRepo, hooks: tuple[Receiver, Receiver]) -> None:
    hook, _ = hooks
    hook.status = 503
    hook.answer = f"no route to {hook.url}{HOOK_PATH} (secret {SECRET})".encode()
    grant(repo)
    result = apply(repo, T)
    assert result.code == 0
    assert "HTTP 503: no route to *** (secret ***)" in result.err


def test_a_revoke_only_fallback_is_announced_once_while_it_lasts(repo: AccessRepo,
                                                                 hooks: tuple[Receiver, Receiver]) -> None:
    hook, slack = hooks
    (repo.root / "policy" / "policy.hujson").write_text('{"groups": {"group:prod": [}')
    for _ in range(2):
        result = apply(repo, T)
        assert result.code == 1 and "policy/policy.hujson:1:" in result.err
    [request] = hook.wait_for(1)
    assert request.json["event"] == "revoke_only_fallback" and "policy/policy.hujson:1:" in request.json["detail"]
    assert request.json["user"] is None and "file" in request.json
    assert slack.wait_for(1)[0].json["text"].startswith("tailjit fell back to revoke-only")
    time.sleep(0.05)
    assert len(hook.requests) == 1, "the same failure again is not announced again"


def test_drift_is_announced_once_and_again_after_it_cleared(repo: AccessRepo,
                                                            hooks: tuple[Receiver, Receiver]) -> None:
    hook, _ = hooks
    assert apply(repo, T).code == 0
    written = repo.tailnet.read_text()
    repo.tailnet.write_text(written.replace('"tagOwners"', '"hosts": {"db": "10.0.0.1"},\n\t"tagOwners"'))
    assert apply(repo, T).code == 1
    assert apply(repo, T).code == 1
    assert hook.events() == ["drift_detected"]
    assert '"hosts"' in hook.requests[0].json["detail"]
    repo.run("apply", "--force", "--at", format_time(T))
    assert apply(repo, T).code == 0
    repo.tailnet.write_text(repo.tailnet.read_text().replace('"tagOwners"', '"hosts": {"db": "10.0.0.1"},\n\t"tagOwners"'))
    assert apply(repo, T).code == 1
    assert hook.events() == ["drift_detected", "drift_detected"]


def test_a_corrupt_notification_log_is_replaced_and_never_blocks(repo: AccessRepo,
                                                                 hooks: tuple[Receiver, Receiver]) -> None:
    hook, _ = hooks
    log = repo.root / ".tailjit" / "notified.json"
    log.parent.mkdir()
    log.write_text('{"version": 1, "sent": {"x": "not a time"')
    grant(repo)
    result = apply(repo, T)
    assert result.code == 0
    assert "warning: notify: notified.json is not a notification log tailjit wrote" in result.err
    assert hook.wait_for(1)[0].json["event"] == "granted"
    assert json.loads(log.read_text())["version"] == 1, "rewritten whole"
    assert not [p for p in log.parent.iterdir() if p.name.startswith(".notified")], "no temporary file left"


def test_dry_run_and_plan_notify_nobody(repo: AccessRepo, hooks: tuple[Receiver, Receiver]) -> None:
    hook, slack = hooks
    grant(repo)
    assert repo.run("apply", "--dry-run", "--at", format_time(T)).code == 0
    assert repo.run("plan", "--at", format_time(T)).code == 0
    time.sleep(0.05)
    assert hook.requests == [] and slack.requests == []


@pytest.mark.usefixtures("no_machine_git_config")
def test_git_names_requester_approver_pull_request_and_who_removed_a_grant(
        repo: AccessRepo, hooks: tuple[Receiver, Receiver]) -> None:
    hook, _ = hooks
    g = "policy/grants"
    b = RepoBuilder.init(repo.root)
    b.commit(files_under(repo.root), at(0), author=CAROL)
    b.commit({f"{g}/prod/alice.yaml": grant_yaml("alice@example.com", "prod", duration=None,
                                                 expires=format_time(at(9)))}, at(1), author=ALICE,
             branch="access/prod/alice")
    b.merge("access/prod/alice", at(2), author=CAROL, committer=GITHUB,
            message="Merge pull request #7 from acme/access/prod/alice")
    b.checkout()
    b.repo.remotes.create("origin", "git@github.com:acme/access.git")
    assert apply(repo, at(3)).code == 0
    granted = hook.wait_for(1)[0].json
    assert (granted["requested_by"], granted["approved_by"], granted["pull_request"], granted["start"]) == (
        "Alice Example <alice@example.com>", "Carol Approver <carol@example.com>",
        "https://github.com/acme/access/pull/7", format_time(at(2)))
    b.commit({f"{g}/prod/alice.yaml": None}, at(4), author=DAVE)
    b.checkout()
    assert apply(repo, at(5)).code == 0
    revoked = hook.wait_for(2)[1].json
    assert (revoked["event"], revoked["revoked_because"], revoked["removed_by"], revoked["reason"]) == (
        "revoked", "removed", "Dave Example <dave@example.com>", "Investigate an incident")
    assert revoked["until"] == format_time(at(9)) and revoked["approved_by"] == "Carol Approver <carol@example.com>"


def test_a_revoke_only_fallback_announces_each_revocation(repo: AccessRepo,
                                                         hooks: tuple[Receiver, Receiver]) -> None:
    hook, _ = hooks
    grant(repo)
    assert apply(repo, T).code == 0
    (repo.root / "policy" / "policy.hujson").write_text('{"groups": {"group:prod": [}')
    result = apply(repo, T + timedelta(hours=5))
    assert result.code == 1 and members(repo) == ["dana@example.com"]
    hook.wait_for(3)
    assert hook.events() == ["granted", "revoke_only_fallback", "revoked"]
    revoked = hook.requests[2].json
    assert (revoked["user"], revoked["file"], revoked["revoked_because"], revoked["until"]) == (
        "alice@example.com", "policy/grants/prod/alice.yaml", "expired", format_time(T + timedelta(hours=4)))
    assert "Sent 4 notification(s): revoke_only_fallback, revoked." in result.out
    again = apply(repo, T + timedelta(hours=5))
    assert again.code == 1 and len(hook.requests) == 3, "nothing new to say"


def test_a_failed_write_is_announced_and_the_api_key_never_shown(repo: AccessRepo, hooks: tuple[Receiver, Receiver],
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    hook, _ = hooks
    grant(repo)
    with fake_tailnet(repo, monkeypatch) as fake:
        fake.fail_next(10, status=500, path="/api/v2/tailnet/-/acl")
        result = apply(repo, T)
    assert result.code == 1
    [request] = hook.wait_for(1)
    assert request.json["event"] == "apply_failed" and "HTTP 500" in request.json["detail"]
    assert_hidden([API_KEY], result.out, result.err, request.body.decode())


def test_a_watch_cycle_that_falls_back_announces_it(repo: AccessRepo, hooks: tuple[Receiver, Receiver],
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    hook, _ = hooks
    grant(repo)
    assert apply(repo, T).code == 0
    (repo.root / "policy" / "policy.hujson").write_text('{"groups": {"group:prod": [}')
    later = T + timedelta(hours=5)
    config = load_config(repo.config)
    watcher = Watcher(lambda: open_workspace(repo.config), FileBackend(repo.tailnet),
                      lock_path=state_dir(repo.root) / LOCK_NAME, clock=lambda: later)
    cycle = watcher.cycle()
    assert cycle is not None and cycle.fallback is not None and cycle.fallback.written
    notifier = Notifier(config, os.environ, state_dir(repo.root))
    for _ in range(2):
        notices.after_cycle(notifier, cycle, prefix="[w] ")
    hook.wait_for(3)
    assert hook.events() == ["granted", "revoke_only_fallback", "revoked"], "once, however many cycles"
    assert capsys.readouterr().out == "[w] Sent 4 notification(s): revoke_only_fallback, revoked.\n"


@pytest.mark.slow
def test_watch_announces_grant_expiring_once_and_revocation_on_time(repo: AccessRepo) -> None:
    with receive() as hook:
        repo.config.write_text(CONFIG + "expiring_before: 30m\nnotify:\n  - type: webhook\n"
                               "    url_env: TAILJIT_WEBHOOK_URL\n    secret_env: TAILJIT_WEBHOOK_SECRET\n"
                               "    timeout: 0.5\n")
        expiry = math.ceil(time.time()) + 3
        repo.grant("prod", "alice.yaml", "user: alice@example.com\ntarget: prod\nreason: INC-1\n"
                                         f"expires: {format_time(datetime.fromtimestamp(expiry, UTC))}\n")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "TS_", "TAILJIT_"))}
        env.update(TAILJIT_WEBHOOK_URL=hook.url + HOOK_PATH, TAILJIT_WEBHOOK_SECRET=SECRET)
        proc = subprocess.Popen([sys.executable, "-m", "reconciler", "--config", str(repo.config), "apply",
                                 "--watch", "--interval", "1s"], cwd=repo.root, env=env, text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            hook.wait_for(3, timeout=expiry - time.time() + 5)
            time.sleep(1.2)  # at least one more cycle: nothing is sent twice
        finally:
            proc.send_signal(signal.SIGTERM)
            out, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err
    assert hook.events() == ["granted", "expiring", "revoked"]
    assert all(r.signed_with(SECRET.encode()) for r in hook.requests)
    revoked = hook.requests[2]
    assert revoked.json["revoked_because"] == "expired"
    assert expiry <= revoked.at <= expiry + 2.0, f"revoked and announced {revoked.at - expiry:+.2f}s after expiry"
    assert_no_secret(Result(proc.returncode, out, err))
