"""The ``tailjit`` command line. Wiring only: the one place that prints results and picks exit codes.

Exit codes: 0 ok, 1 a reported error (bad file, refused write, drift …),
2 a usage error (and ``plan --detailed-exitcode`` with changes), 3 an
unexpected error (a bug: the traceback goes to a log file), 130 interrupted.
"""

from __future__ import annotations

import gc
import json
import logging
import os
import sys
import tempfile
import threading
import traceback
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import click

from reconciler import __version__
from reconciler.backends import open_backend
from reconciler.backends.base import Backend
from reconciler.cli.doctor import doctor
from reconciler.cli.git import audit_command, codeowners_command, prune_command, request_command
from reconciler.cli.options import AT_OPTION
from reconciler.core.durations import format_duration, format_time, parse_duration
from reconciler.core.plan import make_plan
from reconciler.core.policycheck import check_policy
from reconciler.errors import GitError, GrantError, TailjitError
from reconciler.git.history import merge_times, open_repository
from reconciler.git.remote import fast_forward
from reconciler.github import actions
from reconciler.github.api import post_plan_comment
from reconciler.reconcile import reconcile
from reconciler.repo.config import DEFAULT_CONFIG
from reconciler.repo.workspace import Workspace, open_workspace
from reconciler.text.comment import plan_comment
from reconciler.text.report import STATUS_COLUMNS, format_plan, format_table, status_rows
from reconciler.watch import (
    DEFAULT_INTERVAL,
    LOCK_NAME,
    MIN_INTERVAL,
    Cycle,
    Watcher,
    describe_wake,
    state_dir,
    stop_on_signals,
    write_lock,
)

#: The cyclic garbage collector's first-generation threshold while a command runs (the default is 700).
#: A 1 MiB policy parses into about a million small objects, none of them in a cycle, so reference
#: counting frees them all; at the default the collector keeps re-scanning the growing heap, a third of
#: the time of a reconcile with 10,000 grants. Restored when the command returns.
GC_THRESHOLD = 50_000


@dataclass
class App:
    """What the global options chose; commands ask it for the workspace and the backend."""

    config_path: Path
    backend_spec: str | None

    def workspace(self) -> Workspace:
        return open_workspace(self.config_path, merge_times)

    def backend(self, ws: Workspace) -> Backend:
        return open_backend(self.backend_spec or ws.config.backend, ws.config)


def _now(at: datetime | None) -> datetime:
    return at if at is not None else datetime.now(UTC)


def _interval_option(ctx: click.Context, param: click.Parameter, value: str | None) -> timedelta | None:
    if value is None:
        return None
    try:
        interval = parse_duration(value)
    except ValueError as e:
        raise click.BadParameter(str(e)) from None
    if interval < MIN_INTERVAL:
        raise click.BadParameter("must be at least 1s")
    return interval


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option("--config", "config_path", type=click.Path(path_type=Path), default=DEFAULT_CONFIG,
              show_default=True, help="The access repository's tailjit.yaml; its parent's parent is the root.")
@click.option("--backend", "backend_spec", metavar="SPEC", default=None,
              help="Where the live policy is: 'tailscale' (the API) or 'file:PATH' (a local file standing "
                   "in for the tailnet). Overrides the config's 'backend'.")
@click.version_option(__version__, prog_name="tailjit")
@click.pass_context
def cli(ctx: click.Context, config_path: Path, backend_spec: str | None) -> None:
    """Just-in-time access to a Tailscale tailnet, as GitOps.

    Grant files under policy/grants/<target>/ add a user to a target's group
    until they expire. tailjit renders the policy file from the base policy
    plus the grants active now, and reconciles the tailnet to it.

    \b
    Typical use:
      tailjit validate            check config, base policy and grant files
      tailjit plan                show what would change in the tailnet
      tailjit apply               make the change (If-Match protected)
      tailjit status              who has access now, and for how long
    """
    ctx.obj = App(config_path, backend_spec)


@cli.command()
@AT_OPTION
@click.pass_obj
def validate(app: App, at: datetime | None) -> int:
    """Check tailjit.yaml, the base policy and every grant file.

    Every problem is printed as path:line: message (and as a GitHub annotation
    inside Actions). Exits 1 when there is any: use it as the pull-request check.
    """
    now = _now(at)
    ws = app.workspace()
    problems = ws.problems(now)
    rendered = ws.render(now)
    rendered_errors = check_policy(rendered)
    for error in problems:
        _report_grant_error(error, "error")
    for message in rendered_errors:
        click.echo(f"{ws.base_path}: the rendered policy is invalid: {message}", err=True)
        actions.annotate("error", message, path=ws.base_path)
    if problems or rendered_errors:
        click.echo(f"{len(problems) + len(rendered_errors)} problem(s) found.", err=True)
        return 1
    click.echo(f"OK: {len(ws.config.targets)} target(s), {len(ws.loaded.grants)} grant file(s), "
               f"base policy {ws.base_path}.")
    return 0


@cli.command()
@AT_OPTION
@click.pass_obj
def render(app: App, at: datetime | None) -> int:
    """Print the desired policy: the base policy plus the grants active now."""
    now = _now(at)
    ws = app.workspace()
    _warn_problems(ws, now)
    sys.stdout.buffer.write(ws.render(now))
    sys.stdout.flush()
    return 0


@cli.command()
@AT_OPTION
@click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON (with an RFC 6902 patch).")
@click.option("--detailed-exitcode", is_flag=True,
              help="Exit 2 when there are changes, 0 when there are none (as terraform plan does).")
@click.option("--pr", "pr", type=click.IntRange(min=1), default=None, metavar="NUMBER",
              help="Also post the plan as the sticky comment on this pull request (created once, then "
                   "updated), with GITHUB_TOKEN, GITHUB_REPOSITORY and GITHUB_API_URL from the environment.")
@click.pass_obj
def plan(app: App, at: datetime | None, as_json: bool, detailed_exitcode: bool, pr: int | None) -> int:
    """Show what apply would change in the tailnet: grants, revocations, drift, other edits. Writes nothing."""
    now = _now(at)
    ws = app.workspace()
    problems = _warn_problems(ws, now)
    backend = app.backend(ws)
    try:
        live = backend.get()
    finally:
        backend.close()
    the_plan = make_plan(live.text, ws.render(now), ws.config.targets)
    if as_json:
        click.echo(json.dumps({"at": format_time(now), "backend": backend.name, **the_plan.data}, indent=2))
    else:
        click.echo(format_plan(the_plan, backend.name, now), nl=False)
    if pr is None and not actions.in_actions():
        return 2 if detailed_exitcode and the_plan.has_changes else 0
    markdown = plan_comment(the_plan.data, ws.statuses(now), ws.config.targets, where=backend.name, at=now,
                            problems=problems, commit=actions.event_head_sha())
    actions.summary_markdown(markdown)
    if pr is not None:
        posted = post_plan_comment(pr, markdown)
        click.echo(f"Plan comment {posted.action} on pull request #{pr}: {posted.url}", err=True)
    return 2 if detailed_exitcode and the_plan.has_changes else 0


@cli.command()
@AT_OPTION
@click.option("--force", is_flag=True,
              help="Overwrite drift with the rendered policy (the replaced text is saved under "
                   ".tailjit/backups/) and skip the safety limits.")
@click.option("--dry-run", is_flag=True, help="Plan and validate with the tailnet, but do not write.")
@click.option("--watch", is_flag=True,
              help="Keep running: apply, then apply again at the next grant start or expiry or after "
                   "--interval, whichever is sooner. Stops cleanly on SIGTERM or Ctrl-C.")
@click.option("--interval", default=None, metavar="DURATION", callback=_interval_option,
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
    """
    if (interval is not None or pull) and not watch:
        raise click.UsageError("--interval and --pull go with --watch")
    if watch and (at is not None or force):
        raise click.UsageError("--watch applies at the current time and never with --force: drop --at/--force")
    if watch:
        return _watch(app, interval or DEFAULT_INTERVAL, pull=pull, dry_run=dry_run)
    now = _now(at)
    ws = app.workspace()
    problems = _warn_problems(ws, now)
    backend = app.backend(ws)
    try:
        with write_lock(state_dir(ws.config.root) / LOCK_NAME):
            outcome = reconcile(backend, ws.render(now), ws.config.targets, ws.config.safety,
                                force=force, dry_run=dry_run, backup=lambda text: _backup(ws, text))
    finally:
        backend.close()
    report = format_plan(outcome.plan, backend.name, now)
    click.echo(report, nl=False)
    actions.summary(report)
    for warning in outcome.validation.warnings if outcome.validation else ():
        click.echo(f"warning from {backend.name}: {warning}", err=True)
    if outcome.backup is not None:
        click.echo(f"Saved the replaced live policy to {ws.config.relative(outcome.backup)}.")
    if outcome.written:
        click.echo(f"Applied to {backend.name}.")
    elif dry_run and outcome.plan.has_changes:
        click.echo("Dry run: the tailnet accepted the policy; nothing was written.")
    exit_code = 0
    if outcome.plan.drift:
        click.echo("error: the live policy has edits made outside git (shown above); they were kept. "
                   "Put them into the base policy, or run apply --force to overwrite them.", err=True)
        exit_code = 1
    if problems:
        click.echo(f"error: {len(problems)} grant file(s) are invalid and granted nothing (see above).", err=True)
        exit_code = 1
    return exit_code


@cli.command()
@AT_OPTION
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
@click.pass_obj
def status(app: App, at: datetime | None, as_json: bool) -> int:
    """List grants: active, pending, expired (and invalid), with the time left."""
    now = _now(at)
    ws = app.workspace()
    for error in ws.errors:
        _report_grant_error(error, "warning")
    rows = status_rows(ws.statuses(now), now)
    if as_json:
        click.echo(json.dumps({"at": format_time(now), "grants": rows}, indent=2))
    elif rows:
        click.echo(format_table(rows, STATUS_COLUMNS), nl=False)
    else:
        click.echo("No grant files.")
    return 0


def _warn_problems(ws: Workspace, now: datetime) -> list[GrantError]:
    problems = ws.problems(now)
    for error in problems:
        _report_grant_error(error, "warning")
    return problems


def _report_grant_error(error: GrantError, level: str) -> None:
    click.echo(f"{error}" + (f" ({error.hint})" if error.hint else ""), err=True)
    actions.annotate(level, error.message, path=error.path, line=error.line)


def _watch(app: App, interval: timedelta, *, pull: bool, dry_run: bool) -> int:
    """``apply --watch``: configuration and credential errors stop it at once; later ones are retried."""
    ws = app.workspace()
    backend = app.backend(ws)
    root = ws.config.root
    repo = open_repository(root) if pull else None
    if pull and repo is None:
        raise GitError(f"--pull needs a git clone, and {root} is not in one",
                       hint="clone the access repository and run tailjit there")

    def fetch() -> str | None:
        assert repo is not None
        tip = fast_forward(repo)
        return None if tip is None else f"fast-forwarded {repo.head.shorthand} to {str(tip)[:12]}"

    watcher = Watcher(app.workspace, backend, lock_path=state_dir(root) / LOCK_NAME, interval=interval,
                      pull=fetch if pull else None, dry_run=dry_run)
    stop = threading.Event()
    restore = stop_on_signals(stop)
    click.echo(f"Watching {root} for {backend.name}: applying now, at each grant start and expiry, and at "
               f"least every {format_duration(interval)}. Stop with SIGTERM or Ctrl-C.")
    try:
        watcher.run(stop, _report_cycle)
    finally:
        restore()
        backend.close()
    click.echo("Stopped.")
    return 0


def _report_cycle(cycle: Cycle) -> None:
    stamp = format_time(cycle.at)
    if cycle.pulled:
        click.echo(f"[{stamp}] {cycle.pulled}")
    for error in cycle.errors:
        click.echo(f"[{stamp}] error: {error}" + (f" (hint: {error.hint})" if error.hint else ""), err=True)
    if cycle.problems_changed:
        for problem in cycle.problems:
            click.echo(f"[{stamp}] warning: {problem}", err=True)
    outcome = cycle.outcome
    if outcome is not None and outcome.plan.has_changes:
        click.echo(f"[{stamp}] " + format_plan(outcome.plan, "the tailnet", cycle.at), nl=False)
        click.echo(f"[{stamp}] " + ("Applied." if outcome.written else "Dry run: nothing was written."))
    if outcome is not None and cycle.drift_changed and outcome.plan.drift:
        click.echo(f"[{stamp}] error: the live policy has edits made outside git; they were kept (see the plan "
                   "above). Put them into the base policy, or run tailjit apply --force once.", err=True)
    if cycle.errors or cycle.problems_changed or (outcome is not None and outcome.plan.has_changes):
        click.echo(f"[{stamp}] {describe_wake(cycle)}")


def _backup(ws: Workspace, text: bytes) -> Path:
    folder = state_dir(ws.config.root) / "backups"
    folder.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    path = folder / f"live-{stamp}.hujson"
    path.write_bytes(text)
    return path


cli.add_command(doctor)
cli.add_command(request_command)
cli.add_command(prune_command)
cli.add_command(audit_command)
cli.add_command(codeowners_command)


class _StderrNotes(logging.Handler):
    """Prints tailjit's log warnings (retries, waits) as ``warning: …`` lines on stderr."""

    def emit(self, record: logging.LogRecord) -> None:
        click.echo(f"{record.levelname.lower()}: {self.format(record)}", err=True)


def _setup_logging() -> None:
    logger = logging.getLogger("reconciler")
    if not any(isinstance(h, _StderrNotes) for h in logger.handlers):
        logger.addHandler(_StderrNotes(logging.WARNING))
        logger.propagate = False


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; map every outcome to an exit code (see the module docstring)."""
    _setup_logging()
    previous = gc.get_threshold()
    gc.set_threshold(GC_THRESHOLD, *previous[1:])
    try:
        return _main(argv)
    finally:
        gc.set_threshold(*previous)


def _main(argv: Sequence[str] | None) -> int:
    try:
        result = cli.main(args=list(argv) if argv is not None else None, prog_name="tailjit",
                          standalone_mode=False)
    except click.exceptions.Exit as e:
        return int(e.exit_code)
    except click.ClickException as e:
        e.show()
        return 2 if isinstance(e, click.UsageError) else 1
    except (click.Abort, KeyboardInterrupt):
        click.echo("Interrupted.", err=True)
        return 130
    except TailjitError as e:
        click.echo(f"error: {e}", err=True)
        if e.hint:
            click.echo(f"hint: {e.hint}", err=True)
        return 1
    except Exception:
        log = Path(tempfile.gettempdir()) / f"tailjit-crash-{os.getpid()}.log"
        log.write_text(traceback.format_exc())
        click.echo(f"error: unexpected internal error; the details are in {log}. Please report it.", err=True)
        return 3
    return result if isinstance(result, int) else 0

