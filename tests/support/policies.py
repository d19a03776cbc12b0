"""Grants, targets and real policy files the render, plan and diff tests share."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from reconciler import hujson
from reconciler.core.config import Target
from reconciler.core.grants import Grant, GrantStatus, State
from tests.support import corpus

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
TARGETS = {
    "prod": Target("prod", "group:prod", timedelta(hours=8)),
    "staging": Target("staging", "group:staging", timedelta(days=7)),
}


def active(user: str, target: str = "prod", name: str | None = None, hours: int = 2) -> GrantStatus:
    grant = Grant(path=f"policy/grants/{target}/{name or user.split('@')[0]}.yaml", user=user, target=target,
                  reason="r", expires=NOW + timedelta(hours=hours))
    return GrantStatus(grant, State.ACTIVE, NOW, NOW + timedelta(hours=hours))


#: the real policies, as pytest parameters (one placeholder that skips, or fails under CI=true, without them)
CORPUS_FILES = corpus.files(corpus.POLICIES)


def with_target_group(text: bytes) -> tuple[bytes, str]:
    """The corpus policy as a base with a target group: its first group, or a synthetic one added."""
    value = hujson.parse(text)
    data = value.to_python()
    groups = data.get("groups") if isinstance(data, dict) else None
    if isinstance(groups, dict):
        for name, members in groups.items():
            plain = isinstance(members, list) and all(isinstance(m, str) for m in members)
            if plain and name.startswith("group:") and all(c.isalnum() or c in "._-:" for c in name):
                return text, name
        value.patch(b'[{"op": "add", "path": "/groups/group:tailjit-synthetic", "value": []}]')
    else:
        value.patch(b'[{"op": "add", "path": "/groups", "value": {"group:tailjit-synthetic": []}}]')
    return value.pack(), "group:tailjit-synthetic"


