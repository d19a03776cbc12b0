"""After an apply: the review issue of each active break-glass grant (`reconciler.github.breakglass`)."""

from __future__ import annotations

from datetime import datetime

import click

from reconciler.cli.app import App
from reconciler.cli.output import report_error
from reconciler.core.grants import State
from reconciler.errors import TailjitError
from reconciler.repo.workspace import Workspace


def open_break_glass_reviews(app: App, ws: Workspace, now: datetime) -> None:
    """After an apply: open the review issue of each active break-glass grant that has none.

    Never fails the apply: without a token, or when GitHub does not answer, it warns, and the next
    apply tries again (the policy is written before this runs, so nothing waits on GitHub).
    """
    active = [s for s in ws.statuses(now) if s.grant.break_glass and s.state is State.ACTIVE]
    if not active:
        return
    from reconciler.github import breakglass  # the GitHub client: only when there is a review to open

    try:
        gh = breakglass.client(app.env, purpose="open break-glass review issues")
        try:
            opened = breakglass.open_review_issues(gh, active, ws.config)
        finally:
            gh.close()
    except TailjitError as e:
        report_error(e, level="warning")
        report_error(f"the review issue of {len(active)} active break-glass grant(s) may be missing; "
                     "the next apply tries again", level="warning")
        return
    for name, issue in opened:
        click.echo(f"Opened break-glass review issue #{issue.number} for {name}: {issue.url}")
