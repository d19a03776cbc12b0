"""What git knows of each grant file, for events: requester, approver, pull request, who removed it.

Read from the branch's history (`reconciler.git.audit`) only when there are
events to send. Without git (no clone, a shallow one, a broken repository)
events simply carry less: nothing here ever fails an apply.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import pygit2

from reconciler.core.config import Config
from reconciler.errors import TailjitError
from reconciler.git import audit
from reconciler.git.history import open_repository
from reconciler.git.remote import pull_request_url
from reconciler.notify.events import GitFacts

log = logging.getLogger(__name__)


def git_facts(config: Config) -> dict[str, GitFacts]:
    """``{"prod/alice.yaml": GitFacts(...)}`` for every grant file in the history; the latest merge of a name wins."""
    try:
        records = audit.history(config)
    except (TailjitError, pygit2.GitError, OSError) as e:
        log.debug("no git facts for notifications: %s", e)
        return {}
    link_to = pull_request_link(config)
    found: dict[str, GitFacts] = {}
    for r in records:
        link = link_to(r.pull_request) if r.pull_request is not None else None
        found["/".join(r.path.split("/")[-2:])] = GitFacts(
            requested_by=r.requested_by, approved_by=r.approved_by, pull_request=link, removed_at=r.removed_at,
            removed_by=r.removed_by, start=r.active_from, reason=r.reason, ticket=r.ticket)
    return found


def pull_request_link(config: Config) -> Callable[[int], str | None]:
    """Pull request number → its page, from the ``origin`` remote when it is on GitHub (else always None)."""
    try:
        repo = open_repository(config.root)
        url = repo.remotes["origin"].url if repo is not None else None
    except (KeyError, ValueError, TailjitError, pygit2.GitError, OSError):
        url = None
    origin = str(url) if url else None
    return lambda number: pull_request_url(origin, number) if origin else None
