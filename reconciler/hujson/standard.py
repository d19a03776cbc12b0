"""Standard JSON (the reference's standard.go): ``is_standard``, ``standardize`` and ``minimize``."""

from __future__ import annotations

from .parse import parse
from .tree import _WS, Array, Literal, Object, Value, _has_comment, _last_value, _values

_STANDARD_TABLE = bytes(c if c in _WS else 0x20 for c in range(256))  # every non-whitespace byte -> a space


def standardize(data: bytes | str) -> bytes:
    """Parse, standardize and pack: plain JSON with the same line numbers and offsets."""
    value = parse(data)
    value.standardize()
    return value.pack()


def minimize(data: bytes | str) -> bytes:
    """Parse, minimize and pack: the shortest plain JSON."""
    value = parse(data)
    value.minimize()
    return value.pack()


def _is_standard(v: Value) -> bool:
    return _all_standard(_values(v))


def _all_standard(nodes: list[Value]) -> bool:
    for node in nodes:
        if _has_comment(node.before) or _has_comment(node.after):
            return False
        x = node.value
        if not isinstance(x, Literal):
            last = _last_value(x)
            if (last is not None and last.after is not None) or _has_comment(x.after):
                return False
    return True


def _minimize(v: Value) -> None:
    for node in _values(v):
        node.before = b""
        node.after = b""
        x = node.value
        if not isinstance(x, Literal):
            x.after = b""
    for comp in _containers(v):
        last = _last_value(comp)
        if last is not None:
            last.after = None  # no trailing comma


def _containers(v: Value) -> list[Object | Array]:
    return [node.value for node in _values(v) if not isinstance(node.value, Literal)]


def _blank(extra: bytes) -> bytes:
    return extra.translate(_STANDARD_TABLE) if extra.strip(_WS) else extra


def _standardize(v: Value) -> None:
    for node in _values(v):
        node.before = _blank(node.before)
        if node.after:
            node.after = _blank(node.after)
        x = node.value
        if not isinstance(x, Literal):
            last = _last_value(x)
            if last is not None and last.after is not None:  # the trailing comma becomes a space
                x.after = last.after + b" " + x.after
                last.after = None
            x.after = _blank(x.after)
