"""Faults × "did the expired member leave the live policy?": it must, every time, on both backends.

Each test starts from a live policy that tailjit wrote while two grants were
active: alice's (ended 14:00) and bob's (ends 18:00). Then something breaks
(a grant file, the base policy, the config, the tailnet's own policy tests,
the checkout …) and ``tailjit apply`` runs at 15:00. Whatever broke, alice
must be gone from the live policy, and bob, whose grant still runs and whose
file is still there, must stay. The same matrix runs against the file
backend and against the fake Tailscale API (a real HTTP server).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pygit2
import pytest

from reconciler import hujson
from reconciler.backends.base import Backend
from reconciler.backends.file import FileBackend
from reconciler.core.config import Target
from reconciler.core.grants import Grant, GrantStatus, State
from reconciler.core.render import render
from reconciler.errors import GitError
from reconciler.repo.config import load_config
from reconciler.repo.workspace import open_workspace
from reconciler.watch import Watcher
from tests.support.access import BASE_POLICY, AccessRepo
from tests.support.fake_tailscale import FakeTailscale
from tests.support.tailscale_repo import fake_tailnet

STARTED = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
ALICE_END = datetime(2026, 11, 24, 14, 0, tzinfo=UTC)
BOB_END = datetime(2026, 11, 24, 18, 0, tzinfo=UTC)
LATER = "2026-11-24T15:00:00Z"
NOW = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)
TARGETS = {"prod": Target("prod", "group:prod", timedelta(hours=8)),
           "staging": Target("staging", "group:staging", timedelta(days=7))}

ALICE = """\
user: alice@example.com
target: prod
reason: INC-1234
start: 2026-11-24T10:00:00Z
expires: 2026-11-24T14:00:00Z
"""
BOB = """\
user: bob@example.com
target: prod
reason: INC-1235
start: 2026-11-24T10:00:00Z
expires: 2026-11-24T18:00:00Z
"""


@dataclass
class Tailnet:
    """The live policy, wherever it is: ``read`` it, ``write`` it, and the backend to reach it."""

    kind: str
    read: Callable[[], bytes]
    write: Callable[[bytes], None]
    backend: Callable[[], Backend]
    fake: FakeTailscale | None = None


@pytest.fixture(params=["file", "tailscale"])
def net(request: pytest.FixtureRequest, repo: AccessRepo, monkeypatch: pytest.MonkeyPatch) -> Iterator[Tailnet]:
    repo.grant("prod", "alice.yaml", ALICE)
    repo.grant("prod", "bob.yaml", BOB)
    if request.param == "file":
        yield Tailnet("file", repo.tailnet.read_bytes, repo.tailnet.write_bytes,
                      lambda: FileBackend(repo.tailnet, name="file:tailnet.hujson"))
        return
    with fake_tailnet(repo, monkeypatch) as fake:
        def backend() -> Backend:
            from reconciler.backends.tailscale import TailscaleBackend

            return TailscaleBackend.from_config(load_config(repo.config))

        yield Tailnet("tailscale", lambda: fake.policy, fake.set_policy, backend, fake)


def granted(base: str = BASE_POLICY) -> bytes:
    """The live policy as tailjit wrote it at 10:00, with alice's and bob's grants active."""
    statuses = [GrantStatus(Grant(f"policy/grants/prod/{who}.yaml", f"{who}@example.com", "prod", "r"),
                            State.ACTIVE, STARTED, end) for who, end in (("alice", ALICE_END), ("bob", BOB_END))]
    return render(base.encode(), TARGETS, statuses)


def prod(text: bytes) -> list[str]:
    return list(hujson.parse(text).to_python()["groups"]["group:prod"])


def start(repo: AccessRepo, net: Tailnet, base: str = BASE_POLICY) -> None:
    net.write(granted(base))
    assert prod(net.read()) == ["dana@example.com", "alice@example.com", "bob@example.com"]


def assert_revoked(net: Tailnet, *, bob_stays: bool = True) -> None:
    members = prod(net.read())
    assert "alice@example.com" not in members, "the expired member left the live policy"
    assert "dana@example.com" in members, "permanent members stay"
    if bob_stays:
        assert "bob@example.com" in members, "an active grant whose file exists is not revoked"


def apply(repo: AccessRepo, *extra: str) -> tuple[int, str, str]:
    result = repo.run(*extra, "apply", "--at", LATER)
    return result.code, result.out, result.err


# --- each fault of the table: broken grant files ----------------------------------------------------------

HOSTILE_TIMES = {
    "expires far future with offset": "expires: 9999-12-31T23:59:59-01:00\n",
    "expires year 1 with offset": "expires: 0001-01-01T00:30:00+01:00\n",
    "duration 999999w": "duration: 999999w\n",
    "start 9999 + duration": "start: 9999-12-31T20:00:00Z\nduration: 8h\n",
}


@pytest.mark.parametrize("when", list(HOSTILE_TIMES), ids=list(HOSTILE_TIMES))
def test_a_grant_file_with_an_overflowing_time_is_its_own_error(repo: AccessRepo, net: Tailnet, when: str) -> None:
    start(repo, net)
    repo.grant("prod", "mallory.yaml", "user: mallory@example.com\ntarget: prod\nreason: x\n" + HOSTILE_TIMES[when])
    code, _out, err = apply(repo)
    assert_revoked(net)
    assert "policy/grants/prod/mallory.yaml" in err and code == 1
    assert "Traceback" not in err and "internal error" not in err
    assert "mallory" not in str(prod(net.read()))


def test_an_invalid_grant_inside_actions_still_revokes(repo: AccessRepo, net: Tailnet,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    start(repo, net)
    repo.grant("prod", "broken.yaml", "user: [\n")
    code, _, _ = apply(repo)
    assert_revoked(net)
    assert code == 1


# --- the base policy and the config --------------------------------------------------------------------

def _edit_base(repo: AccessRepo, old: str, new: str) -> None:
    path = repo.root / "policy" / "policy.hujson"
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


BASE_FAULTS: dict[str, Callable[[AccessRepo], None]] = {
    "base policy syntax error": lambda r: _edit_base(r, '"group:staging": [],', '"group:staging": [,'),
    "target group removed": lambda r: _edit_base(r, '"group:prod": [\n\t\t\t"dana@example.com", // lead\n\t\t],',
                                                 ""),
    "target group not an array": lambda r: _edit_base(r, '"group:staging": [],', '"group:staging": "x",'),
    "another target's group removed": lambda r: _edit_base(r, '"group:staging": [],', ""),
    "undefined group in a rule": lambda r: _edit_base(r, '"src": ["group:staging"]', '"src": ["group:nobody"]'),
    "base policy missing": lambda r: (r.root / "policy" / "policy.hujson").unlink(),
}


@pytest.mark.parametrize("fault", list(BASE_FAULTS), ids=list(BASE_FAULTS))
def test_a_broken_base_policy_falls_back_to_revoke_only(repo: AccessRepo, net: Tailnet, fault: str) -> None:
    start(repo, net)
    BASE_FAULTS[fault](repo)
    code, out, err = apply(repo)
    assert_revoked(net)
    assert code == 1
    assert "falling back to revoke-only" in err
    assert "revoke alice@example.com from group:prod (prod/alice.yaml: expired at 2026-11-24T14:00:00Z)" in out


CONFIG_FAULTS: dict[str, Callable[[str], str]] = {
    "unknown config key": lambda c: c + "colour: blue\n",
    "max_duration 91d": lambda c: c.replace("max_duration: 8h", "max_duration: 91d"),
    "config YAML error": lambda c: c + "targets: [\n",
    "targets missing": lambda c: c[:c.index("targets:")],
}


@pytest.mark.parametrize("fault", list(CONFIG_FAULTS), ids=list(CONFIG_FAULTS))
def test_a_broken_config_falls_back_to_revoke_only(repo: AccessRepo, net: Tailnet, fault: str) -> None:
    start(repo, net)
    repo.config.write_text(CONFIG_FAULTS[fault](repo.config.read_text()))
    # A config that cannot be parsed at all names no backend: the environment (TS_*) or --backend does.
    extra = ("--backend", "file:tailnet.hujson") if fault == "config YAML error" and net.kind == "file" else ()
    code, _out, err = apply(repo, *extra)
    assert_revoked(net)
    assert code == 1 and "tailjit.yaml" in err and "falling back to revoke-only" in err


def test_a_policy_test_naming_the_grantee_cannot_block_its_revocation(repo: AccessRepo, net: Tailnet) -> None:
    base = BASE_POLICY.replace('\t"acls": [', '\t"tests": [\n\t\t{"src": "alice@example.com", "accept": '
                               '["tag:prod:22"]},\n\t\t{"src": "dana@example.com", "accept": ["tag:prod:22"]},\n'
                               '\t],\n\t"acls": [')
    (repo.root / "policy" / "policy.hujson").write_text(base)
    start(repo, net, base)
    code, out, _err = apply(repo)
    assert_revoked(net)
    live = hujson.parse(net.read()).to_python()
    if net.kind == "tailscale":  # the tailnet ran the test and refused; the fallback names and removes it
        assert code == 1
        assert 'tests[0]: {"src": "alice@example.com", "accept": ["tag:prod:22"]}' in out
        assert live["tests"] == [{"src": "dana@example.com", "accept": ["tag:prod:22"]}]


def test_a_grants_folder_typo_revokes_only_what_expired(repo: AccessRepo, net: Tailnet) -> None:
    start(repo, net)
    repo.config.write_text(repo.config.read_text() + "grants: policy/grant\n")
    code, _out, err = apply(repo)
    assert_revoked(net)  # bob's grant is not taken for "gone": the folder itself is missing
    assert code == 1 and "'grants': the folder policy/grant does not exist" in err
    result = repo.run("validate")
    assert result.code == 1 and "policy/tailjit.yaml: 'grants': the folder policy/grant does not exist" in result.err


def test_a_grant_file_removed_before_its_end_is_revoked(repo: AccessRepo, net: Tailnet) -> None:
    start(repo, net)
    (repo.root / "policy" / "policy.hujson").write_text("{")  # and the full reconcile cannot run
    (repo.root / "policy" / "grants" / "prod" / "bob.yaml").unlink()
    _code, out, _err = apply(repo)
    assert_revoked(net, bob_stays=False)
    assert "bob@example.com" not in prod(net.read())
    assert "revoke bob@example.com from group:prod (prod/bob.yaml: its grant file is gone)" in out


def test_a_history_that_cannot_be_read_still_revokes(repo: AccessRepo, net: Tailnet) -> None:
    start(repo, net)
    git = pygit2.init_repository(str(repo.root), initial_head="main")
    Path(git.path, "refs", "heads", "main").write_text("0123456789abcdef0123456789abcdef01234567\n")
    code, _out, err = apply(repo)
    assert_revoked(net)
    assert code == 1 and "falling back to revoke-only" in err


# --- hostile live policies -----------------------------------------------------------------------------

def test_a_malformed_note_is_left_alone_and_reported(repo: AccessRepo, net: Tailnet) -> None:
    start(repo, net)
    text = net.read().replace(b'"bob@example.com", // tailjit: prod/bob.yaml until 2026-11-24T18:00:00Z',
                              b'"bob@example.com", // tailjit: prod/bob.yaml until someday')
    net.write(text)
    (repo.root / "policy" / "policy.hujson").write_text("{")
    _code, out, _err = apply(repo)
    assert_revoked(net)
    assert "bob@example.com in group:prod carries a note tailjit cannot read" in out


def test_a_group_defined_twice_in_the_live_policy_loses_the_member_in_both(repo: AccessRepo, net: Tailnet) -> None:
    start(repo, net)
    text = net.read().replace(b'"group:staging": [],',
                              b'"group:staging": [],\n\t\t"group:prod": ["alice@example.com" /* tailjit: '
                              b'prod/alice.yaml until 2026-11-24T14:00:00Z */],')
    net.write(text)
    (repo.root / "policy" / "policy.hujson").write_text("{")
    apply(repo)
    assert b"alice@example.com" not in net.read()


def test_drift_and_an_expired_member_together(repo: AccessRepo, net: Tailnet) -> None:
    start(repo, net)
    net.write(net.read().replace(b'"acls": [', b'"acls": [\n\t\t// a console edit'))
    (repo.root / "policy" / "policy.hujson").write_text("{")
    apply(repo)
    assert_revoked(net)
    assert b"// a console edit" in net.read(), "an outside edit is kept by the fallback too"


# --- apply --watch ---------------------------------------------------------------------------------------

def test_watch_with_a_failing_pull_turns_revoke_only(repo: AccessRepo, net: Tailnet, tmp_path: Path) -> None:
    start(repo, net)
    repo.grant("prod", "mallory.yaml", BOB.replace("bob", "mallory"))  # in the stale checkout only

    def pull() -> str | None:
        raise GitError("fetching main from origin failed: connection refused")

    backend = net.backend()
    try:
        watcher = Watcher(lambda: open_workspace(repo.config), backend, lock_path=tmp_path / "lock",
                          pull=pull, clock=lambda: NOW)
        cycle = watcher.cycle(threading.Event())
    finally:
        backend.close()
    assert cycle is not None and cycle.fallback is not None and cycle.fallback.written
    assert "the last pull failed" in cycle.fallback_reasons[0]
    assert_revoked(net)
    assert "mallory@example.com" not in prod(net.read()), "nothing is granted from a checkout that may be stale"
    assert cycle.next_wake == NOW + timedelta(seconds=60), "the next cycle comes at the interval"


def test_watch_with_a_broken_base_policy_revokes_each_cycle(repo: AccessRepo, net: Tailnet, tmp_path: Path) -> None:
    start(repo, net)
    (repo.root / "policy" / "policy.hujson").write_text("{")
    backend = net.backend()
    try:
        watcher = Watcher(lambda: open_workspace(repo.config), backend, lock_path=tmp_path / "lock",
                          clock=lambda: NOW)
        cycle = watcher.cycle()
    finally:
        backend.close()
    assert cycle is not None and cycle.fallback is not None
    assert_revoked(net)
    assert cycle.wake_reason == "interval" and cycle.next_wake == NOW + timedelta(seconds=60)



# --- grants only from the reviewed state (the tailscale backend) --------------------------------------------

MALLORY = BOB.replace("bob", "mallory")


@pytest.fixture
def reviewed(repo: AccessRepo, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeTailscale]:
    """A tailnet holding alice's expired grant and bob's active one; the repository committed on main."""
    repo.grant("prod", "alice.yaml", ALICE)
    repo.grant("prod", "bob.yaml", BOB)
    with fake_tailnet(repo, monkeypatch) as fake:
        fake.set_policy(granted())
        yield fake


def test_apply_on_an_unmerged_branch_grants_nothing_and_still_revokes(repo: AccessRepo,
                                                                     reviewed: FakeTailscale) -> None:
    git = pygit2.Repository(str(repo.root))
    git.branches.local.create("access/prod/mallory", git.head.peel(pygit2.Commit))
    git.checkout("refs/heads/access/prod/mallory")
    repo.grant("prod", "mallory.yaml", MALLORY)
    code, _out, err = apply(repo)
    members = prod(reviewed.policy)
    assert "alice@example.com" not in members and "bob@example.com" in members
    assert "mallory@example.com" not in members
    assert code == 1 and "HEAD is 'access/prod/mallory', not 'main'" in err


def test_an_uncommitted_grant_file_grants_nothing_and_still_revokes(repo: AccessRepo,
                                                                   reviewed: FakeTailscale) -> None:
    (repo.root / "policy" / "grants" / "prod" / "mallory.yaml").write_text(MALLORY)
    code, _out, err = apply(repo)
    members = prod(reviewed.policy)
    assert "alice@example.com" not in members and "mallory@example.com" not in members
    assert code == 1 and "changes not committed to 'main' (policy/grants/prod/mallory.yaml)" in err


def test_another_reviewed_branch_is_configured_with_branch(repo: AccessRepo, reviewed: FakeTailscale) -> None:
    repo.config.write_text(repo.config.read_text() + "branch: trunk\n")
    repo.commit("branch: trunk")
    code, _out, err = apply(repo)
    assert code == 1 and "HEAD is 'main', not 'trunk'" in err
    assert "alice@example.com" not in prod(reviewed.policy)


def test_an_expires_grant_without_history_is_unknown_in_git(repo: AccessRepo) -> None:
    repo.reviewed()
    (repo.root / "policy" / "grants" / "prod").mkdir()
    (repo.root / "policy" / "grants" / "prod" / "late.yaml").write_text(
        "user: late@example.com\ntarget: prod\nreason: x\nexpires: 2026-11-27T12:00:00Z\n")
    result = repo.run("status", "--json", "--at", "2026-11-27T08:00:00Z")
    [row] = [g for g in json.loads(result.out)["grants"] if g["user"] == "late@example.com"]
    assert row["state"] == "unknown", "a 3-day grant on an 8h target never becomes active by waiting"
    assert "not committed yet" in row["problem"]
