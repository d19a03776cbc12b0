"""What the tailnet says about the credential and the people in grant files: warnings, never errors. Pure.

An API access token expires after at most 90 days, and the first sign used to be
a failed revocation: `key_warning` says so while there is time. A grant for a
login the tailnet does not know grants nothing until that account appears (and
then at once), and a suspended user's grant grants nothing: `user_problems`
flags both for the reviewer. Neither ever stops a run.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from reconciler.core.durations import format_time
from reconciler.core.grants import GrantStatus, State

#: How to move off an expiring API key, for every warning that names one.
MOVE_HINT = ("move to an OAuth client or workload identity federation, which do not expire (docs/credentials.md), "
             "or create a new key and update the secret")


@dataclass(frozen=True)
class TailnetUser:
    """A user of the tailnet as ``GET /api/v2/tailnet/{tailnet}/users`` lists them."""

    login: str
    status: str = "active"


def key_warning(source: str, expires: datetime, now: datetime, warn_days: int) -> str | None:
    """A warning when the API access token from ``source`` expires in fewer than ``warn_days`` days (0: never)."""
    if warn_days <= 0:
        return None
    left = expires - now
    if left >= timedelta(days=warn_days):
        return None
    if left <= timedelta(0):
        return f"the API access token from {source} expired at {format_time(expires)}: {MOVE_HINT}"
    days = left.days
    when = f"in {days} day{'' if days == 1 else 's'}" if days else "within a day"
    return f"the API access token from {source} expires {when} ({format_time(expires)}): {MOVE_HINT}"


def users_by_login(users: Iterable[TailnetUser]) -> dict[str, TailnetUser]:
    """Logins compare without regard to case, as Tailscale's do."""
    return {user.login.lower(): user for user in users}


def user_problems(statuses: Sequence[GrantStatus], users: Mapping[str, TailnetUser]) -> list[str]:
    """One line per active or pending grant whose login is not a user of the tailnet, or is suspended."""
    found = []
    for status in sorted(statuses, key=lambda s: s.grant.name):
        if status.state not in (State.ACTIVE, State.PENDING):
            continue
        user = users.get(status.grant.user.lower())
        where = f"{status.grant.user} ({status.grant.name})"
        if user is None:
            found.append(f"{where} is not a user of this tailnet: the grant gives nothing until that account "
                         "exists, and then at once; check the login")
        elif user.status == "suspended":
            found.append(f"{where} is suspended in this tailnet: the grant gives nothing while the user is")
    return found
