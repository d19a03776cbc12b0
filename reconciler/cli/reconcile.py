"""The reconcile commands: ``validate``, ``render``, ``plan``, ``apply`` (and ``apply --watch``), ``status``.

Wiring only: the work is done in `reconciler.core`, `reconciler.reconcile` and
`reconciler.watch`; this module prints results and picks exit codes.
"""

from __future__ import annotations

import json
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import click

from reconciler.cli import fallback, notices, terminal
from reconciler.cli.app import App
from reconciler.cli.breakglass import open_break_glass_reviews
from reconciler.cli.options import AT_OPTION, PositiveInt, interval_option
from reconciler.cli.output import report_error, report_grant_error
from reconciler.cli.tailnet_notes import KeyWatch, key_notes, show_notes, user_notes
from reconciler.core.durations import format_duration, format_time
from reconciler.core.grants import awaits_merge
from reconciler.core.plan import Plan, make_plan
from reconciler.core.policy import canonical_policy
from reconciler.core.posture import LockResult
from reconciler.errors import GitError, GrantError, RefusedPolicy, TailjitError, UnsafePlan
from reconciler.git.history import open_repository
from reconciler.git.reviewed import unreviewed_reason
from reconciler.github import actions
from reconciler.posture import Marking, open_lock
from reconciler.reconcile import reconcile
from reconciler.repo.workspace import Moment, Workspace
from reconciler.text.comment import plan_comment
from reconciler.text.report import (
    STATUS_COLUMNS,
    format_lock,
    format_plan,
    format_table,
    problem_rows,
    status_rows,
)
from reconciler.watch import (
    DEFAULT_INTERVAL,
    LOCK_NAME,
    Cycle,
    Watcher,
    describe_wake,
    state_dir,
    stop_on_signals,
    write_lock,
)


@click.command()
@AT_OPTION
@click.pass_obj
def render(app: App, at: datetime | None) -> int:
    """Print the desired policy: the base policy plus the grants active now, as apply writes it (canonical).

    \b
    Example:
      tailjit render > desired.hujson
    """
    now = app.now(at)
    moment = app.workspace().at(now)
    _warn_problems(moment)
    sys.stdout.buffer.write(canonical_policy(moment.rendered).text)
    sys.stdout.flush()
    return 0


@click.command()
@AT_OPTION
@click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON (with an RFC 6902 patch).")
@click.option("--detailed-exitcode", is_flag=True,
              help="Exit 2 when there are changes, 0 when there are none (as terraform plan does).")
@click.option("--pr", "pr", type=PositiveInt(), default=None, metavar="NUMBER",
              help="Also post the plan as the sticky comment on this pull request (created once, then "
                   "updated), with GITHUB_TOKEN, GITHUB_REPOSITORY and GITHUB_API_URL from the environment.")
@click.pass_obj
def plan(app: App, at: datetime | None, as_json: bool, detailed_exitcode: bool, pr: int | None) -> int:
    """Show what apply would change in the tailnet: grants, revocations, drift, other edits. Writes nothing.

    \b
    Examples:
      tailjit plan
      tailjit plan --detailed-exitcode --pr 42
    """
    now = app.now(at)
    ws = app.workspace()
    moment = ws.at(now)
    problems = _warn_problems(moment)
    backend = app.backend(ws, write=False)
    lock = open_lock(backend, ws.config.targets)
    try:
        live = backend.get()
        the_plan = make_plan(live.text, moment.rendered, ws.config.targets)
        marked = LockResult() if lock is None else lock.preview(the_plan, moment.statuses)
        warnings = key_notes(backend, ws.config, now)
        checked = user_notes(backend, moment.statuses)
    finally:
        backend.close()
    warnings += checked.problems
    data = {**the_plan.data, "attribute_changes": [c.data for c in marked.changes]} if lock else the_plan.data
    data = {**data, "warnings": warnings}
    if as_json:
        click.echo(json.dumps({"at": format_time(now), "backend": backend.name, **data}, indent=2))
    else:
        click.echo(terminal.plan_text(format_plan(the_plan, backend.name, now) + format_lock(marked, dry_run=True)),
                   nl=False)
    for error in marked.errors:  # a plan is still shown: the attributes are apply's to change
        report_error(error, level="warning")
    if marked.errors:
        report_error("the posture attribute changes above may be incomplete; the pull-request credential "
                     "needs devices:core:read and the posture attributes' read scope to show them", level="warning")
    show_notes(warnings, checked.note)
    changes = the_plan.has_changes or bool(marked.changes)
    if pr is None and not actions.in_actions():
        return 2 if detailed_exitcode and changes else 0
    markdown = plan_comment(data, moment.statuses, ws.config.targets, where=backend.name, at=now,
                            problems=[p for p in problems if not awaits_merge(p.message)],
                            commit=actions.event_head_sha(), warnings=warnings)
    actions.summary_markdown(markdown)
    if pr is not None:
        from reconciler.github.api import post_plan_comment  # the GitHub client: only with --pr

        posted = post_plan_comment(pr, markdown)
        click.echo(f"Plan comment {posted.action} on pull request #{pr}: {posted.url}", err=True)
    return 2 if detailed_exitcode and changes else 0


@click.command()
@AT_OPTION
@click.option("--force", is_flag=True,
              help="Overwrite drift with the rendered policy (the replaced text is saved under "
                   ".tailjit/backups/) and skip the safety limits.")
@click.option("--dry-run", is_flag=True, help="Plan and validate with the tailnet, but do not write.")
@click.option("--watch", is_flag=True,
              help="Keep running: apply, then apply again at the next grant start or expiry or after "
                   "--interval, whichever is sooner. Stops cleanly on SIGTERM or Ctrl-C.")
@click.option("--interval", default=None, metavar="DURATION", callback=interval_option,
              help="With --watch: the longest wait between two applies (default 60s, at least 1s).")
@click.option("--pull", is_flag=True,
              help="With --watch: fetch origin and fast-forward the checked-out branch before each apply.")
@click.pass_obj
def apply(app: App, at: datetime | None, force: bool, dry_run: bool, watch: bool, interval: timedelta | None,
          pull: bool) -> int:
    """Make the tailnet match the repository: grant what is active, revoke what is not.

    The write carries If-Match with the version the plan was made against; if
    somebody wrote in between, tailjit reads again and re-plans. Invalid grant
    files are reported and grant nothing, but never stop revocation; the run
    then exits 1 so that it shows red.

    \b
    Examples:
      tailjit apply --dry-run
      tailjit apply --watch --pull --interval 5m
    """
    if (interval is not None or pull) and not watch:
        raise click.UsageError("--interval and --pull go with --watch")
    if watch and (at is not None or force):
        raise click.UsageError("--watch applies at the current time and never with --force: drop --at/--force")
    if watch:
        return _watch(app, interval or DEFAULT_INTERVAL, pull=pull, dry_run=dry_run)
    now = app.now(at)
    try:
        ws = app.workspace()
        if (missing := ws.missing_grants()) is not None:
            raise missing
        if (unreviewed := _unreviewed(app, ws)) is not None:
            raise GitError(unreviewed)
        moment = ws.at(now)
        rendered = moment.rendered
        problems = _warn_problems(moment)
    except Exception as e:  # nothing may stop the revocation of expired access
        return fallback.run(app, now, [fallback.describe_failure(e)], dry_run=dry_run)
    backend = app.backend(ws)
    notifier = None if dry_run else notices.notifier_for(app, ws.config)
    lock = open_lock(backend, ws.config.targets)
    if lock is None and any(t.posture_locked for t in ws.config.targets.values()):
        click.echo(f"note: {backend.name} has no devices: lock: posture is checked (validate) but no posture "
                   "attribute is set", err=True)
    marking = Marking(lock, moment.statuses, dry_run=dry_run)  # attributes before members join, after they go
    tried: list[Plan] = []
    try:
        with write_lock(state_dir(ws.config.root) / LOCK_NAME):
            outcome = reconcile(backend, rendered, ws.config.targets, ws.config.safety,
                                force=force, dry_run=dry_run, backup=lambda text: _backup(ws, text, app.clock()),
                                on_plan=tried.append, before_write=marking.before_write)
            marked = marking.after(outcome)
        key_warnings = key_notes(backend, ws.config, now)  # after the work: it never delays a revocation
    except (RefusedPolicy, UnsafePlan) as e:
        if tried:  # the plan that was refused, before the revoke-only one
            click.echo(format_plan(tried[-1], backend.name, now), nl=False)
        return fallback.run(app, now, [fallback.describe_failure(e)], dry_run=dry_run)
    except TailjitError as e:
        if tried:  # the plan the failed write (or the refusal) was about, before the error
            click.echo(terminal.plan_text(format_plan(tried[-1], backend.name, now)), nl=False)
        _report_lock(marking.result, dry_run=dry_run)
        if notifier is not None:
            failure = [str(e)]
            notices.show(lambda: notifier.failed(failure, now))
        raise
    except Exception as e:  # a bug in the full reconcile must not keep expired access
        return fallback.run(app, now, [fallback.describe_failure(e)], dry_run=dry_run)
    finally:
        backend.close()
    report = format_plan(outcome.plan, backend.name, now) + format_lock(marked, dry_run=dry_run)
    click.echo(terminal.plan_text(report), nl=False)
    actions.summary(report)
    show_notes(key_warnings, summary=True)
    _report_lock_errors(marked)
    for warning in outcome.validation.warnings if outcome.validation else ():
        click.echo(f"warning from {backend.name}: {warning}", err=True)
    if outcome.backup is not None:
        click.echo(f"Saved the replaced live policy to {ws.config.relative(outcome.backup)}.")
    if outcome.written:
        click.echo(f"Applied to {backend.name}.")
    elif dry_run and outcome.plan.has_changes:
        click.echo("Dry run: the tailnet accepted the policy; nothing was written.")
    if notifier is not None:
        notices.show(lambda: notifier.applied(outcome.plan, outcome.written, ws.statuses(now), now))
    if not dry_run:
        open_break_glass_reviews(app, ws, now)
    exit_code = 0
    if outcome.plan.drift and outcome.plan.unmanaged:
        report_error("the live policy was not written by tailjit and differs from the base policy (shown "
                     "above); only the target groups were changed. Run tailjit import to take it into git, or "
                     "apply --force to replace it.")
        exit_code = 1
    elif outcome.plan.drift:
        report_error("the live policy has edits made outside git (shown above); they were kept. "
                     "Put them into the base policy, or run apply --force to overwrite them.")
        exit_code = 1
    if problems:
        files = len({p.path for p in problems})
        report_error(f"{files} grant file(s) are invalid and granted nothing (see above).")
        exit_code = 1
    if marked.errors:
        exit_code = 1
    return exit_code


@click.command()
@AT_OPTION
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
@click.pass_obj
def status(app: App, at: datetime | None, as_json: bool) -> int:
    """List grant files: active, pending, expired, unknown and invalid, with the time left or the problem.

    One row per file, a file that cannot be read as a grant included (its first
    problem in the table; all of them, with hints, in --json).

    \b
    Examples:
      tailjit status
      tailjit status --json | jq '.grants[] | select(.state == "active")'
    """
    now = app.now(at)
    ws = app.workspace()
    for error in ws.errors:
        report_grant_error(error, "warning")
    rows = sorted([*status_rows(ws.statuses(now), now), *problem_rows(ws.errors, ws.config.relative(
        ws.config.grants_dir))], key=lambda r: (r["state"], r["target"] or "", r["user"] or "", r["file"]))
    if as_json:
        click.echo(json.dumps({"at": format_time(now), "grants": rows}, indent=2))
    elif rows:
        columns = STATUS_COLUMNS if any(r["problem"] for r in rows) else STATUS_COLUMNS[:-1]
        click.echo(format_table(rows, columns, width=terminal.current().width, paint=_paint_state), nl=False)
    else:
        click.echo("No grant files.")
    return 0


def _report_lock(marked: LockResult, *, dry_run: bool) -> None:
    text = format_lock(marked, dry_run=dry_run)
    if text:
        click.echo(text, nl=False)
    _report_lock_errors(marked)


def _report_lock_errors(marked: LockResult, prefix: str = "") -> None:
    for error in marked.errors:
        report_error(error, prefix=prefix)
    if marked.errors:
        click.echo(f"{prefix}error: {len(marked.errors)} posture attribute step(s) failed; access stays closed where "
                   "an attribute is missing, and a left-over attribute expires at its grant's end", err=True)








def _unreviewed(app: App, ws: Workspace) -> str | None:
    """With the ``tailscale`` backend, why the checkout is not the reviewed state to grant from (else None)."""
    if (app.backend_spec or ws.config.backend) != "tailscale":
        return None
    return unreviewed_reason(ws.config.root, ws.config.grants_dir, ws.config.branch)


def _warn_problems(moment: Moment) -> list[GrantError]:
    problems = list(moment.problems)
    for error in problems:
        report_grant_error(error, "warning")
    return problems


def _watch(app: App, interval: timedelta, *, pull: bool, dry_run: bool) -> int:
    """``apply --watch``: configuration and credential errors stop it at once; later ones are retried."""
    try:
        ws: Workspace | None = app.workspace()
    except Exception as e:  # the watcher still revokes; each cycle reports why it cannot grant
        report_error(f"the repository cannot be read ({fallback.describe_failure(e)}); watching anyway: each "
                     "cycle falls back to revoke-only until it can", level="warning")
        ws = None
    found = fallback.setup(app) if ws is None else None
    backend = app.backend(ws) if ws is not None else found.backend if found is not None else None
    assert backend is not None
    root = ws.config.root if ws is not None else fallback.root(app)
    repo = open_repository(root) if pull else None
    if pull and repo is None:
        raise GitError(f"--pull needs a git clone, and {root} is not in one",
                       hint="clone the access repository and run tailjit there")

    def fetch() -> str | None:
        from reconciler.git.remote import fast_forward  # only with --pull

        assert repo is not None
        tip = fast_forward(repo)
        return None if tip is None else f"fast-forwarded {repo.head.shorthand} to {str(tip)[:12]}"

    config = ws.config if ws is not None else found.config if found is not None else None
    notifier = None if dry_run else notices.notifier_for(app, config)
    watcher = Watcher(app.workspace, backend, lock_path=state_dir(root) / LOCK_NAME, interval=interval,
                      pull=fetch if pull else None, dry_run=dry_run, clock=app.clock,
                      unreviewed=lambda loaded: _unreviewed(app, loaded),
                      expiring_before=config.expiring_before if notifier is not None and config else None)

    key_watch = KeyWatch(backend, config) if config is not None else None

    def report(cycle: Cycle) -> None:
        _report_cycle(cycle, dry_run=dry_run)
        for warning in key_watch.due(cycle.at) if key_watch is not None else ():
            click.echo(f"[{format_time(cycle.at)}] warning: {warning}", err=True)
        if notifier is not None:
            notices.after_cycle(notifier, cycle, prefix=f"[{format_time(cycle.at)}] ")

    stop = threading.Event()
    restore = stop_on_signals(stop)
    click.echo(f"Watching {root} for {backend.name}: applying now, at each grant start and expiry, and at "
               f"least every {format_duration(interval)}. Stop with SIGTERM or Ctrl-C.")
    try:
        watcher.run(stop, report)
    finally:
        restore()
        backend.close()
    click.echo("Stopped.")
    return 0


def _report_cycle(cycle: Cycle, *, dry_run: bool = False) -> None:
    stamp = format_time(cycle.at)
    if cycle.pulled:
        click.echo(f"[{stamp}] {cycle.pulled}")
    for error in cycle.errors:
        report_error(error, prefix=f"[{stamp}] ")
    if cycle.problems_changed:
        for problem in cycle.problems:
            click.echo(f"[{stamp}] warning: {problem}", err=True)
    for reason in cycle.fallback_reasons:
        report_error(f"the full reconcile cannot run: {reason}", prefix=f"[{stamp}] ")
    if cycle.fallback is not None and (cycle.fallback.plan.has_changes or cycle.fallback.plan.unreadable):
        click.echo(f"[{stamp}] " + fallback.format_revocations(cycle.fallback, "the tailnet", cycle.at), nl=False)
    outcome = cycle.outcome
    if outcome is not None and outcome.plan.has_changes:
        click.echo(f"[{stamp}] " + terminal.plan_text(format_plan(outcome.plan, "the tailnet", cycle.at)), nl=False)
        click.echo(f"[{stamp}] " + ("Applied." if outcome.written else "Dry run: nothing was written."))
    for line in format_lock(cycle.lock, dry_run=dry_run).splitlines():
        if line:
            click.echo(f"[{stamp}] {line}")
    _report_lock_errors(cycle.lock, prefix=f"[{stamp}] ")
    if outcome is not None and cycle.drift_changed and outcome.plan.drift:
        click.echo(f"[{stamp}] error: the live policy has edits made outside git; they were kept (see the plan "
                   "above). Put them into the base policy, or run tailjit apply --force once.", err=True)
    if (cycle.errors or cycle.problems_changed or cycle.fallback_reasons
            or (outcome is not None and outcome.plan.has_changes) or cycle.lock.changes or cycle.lock.errors):
        click.echo(f"[{stamp}] {describe_wake(cycle)}")


def _backup(ws: Workspace, text: bytes, now: datetime) -> Path:
    """Save the live text ``apply --force`` replaces; a failure stops the write (nothing is lost unsaved)."""
    folder = state_dir(ws.config.root) / "backups"
    stamp = now.astimezone(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    path = folder / f"live-{stamp}.hujson"
    try:
        folder.mkdir(exist_ok=True)
        path.write_bytes(text)
    except OSError as e:
        raise TailjitError(f"cannot save the live policy to {path} before overwriting it: {e.strerror}",
                           hint="free space or fix the permissions of .tailjit/, then run apply --force again; "
                                "nothing was written") from None
    return path




def _paint_state(key: str, cell: str) -> str:
    return terminal.state(cell.rstrip()) + cell[len(cell.rstrip()):] if key == "state" else cell
