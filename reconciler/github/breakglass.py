"""Break-glass grants get a review after the fact: one GitHub issue per grant, opened by ``apply``, read by ``audit``.

A break-glass grant is merged with no approval (see `reconciler.github.approvals`), so once it is
applied, an issue asks the target's approvers to review it: who, what, why, and when it ends. The
issue carries the label `LABEL` and a hidden marker naming the grant file and its start, so every
later apply finds it again and opens no second one. Closing the issue marks the grant reviewed;
``audit`` says so. Only issues written by a bot count (a person quoting the marker cannot mark a
grant reviewed).

Endpoints (https://docs.github.com/en/rest/issues/issues): ``GET /repos/{o}/{r}/issues?state=all&labels=``
(pull requests are listed too, marked by a ``pull_request`` key, and skipped) and ``POST
/repos/{o}/{r}/issues``. The job needs ``permissions: issues: write`` to open them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from reconciler.core.config import Config
from reconciler.core.durations import format_time
from reconciler.core.grants import GrantStatus
from reconciler.errors import GitHubError
from reconciler.github.api import GitHub

LABEL = "tailjit-break-glass"
_MARKER = re.compile(r"<!-- tailjit:break-glass (\S+) (\S+) -->")
#: Apply must not wait long on GitHub: the policy is already written when the issues are opened.
APPLY_TIMEOUT = 10.0
FORBIDDEN_HINT = "the apply job needs 'permissions: issues: write' to open break-glass review issues"


@dataclass(frozen=True)
class ReviewIssue:
    number: int
    url: str
    closed: bool


def key(path: str, start: datetime | None) -> tuple[str, str]:
    """What identifies one break-glass grant: its file and its start (a later grant may reuse the name)."""
    return path, format_time(start) if start is not None else "unknown"


def marker(path: str, start: datetime | None) -> str:
    return "<!-- tailjit:break-glass {} {} -->".format(*key(path, start))


def review_issues(gh: GitHub) -> dict[tuple[str, str], ReviewIssue]:
    """Every break-glass review issue tailjit opened, by `key`."""
    found: dict[tuple[str, str], ReviewIssue] = {}
    for item in gh.pages(f"/repos/{gh.repo_path}/issues?state=all&labels={LABEL}", "listing break-glass issues"):
        user = item.get("user")
        body, number = item.get("body"), item.get("number")
        if "pull_request" in item or not isinstance(user, dict) or user.get("type") != "Bot":
            continue
        match = _MARKER.search(body) if isinstance(body, str) else None
        if match is None or not isinstance(number, int):
            continue
        found.setdefault((match.group(1), match.group(2)),
                         ReviewIssue(number, str(item.get("html_url", "")), item.get("state") == "closed"))
    return found


def issue_text(status: GrantStatus, config: Config) -> tuple[str, str]:
    """The title and body of the review issue of break-glass grant ``status``."""
    grant = status.grant
    target = config.targets[grant.target]
    approvers = " ".join(target.approvers or config.owners) or "the repository's maintainers"
    title = f"Review break-glass access: {grant.user} to {grant.target}"
    lines = [
        marker(grant.path, status.start),
        f"`{grant.user}` was granted **{grant.target}** (`{target.group}`) with break glass: no approval was "
        "needed, so it is reviewed now. Close this issue once it has been reviewed; `tailjit audit` then shows "
        "the grant as reviewed.",
        "",
        "| | |",
        "|---|---|",
        f"| who | `{grant.user}` |",
        f"| what | {grant.target} (`{target.group}`) |",
        f"| why | {_cell(grant.reason)}{f' ({_cell(grant.ticket)})' if grant.ticket else ''} |",
        f"| from | {format_time(status.start) if status.start else 'unknown'} |",
        f"| until | {format_time(status.end) if status.end else 'unknown'} |",
        f"| grant file | `{grant.path}` |",
        "",
        f"Reviewers: {approvers}",
    ]
    return title, "\n".join(lines) + "\n"


def open_review_issues(gh: GitHub, statuses: Iterable[GrantStatus], config: Config) -> list[tuple[str, ReviewIssue]]:
    """Open the review issue of each break-glass grant in ``statuses`` that has none; what was opened."""
    wanted = [s for s in statuses if s.grant.break_glass]
    if not wanted:
        return []
    existing = review_issues(gh)
    opened = []
    for status in wanted:
        if key(status.grant.path, status.start) in existing:
            continue
        title, body = issue_text(status, config)
        made = gh.post(f"/repos/{gh.repo_path}/issues", f"opening the break-glass review issue of {status.grant.name}",
                       {"title": title, "body": body, "labels": [LABEL]})
        number = made.get("number")
        if not isinstance(number, int):
            raise GitHubError(f"opening the break-glass review issue of {status.grant.name}: GitHub answered "
                              "without an issue number")
        issue = ReviewIssue(number, str(made.get("html_url", "")), False)
        existing[key(status.grant.path, status.start)] = issue
        opened.append((status.grant.name, issue))
    return opened


def client(env: Mapping[str, str], *, purpose: str, timeout: float = APPLY_TIMEOUT) -> GitHub:
    """A client for the review issues: quick to give up, so that GitHub being down delays nothing."""
    return GitHub.from_env(env, purpose=purpose, retries=1, timeout=timeout, forbidden_hint=FORBIDDEN_HINT)


def _cell(text: str) -> str:
    """Grant text in a table cell: no Markdown, HTML, mentions or line breaks of its own."""
    escaped = re.sub(r"([\\`*_{}\[\]<>#|!~])", r"\\\1", text)
    return escaped.replace("@", "@\u200b").replace("\n", " ")
