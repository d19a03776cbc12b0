"""``tailjit validate``: the pull-request check of the config, the base policy and every grant file.

Wiring only: the checks are `reconciler.repo` (files), `reconciler.core` (policy, posture lock, request
rules) and `reconciler.git.merged` (what a pull request changes, what is merged); this prints and exits.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import click

from reconciler.cli import terminal
from reconciler.cli.adopt import warn_if_not_canonical
from reconciler.cli.app import App
from reconciler.cli.options import AT_OPTION
from reconciler.cli.output import report_error, report_grant_error
from reconciler.core.grants import GrantStatus, State, awaits_merge, new_grant_problems
from reconciler.core.lockcheck import Level, check_lock
from reconciler.core.policy import Policy, parse_policy, split_header
from reconciler.core.policycheck import check_policy, temporary_access_warnings
from reconciler.errors import GrantError
from reconciler.git import merged
from reconciler.github import actions
from reconciler.repo.workspace import Workspace


@click.command()
@AT_OPTION
@click.option("--changed-since", "changed_since", metavar="REF", default=None,
              help="Hold the grant files added or changed since REF (the pull request's base, e.g. origin/main) "
                   "to the rules of a new request: not over already, not starting in the past; the targets' "
                   "requesters and reason_pattern then apply to those files only.")
@click.pass_obj
def validate(app: App, at: datetime | None, changed_since: str | None) -> int:
    """Check tailjit.yaml, the base policy and every grant file.

    Every problem is printed as path:line: message (and as a GitHub annotation
    inside Actions). Exits 1 when there is any: use it as the pull-request check.
    A duration grant that is not merged yet is fine: it starts when merged.

    \b
    Examples:
      tailjit validate
      tailjit validate --changed-since origin/main
    """
    now = app.now(at)
    ws = app.workspace()
    moment = ws.at(now)
    changed = set() if changed_since is None else merged.changed_since(
        ws.config.root, changed_since, [g.path for g in ws.loaded.grants])
    problems = [*_validate_grants(moment.statuses, ws, changed, now),
                *ws.request_problems(None if changed_since is None else changed)]
    rendered_errors = check_policy(moment.rendered.data)
    groups = [t.group for t in ws.config.targets.values()]
    temporary = {g.user for g in ws.loaded.grants}
    for warning in temporary_access_warnings(Policy(split_header(ws.base)[1]).data, groups, temporary):
        click.echo(f"{ws.base_path}: warning: {warning}", err=True)
        actions.annotate("warning", warning, path=ws.base_path)
    missing = ws.missing_grants()
    if missing is not None:
        report_error(missing)
        actions.annotate("error", missing.message, path=missing.path)
    for error in problems:
        report_grant_error(error, "error")
    warn_if_not_canonical(ws.base, ws.base_path)
    for message in rendered_errors:
        click.echo(f"{ws.base_path}: the rendered policy is invalid: {message}", err=True)
        actions.annotate("error", message, path=ws.base_path)
    lock_errors = 0 if rendered_errors else _check_lock(ws)
    if problems or rendered_errors or lock_errors or missing:
        click.echo(f"{len(problems) + len(rendered_errors) + lock_errors + (missing is not None)} problem(s) "
                   "found.", err=True)
        return 1
    click.echo(f"OK: {len(ws.config.targets)} target(s), {len(ws.loaded.grants)} grant file(s), "
               f"base policy {ws.base_path}.")
    return 0


def _check_lock(ws: Workspace) -> int:
    """Report where the base policy lets a ``lock: posture`` target's group in without its posture; the
    number of errors (warnings, such as SSH not covered, do not count)."""
    if not any(t.posture_locked for t in ws.config.targets.values()):
        return 0
    errors = 0
    for problem in check_lock(parse_policy(ws.base, ws.base_path), ws.config.targets):
        report_grant_error(GrantError(problem.message, path=ws.base_path, line=problem.line), str(problem.level))
        errors += problem.level is Level.ERROR
    return errors


def _validate_grants(statuses: Sequence[GrantStatus], ws: Workspace, changed: set[str],
                     now: datetime) -> list[GrantError]:
    """Problems of the grant files: every invalid one; a grant waiting for its merge is only noted; the
    grants in ``changed`` (added or changed in the pull request) are also held to the new-request rules."""
    found = list(ws.errors)
    for status in statuses:
        grant = status.grant
        if status.state is State.UNKNOWN and (awaits_merge(status.problem) or grant.path in changed):
            click.echo(f"{terminal.level('note', err=False)}: {grant.path}:{status.problem_line}: "
                       f"{'starts when merged' if grant.duration else 'grants once merged'} "
                       f"({(status.problem or '').split(':')[0]})")
        elif status.state in (State.INVALID, State.UNKNOWN) and status.problem:
            found.append(GrantError(status.problem, path=grant.path, line=status.problem_line, hint=status.hint))
        if grant.path in changed and status.state is not State.INVALID:
            found += [GrantError(message, path=grant.path, line=grant.line_of(key),
                                 hint="a request asks for access from now (or a later start) to a later end")
                      for message, key in new_grant_problems(status, now)]
    return found
