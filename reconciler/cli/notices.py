"""Notifications from the command line: the `Notifier` of a workspace, and how its outcome is shown.

A delivery problem is a ``warning: notify: …`` line and never changes the exit code.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import click

from reconciler.cli.app import App
from reconciler.core.config import Config
from reconciler.watch import state_dir

if TYPE_CHECKING:
    from reconciler.notify.notifier import Notifier
    from reconciler.notify.sinks import Report
    from reconciler.watch import Cycle


def notifier_for(app: App, config: Config | None) -> Notifier | None:
    """The notifier of the repository configured by ``config``, or None when ``notify`` is not configured."""
    if config is None or not config.notify:
        return None
    from reconciler.notify.notifier import Notifier  # the sinks and git facts: only when there are sinks

    return Notifier(config, app.env, state_dir(config.root))


def show(send: Callable[[], Report], prefix: str = "") -> None:
    """Send (``send`` is a notifier call) and print the outcome. Nothing here changes the exit code: even an
    unexpected error is one warning line (its type only: a message could hold what must not be shown)."""
    try:
        report = send()
    except Exception as e:
        click.echo(f"{prefix}warning: notify: internal error ({type(e).__name__}); notifications of this run "
                   "were not sent", err=True)
        return
    for warning in report.warnings:
        click.echo(f"{prefix}warning: notify: {warning}", err=True)
    if report.delivered:
        kinds = sorted({event.event for _, event in report.delivered})
        click.echo(f"{prefix}Sent {len(report.delivered)} notification(s): {', '.join(kinds)}.")


def after_cycle(notifier: Notifier, cycle: Cycle, prefix: str = "") -> None:
    """``apply --watch``: the events of one cycle, then any ``expiring`` notices that are due."""
    outcome, fallen, at = cycle.outcome, cycle.fallback, cycle.at
    if cycle.fallback_reasons:
        revocations = fallen.plan.revocations if fallen is not None else ()
        written = fallen is not None and fallen.written
        show(lambda: notifier.fell_back(cycle.fallback_reasons, revocations, written, cycle.statuses, at), prefix)
        if fallen is None and cycle.errors:
            show(lambda: notifier.failed([str(e) for e in cycle.errors], at), prefix)
    elif outcome is None and cycle.errors:
        show(lambda: notifier.failed([str(e) for e in cycle.errors], at), prefix)
    elif outcome is not None:
        show(lambda: notifier.applied(outcome.plan, outcome.written, cycle.statuses, at), prefix)
    if cycle.statuses:
        show(lambda: notifier.expiring(cycle.statuses, at), prefix)
