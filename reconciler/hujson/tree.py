"""The syntax tree (the reference's types.go) and the helpers every layer shares.

``Value``, ``Literal``, ``Member``, ``Object`` and ``Array`` mirror the Go types with
raw bytes: every byte of the input is kept, so ``parse(x).pack() == x``. Whitespace and
comments ("extra") are raw bytes on the value they precede (``before``) or follow
(``after``); see :class:`Value` for where the extra around commas and brackets lives.

At import time the module graph is acyclic: ``tree`` imports no layer; ``pack``,
``find`` and ``parse`` import ``tree``; ``standard`` adds ``parse``; ``format`` adds
``standard``; ``patch`` adds ``parse`` and ``find``; ``__init__`` imports them all.
A :class:`Value` method that belongs to a layer (``pack``, ``find``, ``format``, ...)
imports its layer inside the method body, when called, by which time the package is
loaded; nothing here imports a layer at module level or under ``TYPE_CHECKING`` (the
methods' types are this module's own). So ``Value``'s whole API stays declared in one
place, for readers and mypy, where layers attaching functions to the class would hide
it and make it depend on import order.

Names with a leading underscore are private to the package: the layer modules share
them, and only ``reconciler.hujson`` itself is the public API.
"""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from json import decoder as _json_decoder
from typing import Any

_WS = b" \t\r\n"


class HuJSONError(ValueError):
    """Invalid HuJSON input or a failed patch.

    ``line``/``column`` (1-based, column in bytes) and ``offset`` (0-based byte offset)
    locate parse errors; they are ``None`` for errors that have no position,
    such as a patch operation that cannot be applied.
    """

    def __init__(self, message: str, *, line: int | None = None, column: int | None = None,
                 offset: int | None = None) -> None:
        super().__init__(message)
        self.line = line
        self.column = column
        self.offset = offset



@dataclass(eq=False, slots=True)
class Literal:
    """The exact bytes of a JSON string (with its quotes), number, ``true``, ``false`` or ``null``."""

    raw: bytes

    def is_string(self) -> bool:
        return self.raw[:1] == b'"'

    def to_python(self) -> str | int | float | bool | None:
        """The value as ``json.loads`` gives it (invalid UTF-8 in strings becomes U+FFFD)."""
        raw = self.raw
        first = raw[0]
        if first == 0x22:
            return _decode_string(raw)
        if first == 0x74:
            return True
        if first == 0x66:
            return False
        if first == 0x6E:
            return None
        if b"." in raw or b"e" in raw or b"E" in raw:
            return float(raw)
        return int(raw)

    @classmethod
    def from_python(cls, x: str | int | float | bool | None) -> Literal:
        """Encode a Python scalar like ``json.dumps(x, ensure_ascii=False)``.

        Raises ``ValueError`` for NaN and infinities (not JSON) and ``TypeError`` for
        anything that is not a JSON scalar.
        """
        if type(x) is str and _NEEDS_ESCAPE.search(x) is None:  # the common case, without json.dumps
            text = '"' + x + '"'
        elif x is not None and not isinstance(x, (str, int, float)):
            raise TypeError(f"not a JSON scalar: {type(x).__name__}")
        else:
            text = json.dumps(x, ensure_ascii=False, allow_nan=False)
        try:
            return cls(text.encode("utf-8"))
        except UnicodeEncodeError:  # lone surrogates: keep them as \\u escapes
            return cls(json.dumps(x).encode("ascii"))


@dataclass(eq=False, slots=True)
class Member:
    """One ``name: value`` pair of an object (Go's ObjectMember)."""

    name: Value
    value: Value


@dataclass(eq=False, slots=True)
class Object:
    """A JSON object. ``after`` is the extra after the last member (or its comma) before ``}``."""

    members: list[Member] = field(default_factory=list)
    after: bytes = b""

    def get(self, name: str) -> Member | None:
        """The first member whose decoded name equals ``name``."""
        encoded = name.encode("utf-8", "surrogatepass")
        for member in self.members:
            lit = member.name.value
            if isinstance(lit, Literal) and _name_equals(lit.raw, name, encoded):
                return member
        return None


@dataclass(eq=False, slots=True)
class Array:
    """A JSON array. ``after`` is the extra after the last element (or its comma) before ``]``."""

    elements: list[Value] = field(default_factory=list)
    after: bytes = b""


@dataclass(eq=False, slots=True)
class Value:
    """A value with the extra around it.

    In an array or object, ``after`` is the extra between the value and the following
    comma. For the last element or member value, ``after is not None`` means there is a
    trailing comma (the extra after that comma is in the container's ``after``), and
    ``after is None`` means there is none. For the top-level value, ``before`` and
    ``after`` are the leading and trailing extra of the document.
    """

    value: Literal | Object | Array
    before: bytes = b""
    after: bytes | None = None

    def pack(self) -> bytes:
        """Serialize the tree; byte for byte the parsed input if nothing was changed."""
        from .pack import _pack

        return _pack(self)

    def is_standard(self) -> bool:
        """True when this is plain JSON already: no comments and no trailing commas."""
        from .standard import _is_standard

        return _is_standard(self)

    def clone(self) -> Value:
        """A deep copy."""
        return _clone(self)

    def to_python(self) -> Any:
        """Plain Python data, as ``json.loads`` of the standardized text gives it."""
        return _to_python(self)

    def find(self, pointer: str) -> Value | None:
        """The value at an RFC 6901 JSON pointer, or None when there is none."""
        from .find import _find

        found, err = _find(self, pointer)
        return found.value if err is None else None

    def minimize(self) -> None:
        """Remove all whitespace, comments and trailing commas (in place)."""
        from .standard import _minimize

        _minimize(self)

    def standardize(self) -> None:
        """Make this plain JSON in place: every comment byte and trailing comma becomes a space,
        so line numbers and byte offsets stay the same."""
        from .standard import _standardize

        _standardize(self)

    def format(self) -> None:
        """Format in place with the reference's opinionated rules (like ``go fmt`` for HuJSON)."""
        from .format import _format

        _format(self)

    def patch(self, patch: bytes | str) -> None:
        """Apply an RFC 6902 JSON patch given as (Hu)JSON text.

        Comments around and inside an operation's ``value`` are carried into the
        document. On failure raises :class:`HuJSONError` and leaves the value and every
        node in it exactly as they were (the reference leaves it partly patched).
        """
        from .patch import _apply_patch

        _apply_patch(self, _to_bytes(patch))


def _to_bytes(data: bytes | str) -> bytes:
    if isinstance(data, str):
        try:
            return data.encode("utf-8")
        except UnicodeEncodeError:  # text decoded with surrogateescape, or lone surrogates
            try:
                return data.encode("utf-8", "surrogateescape")
            except UnicodeEncodeError:
                return data.encode("utf-8", "surrogatepass")
    return bytes(data)



# Strings: decoded as Go's json.Unmarshal does, encoded as the reference's hujson.String does.


def _go_replace(err: UnicodeError) -> tuple[str, int]:
    """Like Go's utf8.DecodeRune: every byte that does not start a valid sequence is one U+FFFD."""
    if not isinstance(err, UnicodeDecodeError):
        raise err
    return "\ufffd", err.start + 1


codecs.register_error("hujson-go-replace", _go_replace)

# The C string scanner behind json.loads: (text, index after the opening quote) -> (value, end).
_scanstring: Callable[[str, int], tuple[str, int]] = _json_decoder.scanstring  # type: ignore[attr-defined]
_SURROGATE = re.compile("[\ud800-\udfff]")
_NEEDS_ESCAPE = re.compile('[\x00-\x1f"\\\\]')
_SHORT_ESCAPES = {"\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r", '"': '\\"', "\\": "\\\\"}


def _decode_string(raw: bytes) -> str:
    """Decode a valid JSON string literal like ``json.loads`` (lone surrogate escapes stay)."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("utf-8", "hujson-go-replace")
    if "\\" in text:
        return _scanstring(text, 1)[0]
    return text[1:-1]


def _go_decode_string(raw: bytes) -> str:
    """Decode like Go's json.Unmarshal: lone surrogates become U+FFFD too."""
    text = _decode_string(raw)
    return _SURROGATE.sub("\ufffd", text) if _SURROGATE.search(text) else text


def _escape_char(m: re.Match[str]) -> str:
    ch = m.group()
    return _SHORT_ESCAPES.get(ch) or f"\\u{ord(ch):04x}"


def _go_string_literal(text: str) -> bytes:
    """Encode like the reference's hujson.String: escape only quotes, backslashes and controls."""
    return ('"' + _NEEDS_ESCAPE.sub(_escape_char, text) + '"').encode("utf-8", "surrogatepass")


def _name_equals(raw: bytes, name: str, encoded: bytes) -> bool:
    if b"\\" not in raw and raw[:1] == b'"' and raw[-1:] == b'"':
        return raw[1:-1] == encoded
    return _go_decode_string(raw) == name


_GO_SHORT_ESCAPES = {7: "\\a", 8: "\\b", 12: "\\f", 10: "\\n", 13: "\\r", 9: "\\t", 11: "\\v"}


def _go_quote_rune(ch: str, quote: str) -> str:
    """One character as Go's strconv quoting writes it inside ``quote`` marks."""
    if ch == quote or ch == "\\":
        return "\\" + ch
    if ch.isprintable():
        return ch
    code = ord(ch)
    short = _GO_SHORT_ESCAPES.get(code)
    if short:
        return short
    if code < 0x20 or code == 0x7F:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"



# Walking the tree without recursion.


def _children(x: Object | Array) -> list[Value]:
    """Names and values of an object (interleaved), or the elements of an array."""
    if isinstance(x, Object):
        out: list[Value] = []
        for m in x.members:
            out.append(m.name)
            out.append(m.value)
        return out
    return x.elements


def _last_value(x: Object | Array) -> Value | None:
    if isinstance(x, Object):
        return x.members[-1].value if x.members else None
    return x.elements[-1] if x.elements else None


def _values(v: Value) -> list[Value]:
    """Every value of the tree (member names included), parents before children."""
    out = []
    stack = [v]
    while stack:
        node = stack.pop()
        out.append(node)
        x = node.value
        if not isinstance(x, Literal):
            stack.extend(reversed(_children(x)))
    return out


# Extra: the whitespace and comments around values.


def _has_comment(extra: bytes | None) -> bool:
    return extra is not None and bool(extra.strip(_WS))



def _ws_len(b: bytes, start: int = 0) -> int:
    """Length of the run of JSON whitespace at ``b[start:]`` (Go's consumeWhitespace)."""
    return len(b) - start - len(b[start:].lstrip(_WS))


def _comment_len(b: bytes, start: int = 0) -> int:
    """Length of the comment at ``b[start:]``: 0 if there is none, -1 if it has no end."""
    if b.startswith(b"//", start):
        end = b.find(b"\n", start + 2)
        return -1 if end < 0 else end + 1 - start
    if b.startswith(b"/*", start):
        end = b.find(b"*/", start + 2)
        return -1 if end < 0 else end + 2 - start
    return 0



def _clone(v: Value) -> Value:
    root = Value(v.value, v.before, v.after)
    stack = [root]
    while stack:
        node = stack.pop()
        x = node.value
        if type(x) is Literal:
            node.value = Literal(x.raw)
        elif type(x) is Object:
            members = []
            for m in x.members:
                n, val = m.name, m.value
                name = Value(n.value, n.before, n.after)
                value = Value(val.value, val.before, val.after)
                members.append(Member(name, value))
                stack.append(name)
                stack.append(value)
            node.value = Object(members, x.after)
        elif isinstance(x, Array):
            elements = [Value(e.value, e.before, e.after) for e in x.elements]
            stack.extend(elements)
            node.value = Array(elements, x.after)
    return root


def _to_python(v: Value) -> Any:
    x = v.value
    if type(x) is Literal:
        return x.to_python()
    root: Any = {} if type(x) is Object else []
    stack: list[tuple[Any, Any]] = [(x, root)]
    new: Any
    while stack:
        src, dst = stack.pop()
        if type(src) is Object:
            for m in src.members:
                key = m.name.value.to_python()  # type: ignore[union-attr]
                child = m.value.value
                if type(child) is Literal:
                    dst[key] = child.to_python()
                else:
                    dst[key] = new = {} if type(child) is Object else []
                    stack.append((child, new))
        else:
            for e in src.elements:
                child = e.value
                if type(child) is Literal:
                    dst.append(child.to_python())
                else:
                    new = {} if type(child) is Object else []
                    dst.append(new)
                    stack.append((child, new))
    return root

