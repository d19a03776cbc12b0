"""What git knows of each grant file, for events: requester, approver, pull request, who removed it.

Read from the branch's history (`reconciler.git.audit`) only when there are
events to send. Without git (no clone, a shallow one, a broken repository)
events simply carry less: nothing here ever fails an apply.
"""

from __future__ import annotations

import logging

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
        repo = open_repository(config.root)
        origin = _origin_url(repo) if repo is not None else None
    except (TailjitError, pygit2.GitError, OSError) as e:
        log.debug("no git facts for notifications: %s", e)
        return {}
    found: dict[str, GitFacts] = {}
    for r in records:
        link = pull_request_url(origin, r.pull_request) if origin and r.pull_request is not None else None
        found["/".join(r.path.split("/")[-2:])] = GitFacts(
            requested_by=r.requested_by, approved_by=r.approved_by, pull_request=link, removed_at=r.removed_at,
            removed_by=r.removed_by, start=r.active_from, reason=r.reason, ticket=r.ticket)
    return found


def _origin_url(repo: pygit2.Repository) -> str | None:
    try:
        url = repo.remotes["origin"].url
    except (KeyError, ValueError):
        return None
    return str(url) if url else None
