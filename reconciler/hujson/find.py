"""JSON pointers (the reference's find.go, RFC 6901): ``Value.find`` and the lookups patch needs."""

from __future__ import annotations

import re
from dataclasses import dataclass

from .tree import Array, Literal, Object, Value, _name_equals

_NOT_FOUND = "value not found"
_INDEX = re.compile(r"[0-9]+")


@dataclass(slots=True)
class _Found:
    """Where a pointer led: the value, and the container and slot it sits in (None for the root)."""

    value: Value
    parent: Object | Array | None = None
    name: str = ""
    index: int = 0
    at_end: bool = False  # the failing token was the pointer's last


def _find(v: Value, pointer: str) -> tuple[_Found, str | None]:
    """Resolve ``pointer``; on failure also return what the reference reports.

    A missing last token still tells where the value would go (``parent``, ``index``),
    which is what an ``add`` needs.
    """
    s = _Found(v)
    offset = 0
    while True:
        if offset == len(pointer):
            return s, None
        comp = s.value.value
        if isinstance(comp, Literal):
            return s, f"invalid pointer: cannot index into literal at {pointer[:offset]}"
        s.parent, s.index, s.name = None, 0, ""
        if not pointer.startswith("/", offset):
            return s, "invalid pointer: lacks a forward slash prefix"
        end = pointer.find("/", offset + 1)
        end = len(pointer) if end < 0 else end
        token = pointer[offset + 1:end]
        offset = end
        s.at_end = offset == len(pointer)
        if "~" in token:
            token = token.replace("~1", "/").replace("~0", "~")
        s.parent, s.name = comp, token
        if isinstance(comp, Object):
            s.index = len(comp.members)
            encoded = token.encode("utf-8", "surrogatepass")
            for i, m in enumerate(comp.members):
                lit = m.name.value
                if type(lit) is Literal and _name_equals(lit.raw, token, encoded):
                    s.index, s.value = i, m.value
                    break
            else:
                return s, _NOT_FOUND
        else:
            elements = comp.elements
            s.index = len(elements)
            if token == "-":
                return s, _NOT_FOUND
            i = int(token) if _INDEX.fullmatch(token) else -1
            if i < 0 or i >= 1 << 64 or (i == 0 and token != "0"):
                return s, f"invalid array index: {token}"
            if i >= len(elements):
                return s, _NOT_FOUND
            s.index, s.value = i, elements[i]

