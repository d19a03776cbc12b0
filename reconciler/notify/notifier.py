"""Notifications for ``apply`` and ``apply --watch``: events derived, deduplicated, sent, remembered.

Called after the write, never before: access changes never wait on a
receiver. What each sink received is remembered under the state folder
(`reconciler.notify.state`), keyed by sink and `Event.key`, so a rerun, a
watch cycle or a retried ``expiring`` notice never sends one event to one
sink twice. An event a sink did not get (down, slow, an error answer) is not
remembered: the next run that finds it again (an ``expiring`` notice, a
drift still there) tries that sink again. A run problem (``apply_failed``,
``drift_detected``, ``revoke_only_fallback``) is sent once while it lasts
and again if it comes back after clearing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from pathlib import Path

from reconciler.core.config import Config, Sink
from reconciler.core.grants import GrantStatus
from reconciler.core.plan import Plan
from reconciler.core.revoke import Revocation
from reconciler.notify.events import (
    AccessChange,
    Event,
    GitFacts,
    access_changes,
    expiring_events,
    grant_events,
    run_event,
)
from reconciler.notify.gitfacts import git_facts
from reconciler.notify.sinks import Report, Sender
from reconciler.notify.state import STATE_NAME, SentLog

log = logging.getLogger(__name__)


class Notifier:
    """Sends the events of one repository's applies to its ``notify`` sinks.

    ``env`` holds the sinks' URL and secret variables; ``facts`` reads git
    (default: `git_facts`), only when an event about a grant is to be sent.
    """

    def __init__(self, config: Config, env: Mapping[str, str], state_dir: Path, *, sender: Sender | None = None,
                 facts: Callable[[Config], Mapping[str, GitFacts]] = git_facts) -> None:
        self.config = config
        self.sender = sender or Sender(config.notify, env)
        self.state_path = state_dir / STATE_NAME
        self.facts = facts
        self.grants_folder = config.relative(config.grants_dir)

    @property
    def enabled(self) -> bool:
        return bool(self.config.notify)

    def applied(self, plan: Plan, written: bool, statuses: Sequence[GrantStatus], now: datetime) -> Report:
        """After a successful apply: granted, extended and revoked (when written) and drift_detected."""
        if not self.enabled:
            return Report()
        events: list[Event] = []
        cleared = ["apply_failed|", "revoke_only_fallback|"]
        if written:
            groups = {t.group for t in self.config.targets.values()}
            changes = access_changes(plan, groups)
            if changes:
                events += grant_events(changes, now, grants_folder=self.grants_folder, targets=self.config.targets,
                                       statuses=statuses, facts=self._facts())
        if plan.drift:
            events.append(run_event("drift_detected", now, plan.drift_diff))
        else:
            cleared.append("drift_detected|")
        return self._deliver(events, now, cleared)

    def failed(self, problems: Sequence[str], now: datetime) -> Report:
        """The apply stopped before writing: one ``apply_failed`` with what went wrong."""
        if not self.enabled:
            return Report()
        return self._deliver([run_event("apply_failed", now, "\n".join(problems))], now)

    def fell_back(self, reasons: Sequence[str], revocations: Sequence[Revocation], written: bool,
                  statuses: Sequence[GrantStatus], now: datetime) -> Report:
        """A revoke-only run: ``revoke_only_fallback`` saying why, and a ``revoked`` event for each member it
        removed from the tailnet (when written)."""
        if not self.enabled:
            return Report()
        events = [run_event("revoke_only_fallback", now, "\n".join(reasons))]
        if written and revocations:
            changes = [AccessChange("revoked", r.group, r.user, r.note.grant, r.note.until) for r in revocations]
            events += grant_events(changes, now, grants_folder=self.grants_folder, targets=self.config.targets,
                                   statuses=statuses, facts=self._facts())
        return self._deliver(events, now)

    def expiring(self, statuses: Sequence[GrantStatus], now: datetime) -> Report:
        """``apply --watch``: one ``expiring`` notice per grant within ``expiring_before`` of its end."""
        if not self.enabled:
            return Report()
        found = expiring_events(statuses, now, self.config.expiring_before, grants_folder=self.grants_folder,
                                targets=self.config.targets)
        log, warning = SentLog.load(self.state_path)
        pending = [e for e in found if not all(log.seen(_key(s, e)) for s in self.config.notify)]
        if pending:  # only now ask git who requested and approved
            facts = self._facts()
            pending = expiring_events(statuses, now, self.config.expiring_before, grants_folder=self.grants_folder,
                                      targets=self.config.targets, facts=facts)
        return self._deliver(pending, now, log=(log, warning))

    def _facts(self) -> Mapping[str, GitFacts]:
        """What git says of the grant files; nothing when it cannot say (events then carry less)."""
        try:
            return self.facts(self.config)
        except Exception as e:  # enrichment is optional: it never costs an event, let alone the run
            log.warning("notify: the git history could not be read for the events (%s); sending them without "
                        "requester and approver", type(e).__name__)
            return {}

    def _deliver(self, events: Sequence[Event], now: datetime, cleared: Sequence[str] = (), *,
                 log: tuple[SentLog, str | None] | None = None) -> Report:
        sent_log, warning = log or SentLog.load(self.state_path)
        changed = False
        for prefix in cleared:
            for sink in self.config.notify:
                changed = sent_log.forget(_key_prefix(sink) + prefix) or changed
        report = self.sender.send(events, lambda sink, event: sent_log.seen(_key(sink, event)))
        for sink, event in report.delivered:
            sent_log.add(_key(sink, event), now)
        warnings: tuple[str, ...] = (warning,) if warning else ()
        if report.delivered or changed or warning:
            try:
                sent_log.save(now)
            except OSError as e:
                warnings += (f"cannot write {self.state_path.name} ({e.strerror}): the events just sent may be "
                             "sent again",)
        return Report(report.delivered, report.failed, warnings + report.warnings)


def _key_prefix(sink: Sink) -> str:
    return f"{sink.kind}:{sink.url_env}@"


def _key(sink: Sink, event: Event) -> str:
    return _key_prefix(sink) + event.key
