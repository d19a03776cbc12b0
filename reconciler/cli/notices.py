"""Notifications from the command line: the `Notifier` of a workspace, and how its outcome is shown.

A delivery problem is a ``warning: notify: …`` line and never changes the exit code.
"""

from __future__ import annotations

import click

from reconciler.cli.app import App
from reconciler.notify.notifier import Notifier
from reconciler.notify.sinks import Report
from reconciler.repo.workspace import Workspace
from reconciler.watch import Cycle, state_dir


def notifier_for(app: App, ws: Workspace) -> Notifier | None:
    """The workspace's notifier, or None when ``notify`` is not configured."""
    if not ws.config.notify:
        return None
    return Notifier(ws.config, app.env, state_dir(ws.config.root))


def show(report: Report, prefix: str = "") -> None:
    for warning in report.warnings:
        click.echo(f"{prefix}warning: notify: {warning}", err=True)
    if report.delivered:
        kinds = sorted({event.event for _, event in report.delivered})
        click.echo(f"{prefix}Sent {len(report.delivered)} notification(s): {', '.join(kinds)}.")


def after_cycle(notifier: Notifier, cycle: Cycle, prefix: str = "") -> None:
    """``apply --watch``: the events of one cycle, then any ``expiring`` notices that are due."""
    outcome = cycle.outcome
    if outcome is None and cycle.errors:
        show(notifier.failed([str(e) for e in cycle.errors], cycle.at), prefix)
    elif outcome is not None:
        show(notifier.applied(outcome.plan, outcome.written, cycle.statuses, cycle.at), prefix)
    if cycle.statuses:
        show(notifier.expiring(cycle.statuses, cycle.at), prefix)
