"""``tailjit request``: a grant file on a new branch, committed, ready for a pull request.

The requester's repository is switched to the new branch ``access/<target>/<user>-<date>``
(as ``git switch -c BRANCH origin/main`` would), made from the default branch whatever
is checked out, whose one commit adds the grant file. The clock of a
``duration`` grant starts only when the pull request is merged.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

import pygit2
import yaml
from pygit2.enums import FileMode

from reconciler.core.config import Config
from reconciler.core.durations import format_duration, format_time
from reconciler.core.grants import LOGIN, START_SLACK, Grant
from reconciler.errors import GitError, GrantError, TailjitError, UsageError
from reconciler.git.history import entry_at, identity, join, open_repository, refuse_staged_changes, repo_prefix
from reconciler.git.merged import default_branch
from reconciler.repo import yamlfile
from reconciler.repo.grants import parse_grant

_UNSAFE = re.compile(r"[^A-Za-z0-9._@+-]+")
MAX_SUFFIX = 99


@dataclass(frozen=True)
class Requested:
    """What `request_access` did: the branch and file it made, and the commit adding the file."""

    grant: Grant
    branch: str
    commit: str
    #: the branch the request was made from and its pull request goes into (``main``)
    base_branch: str | None
    author: str
    #: things the requester should know (a login taken from an unmapped git email)
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Ask:
    """What the requester typed: a duration (``--for``) or an end (``--expires``), maybe a ``--start``; each
    with its text as typed, for messages."""

    duration: tuple[timedelta, str] | None = None
    start: tuple[datetime, str] | None = None
    expires: tuple[datetime, str] | None = None


def request_access(config: Config, *, target: str, ask: Ask, reason: str, user: str | None, ticket: str | None,
                   now: datetime) -> Requested:
    """Write, check and commit a grant file on a new branch made from the default branch, and switch to it."""
    if target not in config.targets:
        raise UsageError(f"--target {target!r} is not a target; targets in {config.relative(config.path)}: "
                         f"{', '.join(sorted(config.targets))}")
    repo = open_repository(config.root)
    prefix = repo_prefix(repo, config.root) if repo is not None else None
    if repo is None or prefix is None:
        raise GitError(f"{config.root} is not in a git working copy", hint="clone the access repository first")
    if repo.head_is_unborn:
        raise GitError("the current branch has no commits yet", hint="commit the access repository's files first")
    found = identity(repo)
    # the commit is dated by the command's clock, as everything else it decides
    signature = pygit2.Signature(found.name, found.email, int(now.timestamp()), 0)
    notes: list[str] = []
    if user is not None:
        login, typed = user, f"--user {user!r}"
    else:
        login = config.identities.get(signature.email, signature.email)
        typed = f"your git email {signature.email!r}"
        if signature.email not in config.identities and LOGIN.fullmatch(login):
            notes.append(f"your git email {signature.email} is not under 'identities' in "
                         f"{config.relative(config.path)}, so it is used as your Tailscale login; if that is not "
                         "your login, pass --user LOGIN")
    if not LOGIN.fullmatch(login):
        raise GrantError(f"{typed} is not a Tailscale login such as alice@example.com",
                         path=config.relative(config.path),
                         hint="pass --user LOGIN, or map your git email to your login under 'identities'")
    rules = config.targets[target]
    _check_window(ask, rules.max_duration, target, now)
    refused = rules.request_problems(login, reason.strip())
    if refused:
        raise TailjitError("; ".join(message for _, message in refused),
                           hint=f"see target {target!r}'s rules in {config.relative(config.path)}")
    refuse_staged_changes(repo, "the request commit would take them along")
    default = default_branch(repo)
    base = repo[default[1]].peel(pygit2.Commit) if default is not None else repo.head.peel(pygit2.Commit)
    base_name = default[0].removeprefix("origin/") if default is not None else (
        None if repo.head_is_detached else repo.head.shorthand)
    branch, rel = _free_names(repo, base.tree, config, prefix, target, login, now)
    text = grant_text(login, target, ask, reason, ticket)
    grant = parse_grant(yamlfile.load(text.encode()), rel, target)
    commit = _commit_on_new_branch(repo, base, branch, join(prefix, rel), text, signature, _message(grant, ask))
    try:
        repo.checkout(f"refs/heads/{branch}")
    except pygit2.GitError as e:
        repo.branches.local.delete(branch)
        raise GitError(f"cannot switch to the new branch {branch} made from {base_name or 'HEAD'}: {e}",
                       hint="commit or stash your local changes (git stash), then ask again") from None
    return Requested(grant, branch, str(commit), base_name, f"{signature.name} <{signature.email}>", tuple(notes))


def _check_window(ask: Ask, limit: timedelta, target: str, now: datetime) -> None:
    """Refuse a window that a reviewer could only reject: too long, over already, or starting in the past."""
    allowed = f"target {target!r} allows ({format_duration(limit)})"
    if ask.start is not None and ask.start[0] < now - START_SLACK:
        raise UsageError(f"--start {ask.start[1]} is in the past; a request starts now (leave --start out) or later")
    begin = ask.start[0] if ask.start is not None else now
    if ask.duration is not None and ask.duration[0] > limit:
        raise TailjitError(f"--for {ask.duration[1]} is longer than {allowed}",
                           hint=f"ask for at most {format_duration(limit)}")
    if ask.expires is not None:
        when, typed = ask.expires
        if when <= begin:
            after = f"--start {ask.start[1]}" if ask.start is not None else "now"
            raise UsageError(f"--expires {typed} is not after {after}")
        if when - begin > limit:
            raise TailjitError(f"--expires {typed} is {format_duration(when - begin)} from "
                               f"{'--start' if ask.start is not None else 'now'}, longer than {allowed}",
                               hint=f"end at most {format_duration(limit)} after the start")


def grant_text(user: str, target: str, ask: Ask, reason: str, ticket: str | None) -> str:
    """The YAML of a grant file; values are quoted by the YAML emitter where they need it."""
    fields: dict[str, str] = {"user": user, "target": target}
    if ask.start is not None:
        fields["start"] = format_time(ask.start[0])
    if ask.duration is not None:
        fields["duration"] = ask.duration[1].strip()
    if ask.expires is not None:
        fields["expires"] = format_time(ask.expires[0])
    fields["reason"] = reason.strip()
    if ticket:
        fields["ticket"] = ticket.strip()
    body = yaml.safe_dump(fields, sort_keys=False, allow_unicode=True, default_flow_style=False, width=10_000)
    when = ("the duration starts when this file is merged" if ask.duration is not None and ask.start is None
            else "access is granted from its start, once this file is merged")
    return f"# Requested with tailjit request; {when}.\n" + body


def _free_names(repo: pygit2.Repository, tree: pygit2.Tree, config: Config, prefix: str, target: str,
                login: str, now: datetime) -> tuple[str, str]:
    """``(branch, grant path)`` not yet taken: ``access/<target>/<user>-<date>[-n]``."""
    stem = _UNSAFE.sub("-", login).replace("..", ".").strip(".-")[:100] + f"-{now.date().isoformat()}"
    folder = config.relative(config.grants_dir / target)
    for n in range(1, MAX_SUFFIX + 1):
        name = stem if n == 1 else f"{stem}-{n}"
        branch = f"access/{target}/{name}"
        rel = f"{folder}/{name}.yaml"
        if not pygit2.reference_is_valid_name(f"refs/heads/{branch}"):
            raise GitError(f"cannot make a branch name from {login!r}", hint="pass --user with a plain login")
        taken = (branch in repo.branches.local or (config.root / rel).exists()
                 or entry_at(tree, join(prefix, rel)) is not None)
        if not taken:
            return branch, rel
    raise GitError(f"{MAX_SUFFIX} requests for {login} to {target} today already have branches",
                   hint="delete merged access/ branches: git branch -d BRANCH")


def _commit_on_new_branch(repo: pygit2.Repository, head: pygit2.Commit, branch: str, path: str, text: str,
                          signature: pygit2.Signature, message: str) -> pygit2.Oid:
    """``head``'s tree plus the one file, committed in memory and pointed at by the new branch."""
    index = pygit2.Index()
    index.read_tree(head.tree)
    index.add(pygit2.IndexEntry(path, repo.create_blob(text.encode()), FileMode.BLOB))
    commit = repo.create_commit(None, signature, signature, message, index.write_tree(repo), [head.id])
    repo.branches.local.create(branch, repo[commit].peel(pygit2.Commit))
    return commit


def _message(grant: Grant, ask: Ask) -> str:
    window = ask.duration[1].strip() if ask.duration is not None else f"until {format_time(ask.expires[0])}" \
        if ask.expires is not None else ""
    if ask.start is not None:
        window += f" from {format_time(ask.start[0])}"
    lines = [f"Request {grant.target} access for {grant.user} ({window})", "", grant.reason]
    if grant.ticket:
        lines += ["", f"Ticket: {grant.ticket}"]
    return "\n".join(lines) + "\n"

