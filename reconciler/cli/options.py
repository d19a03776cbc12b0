"""Click parameter types that more than one command takes: times and durations as tailjit reads them."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import click

from reconciler.core.config import backend_problem
from reconciler.core.durations import parse_duration, parse_time
from reconciler.watch import MIN_INTERVAL


class Time(click.ParamType[datetime, Any]):
    """An ISO 8601 time with a zone, for ``--at``."""

    name = "TIME"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> datetime:
        if isinstance(value, datetime):
            return value
        try:
            return parse_time(str(value))
        except ValueError as e:
            self.fail(str(e), param, ctx)


class TimeText(click.ParamType[tuple[datetime, str], Any]):
    """An ISO 8601 time with a zone, with the text as given (for messages that name what was typed)."""

    name = "TIME"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> tuple[datetime, str]:
        if isinstance(value, tuple):
            return value
        try:
            return parse_time(str(value)), str(value)
        except ValueError as e:
            self.fail(str(e), param, ctx)


class Duration(click.ParamType[tuple[timedelta, str], Any]):
    """A duration such as ``4h``, ``90m``, ``1d12h``, with the text as given (a bad one is a usage error)."""

    name = "DURATION"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> tuple[timedelta, str]:
        if isinstance(value, tuple):
            return value
        try:
            return parse_duration(str(value)), str(value)
        except ValueError as e:
            self.fail(str(e), param, ctx)


AT_OPTION = click.option("--at", "at", type=Time(), default=None,
                         help="Evaluate grants at this time instead of now (ISO 8601 with a zone, "
                              "e.g. 2026-11-25T09:00:00Z).")


def interval_option(ctx: click.Context, param: click.Parameter, value: str | None) -> timedelta | None:
    if value is None:
        return None
    try:
        interval = parse_duration(value)
    except ValueError as e:
        raise click.BadParameter(str(e)) from None
    if interval < MIN_INTERVAL:
        raise click.BadParameter("must be at least 1s")
    return interval


def backend_option(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """``--backend``: 'tailscale' or 'file:PATH'; anything else is a usage error."""
    problem = None if value is None else backend_problem(value)
    if problem is not None:
        raise click.BadParameter(problem)
    return value


class PositiveInt(click.ParamType[int, Any]):
    """A whole number of at least 1 (a pull request's number), without click's ``[x>=1]`` in the help."""

    name = "NUMBER"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        try:
            number = int(value)
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not a whole number", param, ctx)
        if number < 1:
            self.fail(f"{value!r} is not a pull request number (1 or more)", param, ctx)
        return number
