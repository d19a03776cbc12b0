"""Grants as values, and their evaluation at a moment in time.

A `Grant` is one valid grant file (see `reconciler.repo.grants` for reading
them); `evaluate` says where it stands at ``now``: active, pending, expired,
unknown (no start known) or invalid (breaks its target's limits).
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from reconciler.core.config import Target, login_matches
from reconciler.core.durations import format_duration, format_time

FILE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@+-]{0,127}\.yaml")
#: A Tailscale login: ``name@example.com``, ``name@github``, ``name@passkey``.
#: Deliberately narrow: nothing here can be a group, tag, autogroup, wildcard,
#: IP address, quote, comment or newline, so a grant can only ever add one login.
LOGIN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._%+-]{0,63}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?"
                   r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?)*")
MAX_REASON = 500


@dataclass(frozen=True)
class Grant:
    """One valid grant file. ``path`` is relative to the repository root."""

    path: str
    user: str
    target: str
    reason: str
    ticket: str | None = None
    duration: timedelta | None = None
    expires: datetime | None = None
    start: datetime | None = None
    line: int = 1
    #: emergency access: granted with no approval when the target allows it (`Target.break_glass`)
    break_glass: bool = False
    #: ``(key, line)`` of each key in the file, for messages about one value
    lines: tuple[tuple[str, int], ...] = field(default=(), compare=False)
    #: the duration as written (``48h``), for messages
    duration_text: str | None = field(default=None, compare=False)

    def line_of(self, key: str | None) -> int:
        """The line of ``key`` in the file (the first line when it is not there)."""
        return next((line for k, line in self.lines if k == key), self.line)

    @property
    def name(self) -> str:
        """``prod/alice.yaml``: the path below the grants folder, as shown in comments."""
        return "/".join(self.path.split("/")[-2:])


class State(enum.StrEnum):
    ACTIVE = "active"
    PENDING = "pending"
    EXPIRED = "expired"
    UNKNOWN = "unknown"   # a duration grant whose merge time is not known
    INVALID = "invalid"   # valid file, but breaks a target's limits


@dataclass(frozen=True)
class GrantStatus:
    """A grant evaluated at ``now``: its window and whether it gives access."""

    grant: Grant
    state: State
    start: datetime | None
    end: datetime | None
    problem: str | None = None
    #: the key whose value the problem is about (its line is where the message points)
    problem_key: str | None = None
    #: what to do about the problem, when there is something to say beyond its message
    hint: str | None = None

    @property
    def problem_line(self) -> int:
        return self.grant.line_of(self.problem_key)

    def time_left(self, now: datetime) -> timedelta | None:
        if self.state is State.ACTIVE and self.end is not None:
            return self.end - now
        if self.state is State.PENDING and self.start is not None:
            return self.start - now
        return None


#: Why a duration grant has no start, when nothing more precise is known (`evaluate`'s ``unknown_start``).
START_UNKNOWN = ("start unknown: a duration grant starts when it is merged to main, and no git history of this "
                 "file was found; granting nothing")


def evaluate(grant: Grant, target: Target, now: datetime, merged_at: datetime | None = None,
             start_problem: str | None = None, unknown_start: str | None = None, *,
             history: bool = False) -> GrantStatus:
    """Where ``grant`` stands at ``now``.

    The start is the explicit ``start`` or else ``merged_at`` (when the file
    reached main). A ``duration`` grant with neither has an unknown start and
    grants nothing. So does an ``expires`` grant with neither when ``history``
    says the repository is in git (the file is not committed, or the clone is
    shallow); outside git (a local demo) it is measured from ``now``.
    ``start_problem`` says why the merge time cannot be trusted (a commit dated
    in the future): a grant that would start from it is invalid. ``unknown_start`` says why a duration
    grant has no merge time (not committed, not merged, a shallow clone), for its message.
    """
    if start_problem is not None and grant.start is None:
        return GrantStatus(grant, State.INVALID, None, None, start_problem, "duration")
    if unknown_start is not None and merged_at is None:
        found = evaluate(grant, target, now, None, start_problem)
        if found.state is State.INVALID:  # a limit it breaks is said first, merged or not
            return found
        return GrantStatus(grant, State.UNKNOWN, found.start, found.end, unknown_start,
                           "duration" if grant.duration is not None else "expires")
    start = grant.start or merged_at
    if grant.duration is not None and grant.duration > target.max_duration:
        return GrantStatus(grant, State.INVALID, start, None if start is None else start + grant.duration,
                           f"duration {_written(grant)} is longer than target {target.name!r} "
                           f"allows ({format_duration(target.max_duration)}); granting nothing", "duration",
                           f"ask for at most {format_duration(target.max_duration)}, or use a target that "
                           "allows longer")
    if grant.duration is not None:
        if start is None:
            return GrantStatus(grant, State.UNKNOWN, None, None, START_UNKNOWN, "duration")
        end = start + grant.duration
    else:
        assert grant.expires is not None
        end = grant.expires
        if start is None and history:
            return GrantStatus(grant, State.UNKNOWN, None, end,
                               "not committed yet (or older than a shallow clone's history): an expires grant "
                               "without start is measured from its merge, so how long it lasts is not known; "
                               "granting nothing",
                               "expires")
    span = end - (start or now)
    if span > target.max_duration and (start is not None or end > now):
        return GrantStatus(grant, State.INVALID, start, end,
                           f"lasts {format_duration(span)}, longer than target {target.name!r} allows "
                           f"({format_duration(target.max_duration)}); granting nothing", "expires",
                           f"end at most {format_duration(target.max_duration)} after the start")
    if grant.break_glass:
        problem = break_glass_problem(grant, target, span if start is not None or end > now else None)
        if problem is not None:
            return GrantStatus(grant, State.INVALID, start, end, problem + "; granting nothing",
                               _break_glass_key(grant, target))
    if start is not None and now < start:
        return GrantStatus(grant, State.PENDING, start, end)
    if now >= end:
        return GrantStatus(grant, State.EXPIRED, start, end)
    return GrantStatus(grant, State.ACTIVE, start, end)


#: How far in the past a new grant's explicit ``start`` may be (the time to review and merge it is not).
START_SLACK = timedelta(minutes=5)


def new_grant_problems(status: GrantStatus, now: datetime) -> list[tuple[str, str]]:
    """``(message, key)`` for each way a grant that is being added or changed breaks the rules of a new
    request at ``now``: already over, or starting in the past (more than `START_SLACK`)."""
    grant = status.grant
    found = []
    if grant.start is not None and grant.start < now - START_SLACK:
        found.append((f"starts in the past ({format_time(grant.start)}); a new request starts now or later",
                      "start"))
    end = grant.expires if grant.expires is not None else status.end
    if end is not None and end <= now:
        found.append((f"has already ended ({format_time(end)}): it would grant nothing",
                      "expires" if grant.expires is not None else "duration"))
    return found


def break_glass_problem(grant: Grant, target: Target, span: timedelta | None) -> str | None:
    """Why break-glass ``grant`` (lasting ``span``, when known) is not allowed on ``target``; None if it is."""
    rule = target.break_glass
    if rule is None:
        return f"target {target.name!r} does not allow break glass (no 'break_glass' in tailjit.yaml)"
    if not login_matches(rule.allowed, grant.user):
        return f"{grant.user} may not use break glass on {target.name!r}: allowed are {', '.join(rule.allowed)}"
    if span is not None and span > rule.max_duration:
        return (f"break glass lasts at most {format_duration(rule.max_duration)} on {target.name!r}; this grant "
                f"lasts {format_duration(span)}")
    return None


def evaluate_all(grants: Iterable[Grant], targets: Mapping[str, Target], now: datetime,
                 merged_at: Mapping[str, datetime] | None = None,
                 start_problems: Mapping[str, str] | None = None,
                 unknown_starts: Mapping[str, str] | None = None, *,
                 history: bool = False) -> tuple[GrantStatus, ...]:
    times = merged_at or {}
    problems = start_problems or {}
    unknown = unknown_starts or {}
    return tuple(_evaluate_one(g, targets, now, times.get(g.path), problems.get(g.path), unknown.get(g.path),
                              history)
                 for g in grants)


def _written(grant: Grant) -> str:
    """The grant's duration as its file says it, with tailjit's reading when that differs: ``48h (2d)``."""
    assert grant.duration is not None
    shown = format_duration(grant.duration)
    written = (grant.duration_text or "").strip()
    return shown if not written or written == shown else f"{written} ({shown})"


def _break_glass_key(grant: Grant, target: Target) -> str:
    """Which line a break-glass problem belongs to: the flag, the user who may not, or the too long window."""
    if target.break_glass is None:
        return "break_glass"
    if not login_matches(target.break_glass.allowed, grant.user):
        return "user"
    return "duration" if grant.duration is not None else "expires"


def _evaluate_one(grant: Grant, targets: Mapping[str, Target], now: datetime, merged_at: datetime | None,
                  start_problem: str | None, unknown_start: str | None,
                  history: bool) -> GrantStatus:
    """`evaluate`, where any failure is this grant's problem (it grants nothing), never the run's."""
    try:
        return evaluate(grant, targets[grant.target], now, merged_at, start_problem, unknown_start,
                        history=history)
    except Exception as e:  # one hostile file must not stop the evaluation of every other grant
        return GrantStatus(grant, State.INVALID, None, None,
                           f"cannot be evaluated ({type(e).__name__}: {str(e)[:200]}); granting nothing")


def awaits_merge(reason: str | None) -> bool:
    """Whether a grant's unknown start only means that it is not merged yet (not a problem of the file): the
    reasons `reconciler.git.merged` gives start so."""
    return reason is not None and reason.startswith(("not committed yet", "not merged yet"))
