"""``apply`` when the full reconcile cannot run: revoke-only, from the live policy alone.

Anything that stops the full reconcile (a broken config, base policy, grant
file or render; the tailnet refusing the desired policy; a plan over the
safety limits; a checkout that is not the reviewed state; an unexpected
error) lands here. What can still be read is used: the config's backend and
tailnet (read leniently when the file as a whole is refused), the grant
file names (so that a member whose file is gone goes too). Then expired
access is removed with `revoke_only`, loudly, and the run exits 1.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import click

from reconciler.backends import open_backend
from reconciler.backends.base import Backend
from reconciler.cli import notices
from reconciler.cli.app import App
from reconciler.cli.output import report_error
from reconciler.core.config import Config
from reconciler.core.durations import format_time
from reconciler.core.posture import LockResult
from reconciler.errors import ConfigError, TailjitError
from reconciler.github import actions
from reconciler.posture import unmark_revoked
from reconciler.reconcile import RevokeOutcome, revoke_only
from reconciler.repo.config import load_config
from reconciler.repo.connection import load_connection
from reconciler.repo.grants import grant_names
from reconciler.text.report import format_lock

__all__ = ["describe_failure", "format_revocations", "root", "run", "setup"]
from reconciler.watch import LOCK_NAME, describe_failure, state_dir, write_lock


@dataclass(frozen=True)
class Setup:
    """What the fallback could still read: the backend, and the config and grant file names when readable."""

    backend: Backend
    config: Config | None
    existing: Collection[str] | None


def setup(app: App) -> Setup:
    """The backend from the config (or, when it cannot be loaded, from what can be read of it, the environment
    and ``--backend``). Raises when even that is impossible (no credential, say): then nothing can be done."""
    try:
        path: Path | None = app.config_path
    except ConfigError:
        path = None
    config: Config | None = None
    if path is not None:
        try:
            config = load_config(path)
        except Exception:  # whatever is wrong with it, the fallback reads what it can
            config = None
    connection = config if config is not None else load_connection(path)
    backend = open_backend(app.backend_spec or connection.backend, connection)
    existing = None if config is None else grant_names(config)
    return Setup(backend, config, existing)


def run(app: App, now: datetime, reasons: Sequence[str], *, dry_run: bool = False) -> int:
    """Revoke expired access from the live policy, report why the full reconcile did not run; exit code 1."""
    for reason in reasons:
        report_error(f"the full reconcile cannot run: {reason}")
        actions.annotate("error", f"revoke-only: {reason}")
    click.echo("error: falling back to revoke-only: expired access is removed from the live policy, "
               "nothing is granted.", err=True)
    found = setup(app)
    notifier = None if dry_run else notices.notifier_for(app, found.config)
    where = found.config.root if found.config is not None else root(app)
    marked = LockResult()
    try:
        with write_lock(state_dir(where) / LOCK_NAME):
            outcome = revoke_only(found.backend, now, existing=found.existing, dry_run=dry_run)
            if outcome.written or dry_run:  # the members are gone: now their posture attributes (lock: posture)
                marked = unmark_revoked(found.backend, None if found.config is None else found.config.targets,
                                        [(r.user, r.note.grant) for r in outcome.plan.revocations], dry_run=dry_run)
    except TailjitError as e:
        report_error(e)
        if notifier is not None:
            problems = [*reasons, str(e)]
            notices.show(lambda: notifier.failed(problems, now))
        return 1
    finally:
        found.backend.close()
    report = format_revocations(outcome, found.backend.name, now) + format_lock(marked, dry_run=dry_run)
    click.echo(report, nl=False)
    for error in marked.errors:  # the members are out: a left-over attribute grants nothing, and expires
        report_error(error, level="warning")
    actions.summary(report)
    if found.existing is None:
        click.echo("warning: the grant files could not be listed: only expired notes were revoked (a member "
                   "whose grant file was deleted keeps access until its note's time).", err=True)
    if notifier is not None:
        notices.show(lambda: notifier.fell_back(reasons, outcome.plan.revocations, outcome.written, (), now))
    return 1


def format_revocations(outcome: RevokeOutcome, where: str, now: datetime) -> str:
    plan = outcome.plan
    lines = [f"Revoke-only plan for {where} at {format_time(now)}:"]
    lines += [f"  {r.describe(now)}" for r in plan.revocations] or ["  no expired access in the live policy"]
    lines += [f"  warning: {u.describe()}" for u in plan.unreadable]
    if outcome.dropped_tests:
        lines.append("  error: the tailnet refused the revocation because these policy tests need the access "
                     "that ended; they were removed from the live policy. Change them in the base policy to "
                     "test a permanent member:")
        lines += [f"    {t}" for t in outcome.dropped_tests]
    if outcome.written:
        lines.append(f"Revoked {len(plan.revocations)} member(s) in {where}; nothing was granted.")
    elif plan.has_changes:
        lines.append("Dry run: the tailnet accepted the revocations; nothing was written.")
    return "\n".join(lines) + "\n"


def root(app: App) -> Path:
    try:
        return app.config_path.resolve().parent.parent
    except ConfigError:
        return Path.cwd()
