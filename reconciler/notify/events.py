"""Events about access, as values. Pure: made from a plan, grant statuses and facts from git; no I/O.

A plan's member changes say who entered or left a target group; the member
note tailjit writes beside each granted login (``tailjit: prod/alice.yaml
until 2026-11-25T02:00:00Z``) names the grant file and its end, in the live
policy and in the proposed one alike. So the events of an apply are read
from the plan alone; the grant files and git add the reason, the window's
start, the requester, the approver and the pull request when they know them.

Every event has a `key`: the same event about the same grant window always
has the same key, so a sender can tell whether it already went out.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from reconciler.core.config import Target
from reconciler.core.durations import format_time
from reconciler.core.grants import GrantStatus, State
from reconciler.core.notes import MemberArray, NoteReader, note_of
from reconciler.core.plan import ChangeKind, Plan
from reconciler.core.policy import Policy

#: The version of an event's fields (webhook bodies and ``audit --format jsonl`` lines); see docs/audit.md.
SCHEMA = 1
#: Every kind of event, in the order they are documented.
EVENT_KINDS = ("granted", "extended", "revoked", "expiring", "apply_failed", "drift_detected",
               "revoke_only_fallback")
#: Events about the run rather than one grant: sent once per distinct problem, again after it clears.
RUN_EVENTS = ("apply_failed", "drift_detected", "revoke_only_fallback")
#: The longest ``detail`` an event carries (an error message, a drift diff).
MAX_DETAIL = 4000


@dataclass(frozen=True)
class Event:
    """One thing that happened to someone's access (or to the run that manages it).

    ``file`` is the grant file's path from the repository root; ``start`` and
    ``until`` its window. ``revoked_because`` is ``expired``, ``removed`` (the
    file was deleted before its end; ``removed_by`` says by whom when git
    knows) or ``ended`` (the file is still there but no longer grants: edited,
    or now invalid). Unknown values are None.
    """

    event: str
    at: datetime
    user: str | None = None
    target: str | None = None
    group: str | None = None
    file: str | None = None
    start: datetime | None = None
    until: datetime | None = None
    reason: str | None = None
    ticket: str | None = None
    requested_by: str | None = None
    approved_by: str | None = None
    pull_request: str | None = None
    previous_until: datetime | None = None
    revoked_because: str | None = None
    removed_by: str | None = None
    #: the commit that made the change, when git says (``audit --format jsonl``)
    commit: str | None = None
    detail: str | None = None

    @property
    def key(self) -> str:
        """``event|file|start|until`` (a run event: ``event|digest of its detail``): equal for a repeat."""
        if self.event in RUN_EVENTS:
            return f"{self.event}|{hashlib.sha256((self.detail or '').encode()).hexdigest()[:32]}"
        return "|".join((self.event, self.file or "", _t(self.start) or "", _t(self.until) or ""))

    @property
    def data(self) -> dict[str, Any]:
        """The event as JSON data: every field present (null when unknown), times in ISO 8601 UTC."""
        return {
            "schema": SCHEMA, "event": self.event, "at": _t(self.at), "user": self.user, "target": self.target,
            "group": self.group, "file": self.file, "start": _t(self.start), "until": _t(self.until),
            "reason": self.reason, "ticket": self.ticket, "requested_by": self.requested_by,
            "approved_by": self.approved_by, "pull_request": self.pull_request,
            "previous_until": _t(self.previous_until), "revoked_because": self.revoked_because,
            "removed_by": self.removed_by, "commit": self.commit, "detail": self.detail,
        }


@dataclass(frozen=True)
class GitFacts:
    """What git says of one grant file (see `reconciler.git.audit`); None where it cannot tell."""

    requested_by: str | None = None
    approved_by: str | None = None
    pull_request: str | None = None
    removed_at: datetime | None = None
    removed_by: str | None = None
    start: datetime | None = None
    reason: str | None = None
    ticket: str | None = None


@dataclass(frozen=True)
class AccessChange:
    """A login entering, staying longer in, or leaving a target group because of a grant file.

    ``name`` is the grant file below the grants folder (``prod/alice.yaml``), from the member note.
    """

    kind: str  # granted, extended or revoked
    group: str
    user: str
    name: str
    until: datetime | None
    previous_until: datetime | None = None


def access_changes(plan: Plan, target_groups: Collection[str]) -> list[AccessChange]:
    """The grants, extensions and revocations a plan makes, from its member changes and member notes.

    An extension is a member of a target group on both sides whose note
    names the same grant file with another end: only its comment changes.
    A member whose note names another file is granted anew by that file.
    """
    found: list[AccessChange] = []
    for change in plan.member_changes:
        if change.kind not in (ChangeKind.GRANT, ChangeKind.REVOKE) or change.group not in target_groups:
            continue
        note = change.note
        if note is None:
            continue
        kind = "granted" if change.kind is ChangeKind.GRANT else "revoked"
        found.append(AccessChange(kind, change.group, change.user, note.grant, note.until))
    if plan.created or not plan.has_changes:
        return found
    found.extend(_renewed(plan, target_groups))
    return found


def _renewed(plan: Plan, target_groups: Collection[str]) -> Iterable[AccessChange]:
    live = plan.live_policy or Policy(plan.live, path="live policy")
    proposed = plan.proposed_policy or Policy(plan.proposed, path="desired policy")
    before, after = _groups(live.data), _groups(proposed.data)
    old_notes, new_notes = NoteReader(live.tree, live.data), NoteReader(proposed.tree, proposed.data)
    for group in sorted(target_groups):
        staying = sorted(set(before.get(group, ())) & set(after.get(group, ())))
        old_array, new_array = old_notes.array(group), new_notes.array(group)
        if not staying or new_array is None:
            continue
        yield from _renewed_in(group, staying, old_array, new_array)


def _renewed_in(group: str, staying: list[str], old_array: MemberArray | None,
                new_array: MemberArray) -> Iterable[AccessChange]:
    for user in staying:
        if old_array is not None and old_array.surroundings(user) == new_array.surroundings(user):
            continue  # the same bytes around the member on both sides: the same note
        old = None if old_array is None else note_of(old_array.texts(user))
        new = note_of(new_array.texts(user))
        if new is None or old == new:
            continue
        if old is None or old.grant != new.grant:
            yield AccessChange("granted", group, user, new.grant, new.until)
        else:
            yield AccessChange("extended", group, user, new.grant, new.until, previous_until=old.until)


def _groups(data: Any) -> dict[str, list[str]]:
    groups = data.get("groups") if isinstance(data, dict) else None
    if not isinstance(groups, dict):
        return {}
    return {k: [m for m in v if isinstance(m, str)] for k, v in groups.items() if isinstance(v, list)}


def grant_events(changes: Sequence[AccessChange], now: datetime, *, grants_folder: str,
                 targets: Mapping[str, Target], statuses: Sequence[GrantStatus],
                 facts: Mapping[str, GitFacts]) -> list[Event]:
    """One event per access change, with what the grant file (``statuses``) and git (``facts``) tell.

    ``grants_folder`` is the grants folder from the repository root; ``facts``
    and the statuses are looked up by the file's name below it.
    """
    by_group = {t.group: t.name for t in targets.values()}
    by_name = {s.grant.name: s for s in statuses}
    events = []
    for change in changes:
        status = by_name.get(change.name)
        fact = facts.get(change.name, GitFacts())
        grant = status.grant if status is not None else None
        start = status.start if status is not None and status.start is not None else fact.start
        because = removed_by = None
        if change.kind == "revoked":
            because, removed_by = _why_revoked(change, now, status, fact)
        events.append(Event(
            change.kind, now, user=change.user, target=by_group.get(change.group), group=change.group,
            file=f"{grants_folder}/{change.name}", start=start, until=change.until,
            reason=grant.reason if grant is not None else fact.reason,
            ticket=grant.ticket if grant is not None else fact.ticket,
            requested_by=fact.requested_by, approved_by=fact.approved_by, pull_request=fact.pull_request,
            previous_until=change.previous_until, revoked_because=because, removed_by=removed_by))
    return events


def _why_revoked(change: AccessChange, now: datetime, status: GrantStatus | None,
                 fact: GitFacts) -> tuple[str, str | None]:
    if change.until is not None and now >= change.until:
        return "expired", None
    if status is None:
        return "removed", fact.removed_by
    return "ended", None


def expiring_events(statuses: Sequence[GrantStatus], now: datetime, before: timedelta, *, grants_folder: str,
                    targets: Mapping[str, Target], facts: Mapping[str, GitFacts] | None = None) -> list[Event]:
    """An ``expiring`` event for each active grant that ends within ``before`` of ``now``."""
    found = []
    for s in statuses:
        if s.state is not State.ACTIVE or s.end is None or not now < s.end <= now + before:
            continue
        fact = (facts or {}).get(s.grant.name, GitFacts())
        target = targets.get(s.grant.target)
        found.append(Event("expiring", now, user=s.grant.user, target=s.grant.target,
                           group=target.group if target is not None else None,
                           file=f"{grants_folder}/{s.grant.name}", start=s.start, until=s.end,
                           reason=s.grant.reason, ticket=s.grant.ticket, requested_by=fact.requested_by,
                           approved_by=fact.approved_by, pull_request=fact.pull_request))
    return found


def due_expiring(statuses: Sequence[GrantStatus], now: datetime, before: timedelta) -> datetime | None:
    """The next moment after ``now`` at which an active grant comes within ``before`` of its end."""
    moments = [s.end - before for s in statuses
               if s.state in (State.ACTIVE, State.PENDING) and s.end is not None and s.end - before > now]
    return min(moments, default=None)


def run_event(kind: str, now: datetime, detail: str) -> Event:
    """``apply_failed``, ``drift_detected`` or ``revoke_only_fallback``, with what happened as ``detail``."""
    assert kind in RUN_EVENTS
    if len(detail) > MAX_DETAIL:
        detail = detail[:MAX_DETAIL] + "\n… (cut)"
    return Event(kind, now, detail=detail)


def _t(value: datetime | None) -> str | None:
    return format_time(value) if value is not None else None
