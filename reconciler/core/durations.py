"""Durations (``4h``, ``1d12h``, ``90m``) and timestamps (ISO 8601 with a zone)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

_UNITS = {"w": 7 * 86400, "d": 86400, "h": 3600, "m": 60, "s": 1}
_DURATION = re.compile(r"(?:(\d{1,6})([wdhms]))+")
_PART = re.compile(r"(\d{1,6})([wdhms])")
#: Times tailjit accepts lie in these years; anything else is a typo or an attack on date arithmetic.
FIRST_YEAR, LAST_YEAR = 2000, 2100
#: No duration is longer than this (a target allows at most 90 days).
MAX_DURATION = timedelta(days=3650)


def parse_duration(text: str) -> timedelta:
    """Parse ``4h``, ``30m``, ``7d``, ``1d12h``; raise ValueError with a hint otherwise."""
    s = text.strip()
    if not _DURATION.fullmatch(s):
        raise ValueError(f"{text!r} is not a duration: use a number and a unit, e.g. 30m, 4h, 7d or 1d12h")
    seconds = sum(int(n) * _UNITS[u] for n, u in _PART.findall(s))
    if seconds <= 0:
        raise ValueError(f"duration {text!r} must be longer than zero")
    if seconds > MAX_DURATION.total_seconds():
        raise ValueError(f"duration {text!r} is longer than ten years (3650d): no grant lasts that long")
    return timedelta(seconds=seconds)


def format_duration(delta: timedelta) -> str:
    """``1d2h``, ``4h``, ``35m``, ``0s``: the largest units, two at most."""
    seconds = int(delta.total_seconds())
    if seconds <= 0:
        return "0s"
    parts: list[str] = []
    for unit, size in _UNITS.items():
        if unit == "w":
            continue
        n, seconds = divmod(seconds, size)
        if n:
            parts.append(f"{n}{unit}")
        if len(parts) == 2:
            break
    return "".join(parts)


def parse_time(text: str) -> datetime:
    """Parse an ISO 8601 time that carries a zone (``Z`` or ``+02:00``); return it in UTC.

    A naive time is refused: an access grant must not mean different things on
    machines in different time zones. So is a year outside 2000-2100, where
    date arithmetic would overflow.
    """
    s = text.strip()
    try:
        value = datetime.fromisoformat(s)
    except ValueError:
        raise ValueError(f"{text!r} is not an ISO 8601 time, e.g. 2026-11-25T02:00:00Z") from None
    if "T" not in s.upper() and " " not in s:
        raise ValueError(f"{text!r} is a date without a time: write e.g. {s}T18:00:00Z")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{text!r} has no time zone: add Z for UTC or an offset such as +01:00")
    if not FIRST_YEAR <= value.year <= LAST_YEAR:
        raise ValueError(f"{text!r} is outside the years {FIRST_YEAR}-{LAST_YEAR} tailjit accepts")
    return value.astimezone(UTC)


def format_time(value: datetime) -> str:
    """RFC 3339 in UTC with a ``Z``, to the second."""
    if value.tzinfo is UTC and not value.microsecond:  # as parse_time gives it: ``…+00:00`` is the only zone
        return value.isoformat()[:-6] + "Z"
    return value.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
