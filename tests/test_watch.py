"""``tailjit apply --watch``: revocation within a second or two of expiry, clean stops, one writer at a time."""

from __future__ import annotations

import json
import math
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pygit2
import pytest
import yaml

from reconciler import hujson
from reconciler.backends import open_backend
from reconciler.backends.base import Backend
from reconciler.cli.main import cli
from reconciler.core.durations import format_time
from reconciler.core.grants import Grant, GrantStatus, State
from reconciler.errors import GitError
from reconciler.git.remote import fast_forward
from reconciler.repo.workspace import open_workspace
from reconciler.watch import DEFAULT_INTERVAL, LOCK_NAME, MARGIN, Cycle, Watcher, next_wake, state_dir, write_lock
from tests.support.access import BASE_POLICY, CONFIG, AccessRepo
from tests.support.fake_tailscale import FakeTailscale
from tests.support.gitutil import RepoBuilder, clone, isolated_git_config
from tests.support.tailscale_repo import API_KEY, TAILJIT_ENV, fake_tailnet

#: The brief's bound: an expired grant is out of the tailnet this long after its expiry, at most.
LATE = 2.0


def members(text: bytes, group: str = "group:prod") -> list[str]:
    return list(hujson.parse(text).to_python()["groups"][group]) if text else []


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> float:
    """Poll ``condition`` every 10 ms; the wall-clock time it first held."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if condition():
            return time.time()
        time.sleep(0.01)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def expiring_grant(repo: AccessRepo, user: str = "alice", seconds: int = 3) -> float:
    """A prod grant for ``user`` that expires ``seconds`` (and a fraction) from now; its expiry as a timestamp."""
    expiry = math.ceil(time.time()) + seconds
    repo.grant("prod", f"{user}.yaml", f"user: {user}@example.com\ntarget: prod\nreason: INC-1\n"
                                       f"expires: {format_time(datetime.fromtimestamp(expiry, UTC))}\n")
    return float(expiry)


def child_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in TAILJIT_ENV and not k.startswith("GITHUB_")}
    return {**env, **extra}


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[str]]]:
    """Watchers started by a test; any still running at the end are killed."""
    started: list[subprocess.Popen[str]] = []
    yield started
    for proc in started:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=5)


def start_watcher(processes: list[subprocess.Popen[str]], config: Path, *args: str,
                  env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    proc = subprocess.Popen([sys.executable, "-m", "reconciler", "--config", str(config), "apply", "--watch",
                             *args], cwd=config.parent.parent, env=env or child_env(), text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    processes.append(proc)
    return proc


def stop(proc: subprocess.Popen[str]) -> tuple[int, str, str]:
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=10)
    return proc.returncode, out, err


# -- when to wake ---------------------------------------------------------------------------------------

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


def status(state: State, start: datetime | None, end: datetime | None, user: str = "a") -> GrantStatus:
    grant = Grant(path=f"policy/grants/prod/{user}.yaml", user=f"{user}@example.com", target="prod", reason="r")
    return GrantStatus(grant, state, start, end)


def test_wakes_at_the_next_expiry_or_start_whichever_is_first() -> None:
    statuses = [status(State.ACTIVE, NOW - timedelta(hours=1), NOW + timedelta(seconds=40), "a"),
                status(State.PENDING, NOW + timedelta(seconds=30), NOW + timedelta(hours=1), "b"),
                status(State.EXPIRED, NOW - timedelta(hours=2), NOW - timedelta(hours=1), "c")]
    when, why = next_wake(statuses, NOW, timedelta(seconds=60))
    assert when == NOW + timedelta(seconds=30) + MARGIN
    assert why == "b@example.com's prod grant (prod/b.yaml) starts"
    assert next_wake(statuses[:1], NOW, timedelta(seconds=60))[1] == "a@example.com's prod grant (prod/a.yaml) expires"


def test_the_interval_caps_the_sleep_and_past_or_invalid_grants_never_wake_it() -> None:
    statuses = [status(State.ACTIVE, None, NOW + timedelta(hours=3)),
                status(State.EXPIRED, None, NOW - timedelta(seconds=1)),
                status(State.INVALID, NOW + timedelta(seconds=5), NOW + timedelta(seconds=9))]
    assert next_wake(statuses, NOW, timedelta(seconds=60)) == (NOW + timedelta(seconds=60), "interval")


# -- revocation on time ---------------------------------------------------------------------------------

@pytest.mark.slow
def test_revokes_within_two_seconds_of_expiry_against_the_file_backend(
        repo: AccessRepo, processes: list[subprocess.Popen[str]]) -> None:
    expiry = expiring_grant(repo)
    proc = start_watcher(processes, repo.config, "--interval", "60s")
    wait_for(lambda: repo.tailnet.exists() and "alice@example.com" in members(repo.tailnet.read_bytes()), 3,
             "the grant to be applied")
    revoked = wait_for(lambda: "alice@example.com" not in members(repo.tailnet.read_bytes()), expiry - time.time()
                       + LATE + 1, "the revocation")
    assert expiry <= revoked <= expiry + LATE, f"revoked {revoked - expiry:+.2f}s after expiry"
    code, out, err = stop(proc)
    assert code == 0, err
    assert "Watching " in out and "alice@example.com's prod grant (prod/alice.yaml) expires" in out
    assert out.rstrip().endswith("Stopped.")
    assert members(repo.tailnet.read_bytes()) == ["dana@example.com"]


@pytest.fixture
def tailnet(repo: AccessRepo, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeTailscale]:
    with fake_tailnet(repo, monkeypatch) as fake:
        yield fake


def watcher_for(repo: AccessRepo, backend: Backend, interval: timedelta = DEFAULT_INTERVAL) -> Watcher:
    """A watcher over ``repo`` as ``tailjit apply --watch`` builds one: the repository re-read each cycle."""
    return Watcher(lambda: open_workspace(repo.config), backend, lock_path=state_dir(repo.root) / LOCK_NAME,
                   interval=interval)


def run_in_thread(watcher: Watcher) -> tuple[threading.Thread, threading.Event, list[Cycle]]:
    stop_event = threading.Event()
    cycles: list[Cycle] = []
    thread = threading.Thread(target=watcher.run, args=(stop_event, cycles.append), daemon=True)
    thread.start()
    return thread, stop_event, cycles


@contextmanager
def running(watcher: Watcher) -> Iterator[tuple[threading.Thread, list[Cycle]]]:
    """The watcher running in a thread; on leaving, stopped, joined and its backend closed, as the CLI does."""
    thread, stop_event, cycles = run_in_thread(watcher)
    try:
        yield thread, cycles
    finally:
        stop_event.set()
        thread.join(timeout=5)
        watcher.backend.close()


class FakeClock:
    """Time for a watcher that never sleeps: each wait moves the clock on, and a stop comes after ``cycles``."""

    def __init__(self, start: datetime, cycles: int) -> None:
        self.now = start
        self.cycles = cycles
        self.waits: list[float] = []

    def __call__(self) -> datetime:
        return self.now

    def wait(self, stop: threading.Event, seconds: float) -> None:
        self.waits.append(seconds)
        self.now += timedelta(seconds=seconds)
        if len(self.waits) >= self.cycles:
            stop.set()


def run_on(clock: FakeClock, watcher: Watcher) -> list[Cycle]:
    """Run ``watcher`` on ``clock`` in this thread until the clock stops it; the cycles it reported."""
    watcher.clock, watcher.wait = clock, clock.wait
    cycles: list[Cycle] = []
    try:
        watcher.run(threading.Event(), cycles.append)
    finally:
        watcher.backend.close()
    return cycles


def test_revokes_at_expiry_against_the_tailscale_api_on_a_fake_clock(
        repo: AccessRepo, tailnet: FakeTailscale) -> None:
    expiry = NOW + timedelta(hours=1, minutes=30, seconds=7)
    repo.grant("prod", "alice.yaml", "user: alice@example.com\ntarget: prod\nreason: INC-1\n"
                                     f"expires: {format_time(expiry)}\n")
    backend = open_backend("tailscale", open_workspace(repo.config).config)
    cycles = run_on(FakeClock(NOW, cycles=3), watcher_for(repo, backend, timedelta(hours=1)))
    granted, idle, revoked = cycles
    assert granted.outcome is not None and granted.outcome.written and granted.next_wake == NOW + timedelta(hours=1)
    assert idle.outcome is not None and not idle.outcome.written, "a converged cycle writes nothing"
    assert idle.next_wake == expiry + MARGIN and "expires" in idle.wake_reason
    assert revoked.at == expiry + MARGIN and revoked.outcome is not None and revoked.outcome.written
    assert "alice@example.com" not in members(tailnet.policy)
    assert tailnet.count("POST", "/acl") == 2, "one write to grant, one to revoke, nothing in between"


def test_a_failing_api_is_reported_and_retried_not_fatal(repo: AccessRepo, tailnet: FakeTailscale) -> None:
    repo.grant("prod", "alice.yaml", "user: alice@example.com\ntarget: prod\nreason: r\n"
                                     f"expires: {format_time(NOW + timedelta(hours=1))}\n")
    tailnet.fail_next(1, status=503)
    backend = open_backend("tailscale", open_workspace(repo.config).config)
    cycles = run_on(FakeClock(NOW, cycles=2), watcher_for(repo, backend, timedelta(seconds=1)))
    assert "HTTP 503" in str(cycles[0].errors[0]) and cycles[0].outcome is None
    assert cycles[0].next_wake == NOW + timedelta(seconds=1), "a failed cycle is retried after the interval"
    assert cycles[1].errors == () and cycles[1].outcome is not None and cycles[1].outcome.written
    assert "alice@example.com" in members(tailnet.policy)


# -- stopping and locking -------------------------------------------------------------------------------

def test_sigterm_during_a_write_lets_the_write_finish_then_stops(
        repo: AccessRepo, tailnet: FakeTailscale, processes: list[subprocess.Popen[str]]) -> None:
    repo.grant("prod", "alice.yaml", "user: alice@example.com\ntarget: prod\nreason: r\n"
                                     f"start: {format_time(datetime.now(UTC) - timedelta(minutes=5))}\n"
                                     f"expires: {format_time(datetime.now(UTC) + timedelta(hours=1))}\n")
    watcher: list[subprocess.Popen[str]] = []

    def terminate_mid_write(fake: FakeTailscale) -> None:
        watcher[0].send_signal(signal.SIGTERM)
        time.sleep(0.3)

    tailnet.before_next_write(terminate_mid_write)
    watcher.append(start_watcher(processes, repo.config, env=child_env(
        TS_BASE_URL=tailnet.url, TS_API_KEY=API_KEY, TAILJIT_HTTP_RETRIES="0")))
    out, err = watcher[0].communicate(timeout=15)
    assert watcher[0].returncode == 0, err
    assert members(tailnet.policy) == ["dana@example.com", "alice@example.com"], "the write under way finished"
    assert tailnet.count("POST", "/acl") == 1
    assert "Applied." in out and out.rstrip().endswith("Stopped.")
    assert API_KEY not in out + err


def test_a_second_writer_waits_for_the_lock(repo: AccessRepo) -> None:
    repo.grant("prod", "alice.yaml", "user: alice@example.com\ntarget: prod\nreason: r\n"
                                     f"expires: {format_time(datetime.now(UTC) + timedelta(hours=1))}\n")
    ws = open_workspace(repo.config)
    lock = state_dir(repo.root) / LOCK_NAME
    watcher = watcher_for(repo, open_backend(ws.config.backend, ws.config), timedelta(seconds=60))
    with write_lock(lock):
        thread, stop_event, cycles = run_in_thread(watcher)
        time.sleep(0.5)
        assert not repo.tailnet.exists() and cycles == [], "no write while another writer holds the lock"
    try:
        wait_for(repo.tailnet.exists, 3, "the write once the lock is free")
        assert lock.read_text() == f"{os.getpid()}\n", "the lock file names the process holding it"
    finally:
        stop_event.set()
        thread.join(timeout=5)
    assert not thread.is_alive()
    assert (repo.root / ".tailjit" / ".gitignore").read_text() == "*\n"


def test_a_stop_while_waiting_for_the_lock_writes_nothing(repo: AccessRepo) -> None:
    ws = open_workspace(repo.config)
    lock = state_dir(repo.root) / LOCK_NAME
    watcher = watcher_for(repo, open_backend(ws.config.backend, ws.config))
    with write_lock(lock):
        thread, stop_event, cycles = run_in_thread(watcher)
        time.sleep(0.2)
        stop_event.set()
        thread.join(timeout=2)
    assert not thread.is_alive() and cycles == [] and not repo.tailnet.exists()


@pytest.mark.parametrize("args", [["--interval", "5s"], ["--pull"], ["--watch", "--force"],
                                  ["--watch", "--at", "2026-11-24T12:00:00Z"], ["--watch", "--interval", "0s"],
                                  ["--watch", "--interval", "soon"]])
def test_watch_options_that_do_not_fit_are_usage_errors(repo: AccessRepo, args: list[str]) -> None:
    result = repo.run("apply", *args)
    assert result.code == 2, result.err
    assert not repo.tailnet.exists()


# -- following the remote -------------------------------------------------------------------------------

@pytest.fixture
def origin(tmp_path: Path) -> Iterator[RepoBuilder]:
    with isolated_git_config(tmp_path / "gitconfig"):
        builder = RepoBuilder.init(tmp_path / "origin")
        builder.commit({"policy/tailjit.yaml": CONFIG, "policy/policy.hujson": BASE_POLICY,
                        "policy/grants/.gitkeep": "", ".gitignore": "tailnet.hujson*\n.tailjit/\n"},
                       datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1))
        yield builder


@pytest.mark.slow
def test_pull_follows_the_remote_and_grants_what_lands_there(
        origin: RepoBuilder, tmp_path: Path, processes: list[subprocess.Popen[str]]) -> None:
    work = tmp_path / "clone"
    clone(Path(origin.repo.path).parent, work)
    tailnet = work / "tailnet.hujson"
    proc = start_watcher(processes, work / "policy" / "tailjit.yaml", "--pull", "--interval", "1s")
    wait_for(tailnet.exists, 5, "the first apply")
    merged = origin.commit({"policy/grants/prod/alice.yaml": "user: alice@example.com\ntarget: prod\n"
                                                             "reason: INC-7\nduration: 1h\n"},
                           datetime.now(UTC).replace(microsecond=0))
    wait_for(lambda: "alice@example.com" in members(tailnet.read_bytes()), 5, "the pulled grant to be applied")
    code, out, err = stop(proc)
    assert code == 0, err
    assert f"fast-forwarded main to {str(merged)[:12]}" in out
    assert (work / "policy" / "grants" / "prod" / "alice.yaml").exists()


def test_fast_forward_refuses_a_clone_with_its_own_commits(origin: RepoBuilder, tmp_path: Path) -> None:
    work = clone(Path(origin.repo.path).parent, tmp_path / "clone")
    local = RepoBuilder(work)
    mine = local.commit({"policy/grants/prod/local.yaml": "x"}, datetime.now(UTC).replace(microsecond=0))
    local.checkout()
    origin.commit({"policy/grants/prod/remote.yaml": "y"}, datetime.now(UTC).replace(microsecond=0))
    with pytest.raises(GitError, match=r"main has 1 commit\(s\) that origin/main lacks; not fast-forwarding"):
        fast_forward(work)
    assert pygit2.Repository(str(tmp_path / "clone")).head.target == mine, "the clone's branch did not move"


# -- running it as a service ----------------------------------------------------------------------------

ROOT = Path(__file__).resolve().parents[1]


def cli_accepts(args: list[str]) -> dict[str, object]:
    """The ``apply`` options ``args`` parse to, exactly as the CLI would parse them (nothing runs)."""
    context = cli.make_context("tailjit", list(args))
    name, command, rest = cli.resolve_command(context, [*context._protected_args, *context.args])
    assert name == "apply" and command is not None
    params: dict[str, object] = command.make_context(name, rest, parent=context).params
    return params


def test_the_image_runs_the_watcher_following_origin() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    [entrypoint] = re.findall(r"^ENTRYPOINT (.+)$", dockerfile, re.M)
    [command] = re.findall(r"^CMD (.+)$", dockerfile, re.M)
    assert json.loads(entrypoint) == ["tailjit"]
    assert cli_accepts(json.loads(command)) | {"interval": None} == {
        "watch": True, "pull": True, "interval": None, "at": None, "force": False, "dry_run": False}
    assert re.search(r"^USER 10001", dockerfile, re.M), "not root"
    assert "PYTHONUNBUFFERED=1" in dockerfile, "log lines reach kubectl logs as they happen"


def test_the_kubernetes_example_runs_one_watcher_that_can_finish_its_write() -> None:
    secret, deployment = yaml.safe_load_all((ROOT / "deploy" / "kubernetes.yaml").read_text())
    assert secret["kind"] == "Secret" and set(secret["stringData"]) == {
        "TS_OAUTH_CLIENT_ID", "TS_OAUTH_CLIENT_SECRET", "TAILJIT_GIT_TOKEN"}
    spec = deployment["spec"]
    assert spec["replicas"] == 1 and spec["strategy"]["type"] == "Recreate"
    pod = spec["template"]["spec"]
    assert pod["terminationGracePeriodSeconds"] >= 30
    assert pod["securityContext"]["runAsNonRoot"] is True
    [init], [main] = pod["initContainers"], pod["containers"]
    args = main["args"]
    assert cli_accepts(args)["watch"] is True and cli_accepts(args)["pull"] is True
    root = Path(args[args.index("--config") + 1]).parent.parent
    assert f'"$TAILJIT_REPO_URL" {root}' in init["args"][0], "the clone is where the config says the root is"
    assert "--depth" not in init["args"][0], "merge times need the full history"
    assert str(root / ".tailjit" / "lock") in " ".join(main["livenessProbe"]["exec"]["command"])
    for container in (init, main):
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
        assert container["envFrom"] == [{"secretRef": {"name": "tailjit"}}]
