"""The git side of the command line: ``request``, ``prune``, ``audit`` and ``codeowners``.

Wiring only (`reconciler.cli.main` registers these commands): the work is done in
`reconciler.git` (request, prune, audit) and `reconciler.github.codeowners`.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import click

from reconciler.cli import terminal
from reconciler.cli.app import App
from reconciler.cli.options import AT_OPTION, Duration, Time, TimeText
from reconciler.cli.output import report_error
from reconciler.core.durations import format_duration, format_time
from reconciler.errors import TailjitError
from reconciler.git import audit as audit_history
from reconciler.git.history import open_repository
from reconciler.git.prune import commit_prune, delete_files, select
from reconciler.git.remote import compare_url, push_branch, remote, remote_default_branch
from reconciler.git.request import Ask, request_access
from reconciler.github import actions, breakglass
from reconciler.github import codeowners as owners_file
from reconciler.github.open_pr import github_repository, open_pull_request, token_from
from reconciler.notify.auditlog import audit_events
from reconciler.notify.auditlog import since as events_since
from reconciler.notify.gitfacts import pull_request_link
from reconciler.repo.config import load_config
from reconciler.text.report import format_table


def _date_or_time_option(ctx: click.Context, param: click.Parameter, value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        return datetime.combine(date.fromisoformat(value.strip()), time(), UTC)
    except ValueError:
        return Time().convert(value, param, ctx)


@click.command("request")
@click.option("--target", required=True, help="The target to get access to (a name under 'targets' in tailjit.yaml).")
@click.option("--for", "duration", default=None, type=Duration(),
              help="How long, counted from the merge (or --start): 30m, 4h, 1d12h (at most the target's "
                   "max_duration). Default: the target's default_duration.")
@click.option("--start", "start", default=None, type=TimeText(),
              help="Start at this time (ISO 8601 with a zone) instead of at the merge, e.g. for a maintenance "
                   "window; now or later.")
@click.option("--expires", "expires", default=None, type=TimeText(),
              help="End at this time (ISO 8601 with a zone) instead of after --for.")
@click.option("--reason", required=True, help="Why access is needed; reviewers read this.")
@click.option("--user", default=None,
              help="The Tailscale login to grant. Default: your git email, mapped through 'identities'.")
@click.option("--ticket", default=None, help="An incident or ticket reference, e.g. INC-1234.")
@click.option("--push", is_flag=True, help="Push the branch to origin and print where to open the pull request.")
@click.option("--open", "open_pr", is_flag=True,
              help="Push, then open the pull request through the GitHub API with GITHUB_TOKEN (or GH_TOKEN); "
                   "without a token, print the page that opens it.")
@click.pass_obj
def request_command(app: App, target: str, duration: tuple[timedelta, str] | None,
                    start: tuple[datetime, str] | None, expires: tuple[datetime, str] | None, reason: str,
                    user: str | None, ticket: str | None, push: bool, open_pr: bool) -> int:
    """Ask for access: a grant file on a new branch access/<target>/<user>-<date>, committed.

    The branch is made from the default branch (origin/HEAD, else main),
    whatever is checked out. Merging its pull request is the approval; the
    duration starts at the merge, or at --start.

    \b
    Examples:
      tailjit request --target prod --for 4h --reason "Investigate INC-1234" --open
      tailjit request --target prod --start 2026-11-25T22:00:00Z --expires 2026-11-26T02:00:00Z \\
        --reason "Maintenance window CHG-88"
    """
    config = load_config(app.config_path)
    if duration is not None and expires is not None:
        raise click.UsageError(f"give --for {duration[1]} or --expires {expires[1]}, not both")
    if duration is None and expires is None:
        default = config.targets[target].default_duration if target in config.targets else None
        if default is None:
            raise click.UsageError(f"--for or --expires is needed: target {target!r} has no default_duration in "
                                   f"{config.relative(config.path)}")
        duration = (default, format_duration(default))
    made = request_access(config, target=target, ask=Ask(duration, start, expires), reason=reason, user=user,
                          ticket=ticket, now=app.now())
    for note in made.notes:
        report_error(note, level="warning")
    window = f"for {duration[1]}" if duration is not None else f"until {format_time(expires[0])}" if expires else ""
    if start is not None:
        window += f" from {format_time(start[0])}"
    click.echo(f"Switched to a new branch {made.branch} (from {made.base_branch or 'HEAD'}): {made.grant.path} "
               f"grants {made.grant.user} {target} {window} (commit {made.commit[:12]}, author {made.author}).")
    repo = open_repository(config.root)
    assert repo is not None
    base = made.base_branch or remote_default_branch(repo) or "main"
    if not (push or open_pr):
        click.echo(f"Next: git push -u origin {made.branch}, then open a pull request into {base} "
                   f"(or run request with --open).")
        return 0
    push_branch(repo, made.branch)
    url = remote(repo).url or "origin"
    click.echo(f"Pushed {made.branch} to origin.")
    link = compare_url(url, base, made.branch)
    slug, token = github_repository(url, app.env), token_from(app.env)
    if open_pr and slug is not None and token is not None:
        title = f"Request {target} access for {made.grant.user} ({window.strip()})"
        opened = open_pull_request(slug, token, head=made.branch, base=base, title=title,
                                   body=f"{made.grant.reason}\n\nGrant file: `{made.grant.path}`", env=app.env,
                                   page=link)
        click.echo(f"Opened pull request #{opened.number}: {opened.url}")
        return 0
    if open_pr:
        missing = "GITHUB_TOKEN (or GH_TOKEN)" if token is None else "a GitHub remote (or GITHUB_REPOSITORY)"
        click.echo(f"Not opened through the GitHub API: {missing} is not set.")
    click.echo(f"Open the pull request: {link}" if link is not None
               else f"Open a pull request from {made.branch} into {base}.")
    return 0


@click.command("prune")
@AT_OPTION
@click.option("--commit", "make_commit", is_flag=True, help="Remove them in one commit listing them.")
@click.option("--push", is_flag=True,
              help="Commit and push to origin; if origin moved meanwhile, redo the commit on its new tip and retry.")
@click.pass_obj
def prune_command(app: App, at: datetime | None, make_commit: bool, push: bool) -> int:
    """Delete expired grant files (never active, pending, invalid or unknown ones).

    \b
    Examples:
      tailjit prune
      tailjit prune --commit --push
    """
    now = app.now(at)
    ws = app.workspace()
    chosen = select(ws.config, ws.statuses(now))
    for status in chosen.doubtful:
        message = f"{status.grant.path}: not pruned: {status.problem or status.state.value}"
        report_error(f"{message}", level="warning")
        actions.annotate("warning", f"not pruned: {status.problem or status.state.value}", path=status.grant.path)
    if not chosen.expired:
        click.echo("Nothing to prune.")
        return 0
    users = {s.grant.path: s for s in chosen.expired}

    def line(path: str) -> str:
        s = users[path]
        return f"  - {path} ({s.grant.user}, expired {format_time(s.end) if s.end else '?'})"

    if not (make_commit or push):
        gone = delete_files(ws.config, chosen.expired)
        click.echo(f"Deleted {len(gone)} expired grant file(s):")
        click.echo("\n".join(line(p) for p in gone))
        return 0
    outcome = commit_prune(ws.config, chosen.expired, now, push=push)
    if outcome.commit is None:
        click.echo("Nothing left to prune on the branch tip" + (" after fetching origin." if push else "."))
    else:
        click.echo(f"Committed {outcome.commit[:12]} removing {len(outcome.removed)} expired grant file(s):")
        click.echo("\n".join(line(p) for p in outcome.removed))
    if outcome.pushed:
        retried = f" after {outcome.attempts} attempts (origin moved meanwhile)" if outcome.attempts > 1 else ""
        click.echo(f"Pushed to origin{retried}.")
    if outcome.skipped:
        click.echo("Kept (changed locally, not committed, or changed on origin since):")
        click.echo("\n".join(f"  - {p}" for p in outcome.skipped))
    return 0


AUDIT_COLUMNS = (("merged_at", "MERGED"), ("user", "USER"), ("target", "TARGET"), ("active_from", "FROM"),
                 ("active_to", "TO"), ("requested_by", "REQUESTED BY"), ("approved_by", "APPROVED BY"),
                 ("removed", "REMOVED"), ("file", "FILE"))


@click.command("audit")
@click.option("--since", default=None, callback=_date_or_time_option, metavar="DATE",
              help="Only grants with anything on or after this date (2026-11-01) or time (ISO 8601 with a zone).")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json", "jsonl"]), default="table",
              show_default=True,
              help="jsonl: one event per line (granted, revoked, invalid), schema 1 of docs/audit.md, for a SIEM.")
@click.pass_obj
def audit_command(app: App, since: datetime | None, fmt: str) -> int:
    """Access history from git: who asked, who merged (approved), active from/to, removed when and how.

    With --format jsonl, the history as events, one JSON object per line, oldest first;
    --since keeps the events at or after it.

    \b
    Examples:
      tailjit audit --since 2026-11-01
      tailjit audit --format csv > access.csv
    """
    config = load_config(app.config_path)
    records = audit_history.history(config, since)
    if since is not None:
        records = audit_history.since(records, since)
    if fmt == "jsonl":
        events = audit_events(records, app.now(), pull_request_link(config))
        for event in events if since is None else events_since(events, since):
            click.echo(json.dumps(event.data, ensure_ascii=False, separators=(",", ":")))
        return 0
    records = _with_reviews(app, records)
    rows = [r.data for r in records]
    if fmt == "json":
        click.echo(json.dumps({"since": format_time(since) if since else None, "grants": rows}, indent=2))
    elif fmt == "csv":
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=list(audit_history.FIELDS), lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: _csv_value(k, row[k]) for k in audit_history.FIELDS})
        click.echo(out.getvalue(), nl=False)
    elif rows:
        columns = AUDIT_COLUMNS + ((("glass", "BREAK GLASS"),) if any(r["break_glass"] for r in rows) else ())
        click.echo(format_table([_table_row(r) for r in rows], columns, width=terminal.current().width), nl=False)
    else:
        click.echo("No grant files in the history" + (f" since {format_time(since)}." if since else "."))
    return 0


def _csv_value(key: str, value: Any) -> Any:
    if value is None:
        return "unknown" if key == "approved_by" else ""
    if isinstance(value, bool):
        return str(value).lower()
    return csv_cell(value) if isinstance(value, str) else value


def csv_cell(text: str) -> str:
    """``text`` as a spreadsheet shows it, never as a formula: a cell starting with ``= + - @`` (or a tab or
    carriage return) gets a leading ``'`` (a requester's name or reason is written by anyone)."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _table_row(row: dict[str, Any]) -> dict[str, Any]:
    def email(who: str | None) -> str | None:
        return who.rsplit("<", 1)[-1].rstrip(">") if who else None

    if row["removed_at"] is None:
        removed = None
    else:
        how = "revoked early" if row["revoked_early"] else "pruned"
        removed = f"{row['removed_at']} {how} ({row['removed_by_commit'][:8]})"
    glass = None
    if row["break_glass"]:
        issue = f" (#{row['review_issue']})" if row["review_issue"] else ""
        glass = f"{row['review']}{issue}" if row["review"] else "review unknown"
    return {**row, "requested_by": email(row["requested_by"]), "approved_by": email(row["approved_by"]) or "unknown",
            "removed": removed, "glass": glass}


def _with_reviews(app: App, records: list[audit_history.Record]) -> list[audit_history.Record]:
    """``records`` with the review state of each break-glass grant, when a GitHub token is there to ask."""
    glass = [r for r in records if r.break_glass]
    if not glass:
        return records
    if not (app.env.get("GITHUB_TOKEN", "").strip() and app.env.get("GITHUB_REPOSITORY", "").strip()):
        click.echo(f"note: {len(glass)} break-glass grant(s); set GITHUB_TOKEN and GITHUB_REPOSITORY to see whether "
                   "they were reviewed", err=True)
        return records
    try:
        gh = breakglass.client(app.env, purpose="read the break-glass reviews", timeout=30.0)
        try:
            issues = breakglass.review_issues(gh)
        finally:
            gh.close()
    except TailjitError as e:
        report_error(e, level="warning")
        return records
    out = []
    for record in records:
        issue = issues.get(breakglass.key(record.path, record.active_from)) if record.break_glass else None
        if record.break_glass and issue is None:
            record = replace(record, review="no review issue")
        elif issue is not None:
            record = replace(record, review="reviewed" if issue.closed else "not reviewed", review_issue=issue.number)
        out.append(record)
    return out


@click.command("codeowners")
@click.option("--check", is_flag=True, help="Exit 1 (showing the difference) when .github/CODEOWNERS is out of date.")
@click.option("--write", "write_file", is_flag=True, help="Write .github/CODEOWNERS.")
@click.pass_obj
def codeowners_command(app: App, check: bool, write_file: bool) -> int:
    """CODEOWNERS lines giving each target's grant folder to its approvers (plus a catch-all).

    With "Require review from Code Owners" in the default branch's protection,
    GitHub then enforces who may approve access to which target.

    \b
    Examples:
      tailjit codeowners --check
      tailjit codeowners --write
    """
    config = load_config(app.config_path)
    text = owners_file.render(config)
    if write_file:
        owners_file.write(config, text)
        click.echo(f"Wrote {owners_file.CODEOWNERS}.")
        return 0
    if check:
        diff = owners_file.staleness(config, text)
        if diff is None:
            click.echo(f"{owners_file.CODEOWNERS} is up to date.")
            return 0
        click.echo(diff, err=True, nl=False)
        message = f"{owners_file.CODEOWNERS} is out of date with {config.relative(config.path)}"
        report_error(f"{message}; run: tailjit codeowners --write")
        actions.annotate("error", message, path=str(owners_file.CODEOWNERS))
        return 1
    click.echo(text, nl=False)
    return 0

