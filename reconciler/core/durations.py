"""Durations (``4h``, ``1d12h``, ``90m``) and timestamps (ISO 8601 with a zone)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

_UNITS = {"w": 7 * 86400, "d": 86400, "h": 3600, "m": 60, "s": 1}
_DURATION = re.compile(r"(?:(\d{1,6})([wdhms]))+")
_PART = re.compile(r"(\d{1,6})([wdhms])")


def parse_duration(text: str) -> timedelta:
    """Parse ``4h``, ``30m``, ``7d``, ``1d12h``; raise ValueError with a hint otherwise."""
    s = text.strip()
    if not _DURATION.fullmatch(s):
        raise ValueError(f"{text!r} is not a duration: use a number and a unit, e.g. 30m, 4h, 7d or 1d12h")
    seconds = sum(int(n) * _UNITS[u] for n, u in _PART.findall(s))
    if seconds <= 0:
        raise ValueError(f"duration {text!r} must be longer than zero")
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
    machines in different time zones.
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
    return value.astimezone(UTC)


def format_time(value: datetime) -> str:
    """RFC 3339 in UTC with a ``Z``, to the second."""
    return value.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
