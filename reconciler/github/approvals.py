"""Who approved a pull request, and whether that is enough for every target it grants: `decide`.

Pure: the pull request comes in as values (`PullRequest`, read by `reconciler.github.pulls`), the
verdict goes out as a value; no network, clock or environment here. The rules:

* the grant files the pull request adds or changes (at its head) are read and checked like
  ``validate`` does, plus the target's request rules; any problem fails the check. Removed grant
  files revoke access and need nothing;
* each reviewer's standing is their latest review that decides something (approved, changes
  requested, dismissed); comment-only reviews change nothing, as on GitHub;
* an approval counts for a target when it is not stale (given on a commit at or after the last commit
  that changed a grant file), its author is not the pull request's author nor any grantee of the
  pull request (GitHub login → Tailscale login through ``identities`` keys ``github:LOGIN``, or
  ``LOGIN@github``), and they are one of the target's approvers (``@user`` or a member of ``@org/team``;
  the config's ``owners`` when the target names none; anyone when neither does). Two GitHub accounts
  of one Tailscale login count once;
* a target needs ``approvals`` such approvals, or none when the pull request is labelled
  ``break-glass`` and every grant of the target is a break-glass grant its rule allows.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from reconciler.core.config import Config, Target
from reconciler.core.durations import format_duration
from reconciler.core.grants import Grant, break_glass_problem
from reconciler.errors import GrantError
from reconciler.repo import yamlfile
from reconciler.repo.grants import IGNORED_NAMES, parse_grant

BREAK_GLASS_LABEL = "break-glass"
APPROVED, CHANGES_REQUESTED, DISMISSED = "APPROVED", "CHANGES_REQUESTED", "DISMISSED"
#: Review states that say where a reviewer stands; COMMENTED and PENDING do not.
DECISIVE = {APPROVED, CHANGES_REQUESTED, DISMISSED}


@dataclass(frozen=True)
class Review:
    """One submitted review: ``state`` as GitHub spells it, on commit ``commit_id``."""

    login: str
    state: str
    commit_id: str | None
    submitted_at: str | None = None


@dataclass(frozen=True)
class ChangedFile:
    """A file the pull request changes; ``content`` is its text at the head (None when removed)."""

    path: str
    status: str
    content: bytes | None = None
    previous: str | None = None
    #: why the content is not there (not a regular file, too large)
    problem: str | None = None


@dataclass(frozen=True)
class PullRequest:
    number: int
    author: str
    head_sha: str
    labels: tuple[str, ...]
    #: the changed files below the grants folder (or moved out of it)
    files: tuple[ChangedFile, ...]
    #: oldest first, as GitHub lists them
    reviews: tuple[Review, ...]
    #: the pull request's commits, oldest first
    commits: tuple[str, ...]
    #: the newest commit that changed a grant file (None: none did after any approval)
    grant_change: str | None


@dataclass(frozen=True)
class Reviewer:
    """A reviewer's standing for one target: counted, or not and why."""

    login: str
    counted: bool
    why: str


@dataclass(frozen=True)
class TargetVerdict:
    target: str
    needed: int
    approvers: tuple[str, ...]
    grants: tuple[Grant, ...]
    reviewers: tuple[Reviewer, ...]
    break_glass: bool = False
    notes: tuple[str, ...] = ()

    @property
    def counted(self) -> tuple[Reviewer, ...]:
        return tuple(r for r in self.reviewers if r.counted)

    @property
    def satisfied(self) -> bool:
        return len(self.counted) >= self.needed


@dataclass(frozen=True)
class Verdict:
    number: int
    targets: tuple[TargetVerdict, ...]
    #: grant files that cannot be granted as written: the check fails
    problems: tuple[GrantError, ...]
    #: grant files the pull request removes (revocations need no approval)
    removed: tuple[str, ...]

    @property
    def satisfied(self) -> bool:
        return not self.problems and all(t.satisfied for t in self.targets)


def grants_prefix(config: Config) -> str:
    """The grants folder as GitHub names paths: relative to the repository top, no trailing slash."""
    return config.relative(config.grants_dir).strip("/")


def read_grants(pr: PullRequest, config: Config) -> tuple[list[Grant], list[GrantError], list[str]]:
    """The grants the pull request adds or changes, the problems of its grant files, and the removed files."""
    prefix = grants_prefix(config) + "/"
    grants: list[Grant] = []
    problems: list[GrantError] = []
    removed: list[str] = []
    for changed in pr.files:
        if changed.previous and changed.previous.startswith(prefix) and changed.previous != changed.path:
            removed.append(changed.previous)
        if not changed.path.startswith(prefix):
            continue
        if changed.status == "removed":
            removed.append(changed.path)
            continue
        parts = changed.path[len(prefix):].split("/")
        if parts[-1] in IGNORED_NAMES:
            continue
        try:
            grants.append(_grant(changed, parts, config))
        except GrantError as e:
            problems.append(e)
    return grants, problems, removed


def _grant(changed: ChangedFile, parts: list[str], config: Config) -> Grant:
    path = changed.path
    if len(parts) != 2:
        raise GrantError("a grant file belongs in <grants>/<target>/<name>.yaml", path=path)
    if parts[0] not in config.targets:
        raise GrantError(f"unknown target {parts[0]!r}: the base branch's tailjit.yaml has "
                         f"{', '.join(sorted(config.targets))}", path=path,
                         hint="a new target must be merged on its own before grants to it are checked")
    if changed.content is None:
        raise GrantError(changed.problem or "its content at the pull request's head could not be read", path=path)
    try:
        grant = parse_grant(yamlfile.load(changed.content), path, parts[0])
    except yamlfile.YAMLFileError as e:
        raise GrantError(e.message, path=path, line=e.line) from None
    refused = config.targets[grant.target].request_problems(grant.user, grant.reason)
    if refused:
        raise GrantError("; ".join(message for _, message in refused), path=path,
                         line=grant.line_of(refused[0][0]))
    return grant


def latest_reviews(reviews: tuple[Review, ...]) -> dict[str, Review]:
    """Each reviewer's (lower-cased login) latest review that decides something, in the order of their last."""
    latest: dict[str, Review] = {}
    for review in reviews:
        if review.state in DECISIVE:
            latest.pop(review.login.lower(), None)
            latest[review.login.lower()] = review
    return latest


def effective_approvers(target: Target, config: Config) -> tuple[str, ...]:
    """Who may approve grants to ``target``: its approvers, else the config's owners (empty: anyone).

    Only ``@user`` and ``@org/team`` entries can match a reviewer; an email address matches nobody.
    """
    return target.approvers or config.owners


def teams_to_resolve(pr: PullRequest, config: Config, grants: list[Grant]) -> list[str]:
    """The ``org/team`` approvers worth asking GitHub about: only when somebody approved at all."""
    if not any(r.state == APPROVED for r in latest_reviews(pr.reviews).values()):
        return []
    teams = {a[1:].lower() for g in grants for a in effective_approvers(config.targets[g.target], config)
             if a.startswith("@") and "/" in a}
    return sorted(teams)


def decide(pr: PullRequest, config: Config, now: datetime,
           team_members: Mapping[str, frozenset[str]]) -> Verdict:
    """Whether ``pr`` has the approvals its grants need. ``team_members``: ``org/team`` → lower-cased logins."""
    grants, problems, removed = read_grants(pr, config)
    grantees = {g.user.lower() for g in grants}
    standing = {login: _standing(review, pr, config, grantees) for login, review in latest_reviews(pr.reviews).items()}
    by_target: dict[str, list[Grant]] = {}
    for grant in grants:
        by_target.setdefault(grant.target, []).append(grant)
    verdicts = []
    for name in sorted(by_target):
        target = config.targets[name]
        approvers = effective_approvers(target, config)
        reviewers: list[Reviewer] = []
        people: dict[str, str] = {}
        for login, review in latest_reviews(pr.reviews).items():
            reason = standing[login]
            if reason is None:
                reason = _not_an_approver(login, approvers, team_members, name)
            person = config.github_identity(login) or f"{login}@github"
            if reason is None and person.lower() in people:
                reason = f"is the same person ({person}) as {people[person.lower()]}, who already counts"
            if reason is None:
                people[person.lower()] = review.login
                reviewers.append(Reviewer(review.login, True, f"approved {(review.commit_id or '')[:12]}"))
            else:
                reviewers.append(Reviewer(review.login, False, reason))
        glass, notes = _break_glass(by_target[name], target, pr, now)
        emails = [a for a in approvers if not a.startswith("@")]
        if emails:
            notes.append(f"approvers written as email addresses ({', '.join(emails)}) count nobody: tailjit "
                         "matches reviewers to @user and @org/team only")
        verdicts.append(TargetVerdict(name, 0 if glass else target.approvals, approvers, tuple(by_target[name]),
                                      tuple(reviewers), glass, tuple(notes)))
    return Verdict(pr.number, tuple(verdicts), tuple(problems), tuple(removed))


def _standing(review: Review, pr: PullRequest, config: Config, grantees: set[str]) -> str | None:
    """Why ``review`` cannot count for any target, or None."""
    login = review.login
    if review.state == DISMISSED:
        return "their approval was dismissed"
    if review.state == CHANGES_REQUESTED:
        return "requested changes"
    if review.commit_id is None or review.commit_id not in pr.commits:
        return f"approved {(review.commit_id or 'an unknown commit')[:12]}, which is no longer in the pull request"
    if pr.grant_change is not None and pr.commits.index(review.commit_id) < pr.commits.index(pr.grant_change):
        return (f"approved {review.commit_id[:12]}, before the grant files changed in {pr.grant_change[:12]}: "
                "a new approval is needed")
    if login.lower() == pr.author.lower():
        return "is the pull request's author"
    if f"{login}@github".lower() in grantees:
        return f"is the grantee ({login}@github)"
    person = config.github_identity(login)
    if person is None:
        return (f"has no 'github:{login}' entry under identities in tailjit.yaml, so tailjit cannot tell that "
                "they are not the grantee")
    if person.lower() in grantees:
        return f"is the grantee ({person})"
    return None


def _not_an_approver(login: str, approvers: tuple[str, ...], team_members: Mapping[str, frozenset[str]],
                     target: str) -> str | None:
    if not approvers:
        return None
    lowered = login.lower()
    for approver in approvers:
        name = approver[1:].lower()
        if approver.startswith("@") and (name == lowered or lowered in team_members.get(name, frozenset())):
            return None
    return f"is not one of {target}'s approvers ({', '.join(approvers)})"


def _break_glass(grants: list[Grant], target: Target, pr: PullRequest, now: datetime) -> tuple[bool, list[str]]:
    """Whether break glass waives the approvals of ``target``'s grants, and notes on why not."""
    asked = [g for g in grants if g.break_glass]
    if not asked:
        return False, []
    if BREAK_GLASS_LABEL not in pr.labels:
        return False, [f"break glass is asked for, but the pull request is not labelled {BREAK_GLASS_LABEL!r}: "
                       "approvals are needed as usual"]
    notes = [f"{g.name} is not a break-glass grant" for g in grants if not g.break_glass]
    for grant in asked:
        problem = break_glass_problem(grant, target, _span(grant, now))
        if problem is not None:
            notes.append(f"{grant.name}: {problem}")
    if notes:
        return False, [*notes, "so approvals are needed as usual"]
    assert target.break_glass is not None
    return True, [f"break glass: {', '.join(g.user for g in asked)} for at most "
                  f"{format_duration(target.break_glass.max_duration)}, with no approval; a review issue is "
                  "opened when it is applied"]


def _span(grant: Grant, now: datetime) -> timedelta:
    if grant.duration is not None:
        return grant.duration
    assert grant.expires is not None
    return grant.expires - (grant.start or now)
