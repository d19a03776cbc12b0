"""``tailjit apply --watch``: revocation on time.

A scheduled workflow revokes expired access on its next run, and GitHub's
schedule can run many minutes late. The watcher is a long-running process
that applies, then sleeps until the next moment access changes (a grant
starting or expiring) or the interval, whichever is sooner, and applies
again: an expired grant leaves the tailnet within about a second.

Each cycle re-reads the repository (optionally fetching and fast-forwarding
it first) and runs the ordinary reconcile loop, so everything `apply`
guarantees holds. Cycles take a lock file under ``.tailjit/``: two watchers
(or a watcher and a one-shot ``apply``) on one clone never write at the same
time. A stop request (SIGTERM, Ctrl-C) is honoured between cycles and while
sleeping, never in the middle of a write: the cycle under way finishes first.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import tempfile
import threading
import traceback
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import FrameType

from reconciler.backends.base import Backend
from reconciler.core.durations import format_time
from reconciler.core.grants import GrantStatus, State
from reconciler.core.posture import LockResult
from reconciler.errors import GrantError, RefusedPolicy, TailjitError, UnsafePlan
from reconciler.posture import Marking, open_lock, unmark_revoked
from reconciler.reconcile import Outcome, RevokeOutcome, reconcile, revoke_only
from reconciler.repo.grants import grant_names
from reconciler.repo.workspace import Workspace

DEFAULT_INTERVAL = timedelta(seconds=60)
MIN_INTERVAL = timedelta(seconds=1)
#: Wake this long after a grant's boundary, so that the clock reads at or past it.
MARGIN = timedelta(milliseconds=50)
LOCK_NAME = "lock"


def state_dir(root: Path) -> Path:
    """``<root>/.tailjit``: tailjit's local state (lock, backups), never committed."""
    folder = root / ".tailjit"
    folder.mkdir(parents=True, exist_ok=True)
    ignore = folder / ".gitignore"
    if not ignore.exists():
        ignore.write_text("*\n")
    return folder


@contextlib.contextmanager
def write_lock(path: Path, stop: threading.Event | None = None, poll: float = 0.05) -> Iterator[bool]:
    """Hold an exclusive lock on ``path`` while inside; yields False if ``stop`` was set while waiting.

    An advisory ``flock``: released by the kernel when the process dies, so a
    crashed watcher never leaves the repository locked.
    """
    with open(path, "a+", encoding="utf-8") as f:
        while True:
            try:
                fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if stop is not None and stop.wait(poll):
                    yield False
                    return
                if stop is None:
                    fcntl.flock(f.fileno(), fcntl.LOCK_EX)
                    break
        try:
            f.truncate(0)
            f.write(f"{os.getpid()}\n")
            f.flush()
            yield True
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)


def next_change(statuses: Sequence[GrantStatus], now: datetime) -> tuple[datetime, str] | None:
    """The next moment after ``now`` at which a grant starts or expires, and what happens then."""
    upcoming: list[tuple[datetime, str]] = []
    for s in statuses:
        who = f"{s.grant.user}'s {s.grant.target} grant ({s.grant.name})"
        if s.state is State.PENDING and s.start is not None and s.start > now:
            upcoming.append((s.start, f"{who} starts"))
        elif s.state is State.ACTIVE and s.end is not None and s.end > now:
            upcoming.append((s.end, f"{who} expires"))
    return min(upcoming, default=None)


def next_wake(statuses: Sequence[GrantStatus], now: datetime, interval: timedelta) -> tuple[datetime, str]:
    """When to apply again: the next grant start or expiry (plus `MARGIN`), or ``now + interval``."""
    change = next_change(statuses, now)
    if change is not None and change[0] + MARGIN < now + interval:
        return change[0] + MARGIN, change[1]
    return now + interval, "interval"


@dataclass(frozen=True)
class Cycle:
    """What one pass of the watcher did, for the CLI to report."""

    at: datetime
    next_wake: datetime
    wake_reason: str
    outcome: Outcome | None = None
    problems: tuple[GrantError, ...] = ()
    errors: tuple[TailjitError, ...] = ()
    pulled: str | None = None
    #: ``problems`` (or the drift) differ from the previous cycle's, so they are worth reporting again
    problems_changed: bool = False
    drift_changed: bool = False
    #: every grant evaluated at ``at`` (empty when the repository could not be read)
    statuses: tuple[GrantStatus, ...] = ()
    #: the posture attributes set and deleted (``lock: posture`` targets)
    lock: LockResult = field(default_factory=LockResult)
    #: a revoke-only cycle: what it did (None when even that failed: see ``errors``), and why it fell back
    fallback: RevokeOutcome | None = None
    fallback_reasons: tuple[str, ...] = ()


class Watcher:
    """Applies the repository to the tailnet again and again, at the moments access changes.

    ``load`` reads the repository afresh (config, base policy, grant files,
    merge times); ``pull`` brings the clone up to date first and says what it
    did (None: nothing new). The backend stays open across cycles, so an
    OAuth token is reused until it expires. With ``expiring_before`` it also
    wakes that long before each grant's end, for the ``expiring`` notice.
    """

    def __init__(self, load: Callable[[], Workspace], backend: Backend, *, lock_path: Path,
                 interval: timedelta = DEFAULT_INTERVAL, pull: Callable[[], str | None] | None = None,
                 dry_run: bool = False, clock: Callable[[], datetime] = lambda: datetime.now(UTC),
                 expiring_before: timedelta | None = None,
                 wait: Callable[[threading.Event, float], object] = lambda stop, seconds: stop.wait(seconds),
                 unreviewed: Callable[[Workspace], str | None] | None = None) -> None:
        self.load = load
        self.backend = backend
        self.lock_path = lock_path
        self.interval = max(interval, MIN_INTERVAL)
        self.pull = pull
        self.dry_run = dry_run
        self.clock = clock
        #: sleeps until ``stop`` is set or the seconds pass; a test's fake clock advances instead
        self.wait = wait
        self.expiring_before = expiring_before
        self.unreviewed = unreviewed
        self._stale: str | None = None
        self._last_problems: tuple[str, ...] = ()
        self._last_drift = ""

    def run(self, stop: threading.Event, report: Callable[[Cycle], None]) -> None:
        """Cycle until ``stop`` is set; each cycle is reported as it ends."""
        while not stop.is_set():
            with write_lock(self.lock_path, stop) as held:
                if not held:
                    return
                cycle = self.cycle(stop)
            if cycle is None:
                return
            report(cycle)
            delay = (cycle.next_wake - self.clock()).total_seconds()
            if delay > 0:
                self.wait(stop, delay)

    def cycle(self, stop: threading.Event | None = None) -> Cycle | None:
        """Pull (if asked), re-read the repository, apply. None when stopped after pulling, before applying.

        When the full reconcile cannot run (the repository cannot be read or rendered, the tailnet refuses
        the desired policy, the plan is unsafe, the last pull failed, the checkout is not the reviewed
        state), the cycle falls back to `revoke_only`: expired access still leaves on time.
        """
        errors: list[TailjitError] = []
        pulled = None
        if self.pull is not None:
            try:
                pulled = self.pull()
                self._stale = None
            except TailjitError as e:
                errors.append(e)
                self._stale = (f"the last pull failed ({e}): the checkout may be behind what was merged, so "
                               "nothing is granted until a pull succeeds")
        if stop is not None and stop.is_set():
            return None
        now = self.clock()
        reasons = [self._stale] if self._stale else []
        ws: Workspace | None = None
        try:
            ws = self.load()
            if (missing := ws.missing_grants()) is not None:
                raise missing
            moment = ws.at(now)
            statuses = moment.statuses
            rendered = moment.rendered
            problems = moment.problems
        except Exception as e:  # nothing may stop the revocation of expired access
            return self._fall_back(now, [*reasons, describe_failure(e)], ws, errors, pulled)
        if self.unreviewed is not None:
            reason = self.unreviewed(ws)
            if reason is not None:
                reasons.append(reason)
        if reasons:
            return self._fall_back(now, reasons, ws, errors, pulled, statuses)
        wake, reason = next_wake(statuses, now, self.interval)
        notice = None
        if self.expiring_before is not None:  # notifications configured: their module is needed only then
            from reconciler.notify.events import due_expiring

            notice = due_expiring(statuses, now, self.expiring_before)
        if notice is not None and notice + MARGIN < wake:
            wake, reason = notice + MARGIN, "an expiry notice is due"
        outcome = None
        marking = Marking(open_lock(self.backend, ws.config.targets), statuses, dry_run=self.dry_run)
        try:  # attributes before members join, after they go (reconciler.posture)
            outcome = reconcile(self.backend, rendered, ws.config.targets, ws.config.safety,
                                dry_run=self.dry_run, before_write=marking.before_write)
            marking.after(outcome)
        except TailjitError as e:
            if not isinstance(e, RefusedPolicy | UnsafePlan):
                errors.append(e)
            else:
                return self._fall_back(now, [describe_failure(e)], ws, errors, pulled, statuses)
        except Exception as e:  # a bug in the full reconcile must not keep expired access
            return self._fall_back(now, [describe_failure(e)], ws, errors, pulled, statuses)
        return Cycle(now, wake, reason, outcome, problems, tuple(errors), pulled,
                     problems_changed=self._problems_changed(problems),
                     drift_changed=self._drift_changed(outcome), statuses=statuses, lock=marking.result)

    def _fall_back(self, now: datetime, reasons: list[str], ws: Workspace | None, errors: list[TailjitError],
                   pulled: str | None, statuses: tuple[GrantStatus, ...] = ()) -> Cycle:
        """A revoke-only cycle: expired members leave the live policy; wakes at the next note's end."""
        existing = None
        if ws is not None:
            with contextlib.suppress(Exception):
                existing = grant_names(ws.config)
        fallen: RevokeOutcome | None = None
        marked = LockResult()
        try:
            fallen = revoke_only(self.backend, now, existing=existing, dry_run=self.dry_run)
            if fallen.written or self.dry_run:  # the members are gone: now their posture attributes
                marked = unmark_revoked(self.backend, None if ws is None else ws.config.targets,
                                        [(r.user, r.note.grant) for r in fallen.plan.revocations],
                                        dry_run=self.dry_run)
        except TailjitError as e:
            errors.append(e)
        except Exception as e:  # reported; the next cycle tries again
            errors.append(TailjitError(describe_failure(e)))
        wake, why = now + self.interval, "interval"
        expiry = None if fallen is None else fallen.plan.next_expiry
        if expiry is not None and expiry + MARGIN < wake:
            wake, why = expiry + MARGIN, "a member's note expires"
        return Cycle(now, wake, why, None, (), tuple(errors), pulled, statuses=statuses,
                     fallback=fallen, fallback_reasons=tuple(reasons),
                     problems_changed=self._problems_changed(()), lock=marked)

    def _problems_changed(self, problems: tuple[GrantError, ...]) -> bool:
        seen = tuple(str(p) for p in problems)
        changed, self._last_problems = seen != self._last_problems, seen
        return changed

    def _drift_changed(self, outcome: Outcome | None) -> bool:
        if outcome is None:
            return False
        drift = outcome.plan.drift_diff if outcome.plan.drift else ""
        changed, self._last_drift = drift != self._last_drift, drift
        return changed


def describe_failure(error: BaseException) -> str:
    """One line for why the full reconcile did not run; an unexpected error's traceback goes to a log file."""
    if isinstance(error, TailjitError):
        return str(error) + (f" (hint: {error.hint})" if error.hint else "")
    log = Path(tempfile.gettempdir()) / f"tailjit-crash-{os.getpid()}.log"
    try:
        log.write_text("".join(traceback.format_exception(error)))
    except OSError:
        return f"unexpected internal error ({type(error).__name__})"
    return f"unexpected internal error ({type(error).__name__}); the details are in {log}. Please report it."


def describe_wake(cycle: Cycle) -> str:
    return f"next apply at {format_time(cycle.next_wake)}" + (
        f": {cycle.wake_reason}" if cycle.wake_reason != "interval" else "")


def stop_on_signals(stop: threading.Event) -> Callable[[], None]:
    """Set ``stop`` on the first SIGTERM or SIGINT; a second one acts as it normally would.

    Returns a function that puts the previous handlers back. Call from the main thread.
    """
    signals = (signal.SIGTERM, signal.SIGINT)
    previous = {sig: signal.getsignal(sig) for sig in signals}

    def restore() -> None:
        for sig, handler in previous.items():
            signal.signal(sig, handler)

    def handle(signum: int, frame: FrameType | None) -> None:
        stop.set()
        restore()

    for sig in signals:
        signal.signal(sig, handle)
    return restore
