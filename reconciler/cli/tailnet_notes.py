"""Warnings from the tailnet that never stop a run: the API key's expiry, grants for logins that are not users.

Both are extra reads (``GET …/keys/{id}``, at most once a day; ``GET …/users``,
by plan only) made after the work is done, and a failure of either is a note
at most: a revocation never waits on them.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import click

from reconciler.backends import tailscale_backend
from reconciler.backends.base import Backend
from reconciler.cli.output import report_error
from reconciler.core.config import Config
from reconciler.core.durations import format_time, parse_time
from reconciler.core.grants import GrantStatus
from reconciler.core.tailnet import key_warning, user_problems, users_by_login
from reconciler.errors import CredentialError, TailjitError
from reconciler.github import actions
from reconciler.watch import state_dir

#: The key's expiry is asked for again after this long (by apply, plan and ``apply --watch``).
KEY_CHECK_EVERY = timedelta(hours=24)
#: Where the last answer is kept, under ``.tailjit/``.
KEY_CACHE = "api-key.json"


def key_notes(backend: Backend, config: Config, now: datetime) -> list[str]:
    """A warning when the API access token in use expires within ``warn_key_days``; nothing otherwise (nor when
    the expiry cannot be read: `doctor` shows why).

    The expiry is asked for at most once a day per key (kept in ``.tailjit/api-key.json``: the key's id and
    expiry, never the key), so that a converged run stays one GET.
    """
    api = tailscale_backend(backend)
    if api is None or config.warn_key_days <= 0:
        return []
    key_id = api.credential.api_key_id()
    if key_id is None:
        return []
    cache = state_dir(config.root) / KEY_CACHE
    cached, expires = _cached_expiry(cache, key_id, now)
    if not cached:
        try:
            expires = api.key_expiry()
        except TailjitError:
            expires = None  # kept too: not asked again today
        _save_expiry(cache, key_id, expires, now)
    if expires is None:
        return []
    warning = key_warning(api.credential.source, expires, now, config.warn_key_days)
    return [] if warning is None else [warning]


def _cached_expiry(cache: Path, key_id: str, now: datetime) -> tuple[bool, datetime | None]:
    """``(found, expiry)`` from the cache: found when it holds an answer for this key from the last day."""
    try:
        data = json.loads(cache.read_text(encoding="utf-8"))
        checked = parse_time(data["checked"])
        expires = None if data["expires"] is None else parse_time(data["expires"])
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return False, None
    if data.get("id") != key_id or not timedelta(0) <= now - checked < KEY_CHECK_EVERY:
        return False, None
    return True, expires


def _save_expiry(cache: Path, key_id: str, expires: datetime | None, now: datetime) -> None:
    record = {"id": key_id, "expires": None if expires is None else format_time(expires), "checked": format_time(now)}
    with contextlib.suppress(OSError):  # only a cache: the next run asks again
        cache.write_text(json.dumps(record), encoding="utf-8")


@dataclass
class UserCheck:
    """Grants for logins that are not users of the tailnet, or are suspended; ``note`` when not checked."""

    problems: list[str] = field(default_factory=list)
    note: str | None = None


def user_notes(backend: Backend, statuses: Sequence[GrantStatus]) -> UserCheck:
    api = tailscale_backend(backend)
    if api is None:
        return UserCheck()
    try:
        users = api.users()
    except CredentialError:
        return UserCheck(note="grant users not checked against the tailnet: this credential may not list users "
                              "(users:read)")
    except TailjitError as e:
        return UserCheck(note=f"grant users not checked against the tailnet: {e}")
    return UserCheck(user_problems(statuses, users_by_login(users)))


class KeyWatch:
    """For ``apply --watch``: the key's expiry, looked at on the first cycle and then once a day."""

    def __init__(self, backend: Backend, config: Config) -> None:
        self.backend = backend
        self.config = config
        self.checked: datetime | None = None

    def due(self, now: datetime) -> list[str]:
        if self.checked is not None and now - self.checked < KEY_CHECK_EVERY:
            return []
        self.checked = now
        return key_notes(self.backend, self.config, now)


def show_notes(warnings: Sequence[str], note: str | None = None, *, summary: bool = False) -> None:
    """Print ``warnings`` (and ``note``) on stderr; with ``summary``, also into the job summary in Actions."""
    for warning in warnings:
        report_error(warning, level="warning")
        if summary:
            actions.summary_markdown(f"> [!WARNING]\n> {warning}")
    if note:
        click.echo(f"note: {note}", err=True)
