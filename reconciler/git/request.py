"""``tailjit request``: a grant file on a new branch, committed, ready for a pull request.

The requester's repository is switched to the new branch ``access/<target>/<user>-<date>``
(as ``git switch -c`` would), whose one commit adds the grant file. The
clock of a ``duration`` grant starts only when the pull request is merged.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

import pygit2
import yaml
from pygit2.enums import FileMode

from reconciler.core.config import Config
from reconciler.core.durations import format_duration
from reconciler.core.grants import LOGIN, Grant
from reconciler.errors import ConfigError, GitError, GrantError
from reconciler.git.history import entry_at, identity, join, open_repository, refuse_staged_changes, repo_prefix
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
    base_branch: str | None
    author: str


def request_access(config: Config, *, target: str, duration: timedelta, duration_text: str, reason: str,
                   user: str | None, ticket: str | None, now: datetime) -> Requested:
    """Write, check and commit a grant file on a new branch, and switch to that branch."""
    if target not in config.targets:
        raise ConfigError(f"unknown target {target!r}; targets in tailjit.yaml: {', '.join(sorted(config.targets))}",
                          path=config.relative(config.path))
    repo = open_repository(config.root)
    prefix = repo_prefix(repo, config.root) if repo is not None else None
    if repo is None or prefix is None:
        raise GitError(f"{config.root} is not in a git working copy", hint="clone the access repository first")
    if repo.head_is_unborn:
        raise GitError("the current branch has no commits yet", hint="commit the access repository's files first")
    found = identity(repo)
    # the commit is dated by the command's clock, as everything else it decides
    signature = pygit2.Signature(found.name, found.email, int(now.timestamp()), 0)
    login = user if user is not None else config.identities.get(signature.email, signature.email)
    if not LOGIN.fullmatch(login):
        raise GrantError(f"{login!r} is not a Tailscale login", path=config.relative(config.grants_dir),
                         hint="pass --user LOGIN, or map your git email to your login under 'identities' "
                              "in tailjit.yaml")
    rules = config.targets[target]
    limit = rules.max_duration
    head = repo.head.peel(pygit2.Commit)
    branch, rel = _free_names(repo, head.tree, config, prefix, target, login, now)
    if duration > limit:
        raise GrantError(f"duration {format_duration(duration)} is longer than target {target!r} allows "
                         f"({format_duration(limit)})", path=rel, hint=f"ask for at most {format_duration(limit)}")
    refused = rules.request_problems(login, reason.strip())
    if refused:
        raise GrantError("; ".join(message for _, message in refused), path=rel,
                         hint="see the target's rules in tailjit.yaml")
    refuse_staged_changes(repo, "the request commit would take them along")
    text = grant_text(login, target, duration_text, reason, ticket)
    grant = parse_grant(yamlfile.load(text.encode()), rel, target)
    commit = _commit_on_new_branch(repo, head, branch, join(prefix, rel), text, signature,
                                   _message(grant, duration_text))
    base_branch = repo.head.shorthand if not repo.head_is_detached else None
    repo.set_head(f"refs/heads/{branch}")
    (config.root / rel).parent.mkdir(parents=True, exist_ok=True)
    (config.root / rel).write_text(text, encoding="utf-8")
    index = repo.index
    index.read()
    index.add(join(prefix, rel))
    index.write()
    return Requested(grant, branch, str(commit), base_branch, f"{signature.name} <{signature.email}>")


def grant_text(user: str, target: str, duration: str, reason: str, ticket: str | None) -> str:
    """The YAML of a grant file; values are quoted by the YAML emitter where they need it."""
    fields: dict[str, str] = {"user": user, "target": target, "duration": duration.strip(), "reason": reason.strip()}
    if ticket:
        fields["ticket"] = ticket.strip()
    body = yaml.safe_dump(fields, sort_keys=False, allow_unicode=True, default_flow_style=False, width=10_000)
    return "# Requested with tailjit request; the duration starts when this file is merged.\n" + body


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
    """HEAD's tree plus the one file, committed in memory and pointed at by the new branch."""
    index = pygit2.Index()
    index.read_tree(head.tree)
    index.add(pygit2.IndexEntry(path, repo.create_blob(text.encode()), FileMode.BLOB))
    commit = repo.create_commit(None, signature, signature, message, index.write_tree(repo), [head.id])
    repo.branches.local.create(branch, repo[commit].peel(pygit2.Commit))
    return commit


def _message(grant: Grant, duration: str) -> str:
    lines = [f"Request {grant.target} access for {grant.user} ({duration.strip()})", "", grant.reason]
    if grant.ticket:
        lines += ["", f"Ticket: {grant.ticket}"]
    return "\n".join(lines) + "\n"

