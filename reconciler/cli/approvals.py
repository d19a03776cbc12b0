"""``tailjit approvals --pr N``: the required status check that counts the right approvers.

Wiring and printing only: `reconciler.github.pulls` reads the pull request, `reconciler.github.approvals`
decides. Exit 0 when every target the pull request grants has its approvals (or break glass applies),
1 when not, or when GitHub could not be read: the check never passes on an answer it could not read.
"""

from __future__ import annotations

from datetime import datetime

import click

from reconciler.cli.app import App
from reconciler.cli.options import AT_OPTION
from reconciler.cli.output import report_grant_error
from reconciler.github import actions
from reconciler.github.api import GitHub
from reconciler.github.approvals import TargetVerdict, Verdict, decide, grants_prefix, read_grants, teams_to_resolve
from reconciler.github.pulls import FORBIDDEN_HINT, read_pull_request, team_members
from reconciler.repo.config import load_config


@click.command("approvals")
@click.option("--pr", "number", required=True, type=click.IntRange(min=1), metavar="NUMBER",
              help="The pull request to check.")
@AT_OPTION
@click.pass_obj
def approvals_command(app: App, number: int, at: datetime | None) -> int:
    """Check that pull request NUMBER has the approvals its grant files need (a required status check).

    For every target the pull request grants: at least the target's 'approvals' distinct approvers
    from its 'approvers' approved its latest grant-file change, none of them the grantee or the
    pull request's author. Reads GitHub with GITHUB_TOKEN, GITHUB_REPOSITORY and GITHUB_API_URL; the
    rules come from the checked-out tailjit.yaml (check out the base branch). Exit 0 satisfied, 1 not.

    \b
    Example:
      tailjit approvals --pr 42
    """
    config = load_config(app.config_path)
    gh = GitHub.from_env(purpose="check the approvals", forbidden_hint=FORBIDDEN_HINT)
    try:
        pull = read_pull_request(gh, number, grants_prefix(config))
        grants = read_grants(pull, config)[0]
        members = {team: team_members(gh, team) for team in teams_to_resolve(pull, config, grants)}
    finally:
        gh.close()
    verdict = decide(pull, config, app.now(at), members)
    for problem in verdict.problems:
        report_grant_error(problem, "error")
    click.echo(format_text(verdict), nl=False)
    actions.summary_markdown(format_markdown(verdict))
    return 0 if verdict.satisfied else 1


def _headline(verdict: Verdict) -> str:
    state = "satisfied" if verdict.satisfied else "NOT satisfied"
    return f"tailjit approvals for pull request #{verdict.number}: {state}"


def _target_line(t: TargetVerdict) -> str:
    who = ", ".join(t.approvers) if t.approvers else "any reviewer"
    users = ", ".join(sorted({g.user for g in t.grants}))
    if t.break_glass:
        return f"{t.target} ({users}): break glass, no approval needed"
    missing = t.needed - len(t.counted)
    tail = "enough" if missing <= 0 else f"{missing} more needed"
    return f"{t.target} ({users}): {len(t.counted)} of {t.needed} approval(s) from {who}; {tail}"


def format_text(verdict: Verdict) -> str:
    lines = [_headline(verdict)]
    if not verdict.targets and not verdict.problems:
        lines.append("No grant file is added or changed: nothing needs approval.")
    for t in verdict.targets:
        lines.append(_target_line(t))
        for r in t.reviewers:
            lines.append(f"  {'counts' if r.counted else 'does not count'}: {r.login} {r.why}")
        if not t.reviewers:
            lines.append("  no approving reviews yet")
        lines.extend(f"  note: {note}" for note in t.notes)
    if verdict.removed:
        lines.append("Removed (a revocation needs no approval): " + ", ".join(verdict.removed))
    if verdict.problems:
        lines.append(f"{len(verdict.problems)} grant file(s) cannot be granted as written (see the errors above).")
    return "\n".join(lines) + "\n"


def format_markdown(verdict: Verdict) -> str:
    lines = [f"### {_headline(verdict)}", ""]
    if not verdict.targets and not verdict.problems:
        lines.append("No grant file is added or changed: nothing needs approval.")
    for t in verdict.targets:
        lines += [f"**{_target_line(t)}**", ""]
        if t.reviewers:
            lines += ["| reviewer | counts | why |", "|---|---|---|"]
            lines += [f"| `{r.login}` | {'yes' if r.counted else 'no'} | {_cell(r.why)} |" for r in t.reviewers]
            lines.append("")
        lines += [f"- {_cell(note)}" for note in t.notes]
        lines.append("")
    if verdict.removed:
        lines.append("Removed (a revocation needs no approval): " + ", ".join(f"`{p}`" for p in verdict.removed))
    for problem in verdict.problems:
        lines.append(f"- ❌ `{problem.path}`: {_cell(problem.message)}")
    return "\n".join(lines) + "\n"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("<", "&lt;").replace("\n", " ")
