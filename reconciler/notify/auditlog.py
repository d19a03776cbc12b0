"""The access history from git as a stream of events: ``tailjit audit --format jsonl``.

Each grant file's life on the branch (`reconciler.git.audit.Record`) gives:

* ``granted`` at the start of its window (its ``start``, or when it reached
  the branch), with the requester, the approver, the pull request and the
  merge commit;
* ``revoked`` with ``revoked_because: removed`` when its file was deleted
  before its end (``removed_by`` and ``commit``: who deleted it, in which
  commit), or with ``revoked_because: expired`` at its end once that has
  passed;
* ``invalid`` when it reached the branch but never granted anything (the
  file was broken or broke a limit); ``detail`` says why.

The fields are those of the webhook events (`Event.data`, schema 1):
docs/audit.md lists them with their types. Pure: records in, events out.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime

from reconciler.git.audit import Record
from reconciler.notify.events import Event

#: The events the audit stream holds (``invalid`` is its own; the others are shared with notifications).
AUDIT_EVENTS = ("granted", "revoked", "invalid")


def audit_events(records: Sequence[Record], now: datetime,
                 pull_request: Callable[[int], str | None] = lambda number: None) -> list[Event]:
    """Every event of ``records`` up to ``now``, oldest first (ties: by file, then granted before revoked).

    ``pull_request`` turns a pull request's number into its link (None when not known).
    """
    found: list[tuple[datetime, int, Event]] = []
    for r in records:
        name = "/".join(r.path.split("/")[-2:])
        link = pull_request(r.pull_request) if r.pull_request is not None else None
        opened = r.active_from or r.merged_at
        base = Event("granted", opened or now, user=r.user, target=r.target, file=r.path, start=r.active_from,
                     until=r.active_to, reason=r.reason, ticket=r.ticket, requested_by=r.requested_by,
                     approved_by=r.approved_by, pull_request=link, commit=r.merge_commit)
        if r.problem is not None or r.user is None:
            when = r.merged_at or r.removed_at
            if when is not None:
                found.append((when, 0, replace(base, event="invalid", at=when,
                                               detail=r.problem or f"{name} grants nothing")))
            continue
        if opened is None:
            continue
        removed_early = r.removed_at if r.removed_at is not None and r.active_to is not None \
            and r.removed_at < r.active_to else None
        if opened > now or (removed_early is not None and removed_early <= opened):
            continue  # never in force (yet)
        found.append((opened, 0, base))
        if removed_early is not None:
            found.append((removed_early, 1, replace(base, event="revoked", at=removed_early,
                                                    revoked_because="removed", removed_by=r.removed_by,
                                                    commit=r.removed_by_commit)))
        elif r.active_to is not None and r.active_to <= now:
            found.append((r.active_to, 1, replace(base, event="revoked", at=r.active_to, revoked_because="expired",
                                                  commit=None)))
    found.sort(key=lambda item: (item[0], item[2].file or "", item[1]))
    return [event for _, _, event in found]


def since(events: Sequence[Event], start: datetime) -> list[Event]:
    """The events at or after ``start``."""
    return [e for e in events if e.at >= start]
