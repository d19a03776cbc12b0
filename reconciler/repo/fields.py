"""Reading the values of a YAML mapping with ``path:line`` errors: the base of the tailjit.yaml reader.

A reader raises `ConfigError` for the value at fault; `FieldReader.attempt` records it and goes on, so
that one run reports every problem of a file.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from datetime import timedelta
from typing import TypeVar

from reconciler.core.config import MAX_DURATION_CEILING
from reconciler.core.durations import parse_duration
from reconciler.errors import ConfigError
from reconciler.repo import yamlfile
from reconciler.repo.yamlfile import YList, YMap, YScalar

_T = TypeVar("_T")


class FieldReader:
    """Reads the values of one file's mappings; ``problems`` collects what `attempt` caught."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.problems: list[ConfigError] = []

    def error(self, message: str, line: int, hint: str | None = None) -> ConfigError:
        return ConfigError(message, path=self.path, line=line, hint=hint)

    def attempt(self, read: Callable[[], _T], default: _T) -> _T:
        """``read()``, or ``default`` with its `ConfigError` recorded."""
        try:
            return read()
        except ConfigError as e:
            self.problems.append(e)
            return default

    def unknown_keys(self, node: YMap, allowed: set[str], what: str) -> None:
        """Records every key not in ``allowed``, with the nearest allowed one as the hint."""
        for key in node:
            if key not in allowed:
                close = difflib.get_close_matches(key, allowed, n=1)
                self.problems.append(self.error(
                    f"unknown {what} {key!r}", node.line_of(key),
                    hint=f"did you mean {close[0]!r}?" if close else f"expected one of: {', '.join(sorted(allowed))}"))

    def opt_str(self, node: YMap, key: str) -> str | None:
        value = node.get(key)
        if yamlfile.is_null(value):
            return None
        if not isinstance(value, YScalar):
            raise self.error(f"{key!r} must be a string", node.line_of(key))
        return value.value

    def checked(self, node: YMap, key: str, problem: Callable[[str], str | None]) -> str | None:
        """The string at ``key`` (None when absent), refused at its line when ``problem`` finds one."""
        value = self.opt_str(node, key)
        found = None if value is None else problem(value)
        if found is not None:
            raise self.error(f"{key!r}: {found}", value_line(node, key))
        return value

    def str_(self, node: YMap, key: str, default: str) -> str:
        value = self.opt_str(node, key)
        return default if value is None else value

    def str_list(self, node: YMap, key: str) -> tuple[str, ...]:
        value = node.get(key)
        if yamlfile.is_null(value):
            return ()
        if not isinstance(value, YList) or not all(isinstance(i, YScalar) for i in value):
            raise self.error(f"{key!r} must be a list of strings", node.line_of(key))
        return tuple(i.value for i in value if isinstance(i, YScalar))

    def duration(self, node: YMap, key: str, what: str) -> timedelta | None:
        raw = self.opt_str(node, key)
        if raw is None:
            return None
        try:
            value = parse_duration(raw)
        except ValueError as e:
            raise self.error(str(e), node.line_of(key)) from None
        if value > MAX_DURATION_CEILING:
            raise self.error(f"{key} {raw} of {what} exceeds the 90d ceiling",
                             node.line_of(key))
        return value

    def number(self, node: YMap, key: str, default: float, *, integer: bool) -> float:
        raw = self.opt_str(node, key)
        if raw is None:
            return default
        try:
            value = int(raw) if integer else float(raw)
        except ValueError:
            raise self.error(f"{key!r} must be a {'whole ' if integer else ''}number", node.line_of(key)) from None
        if value < 0:
            raise self.error(f"{key!r} must not be negative", node.line_of(key))
        return value

    def share(self, node: YMap, key: str, default: float) -> float:
        value = self.number(node, key, default, integer=False)
        if not 0 <= value <= 1:
            raise self.error(f"{key!r} is a share between 0 and 1 (0.3 = 30%)", node.line_of(key))
        return value


def value_line(node: YMap, key: str) -> int:
    """The line of ``key``'s value (a value may sit on the line after its key)."""
    value = node.get(key)
    return value.line if isinstance(value, YScalar | YList | YMap) else node.line_of(key)
