"""HuJSON (JSON with comments and trailing commas), byte-exact like github.com/tailscale/hujson.

The syntax tree mirrors the Go library's: every byte of the input is kept, so
``parse(x).pack() == x``. Whitespace and comments ("extra") are raw bytes on the
value they precede (``before``) or follow (``after``); see :class:`Value` for
where the extra around commas and brackets lives.

Everything here is iterative: nesting depth is limited only by memory, never by
Python's recursion limit. Parsing tokenizes with one large compiled regular
expression (``re.findall`` hands back ``(extra, token, rest)`` triples produced in C)
and a small state machine builds the tree, so the per-token Python work is a few
comparisons and one or two object creations.

Error messages follow the reference word for word:
``hujson: line L, column C: <what>`` (line and column are 1-based, the column counts bytes).
"""

from __future__ import annotations

import codecs
import functools
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from json import decoder as _json_decoder
from operator import length_hint
from typing import Any

__all__ = [
    "Array",
    "HuJSONError",
    "Literal",
    "Member",
    "Object",
    "Value",
    "format",
    "minimize",
    "parse",
    "standardize",
]

_PUNCH_CARD_WIDTH = 80  # lines longer than this get their container expanded
_WS = b" \t\r\n"
# Go's unicode.IsSpace, used where the reference trims with bytes.TrimRightFunc.
_GO_SPACE = "\t\n\v\f\r \x85\xa0\u1680" + "".join(map(chr, range(0x2000, 0x200B))) + "\u2028\u2029\u202f\u205f\u3000"
_STANDARD_TABLE = bytes(c if c in _WS else 0x20 for c in range(256))


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


# ---------------------------------------------------------------------------
# The syntax tree
# ---------------------------------------------------------------------------


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
        return _pack(self)

    def is_standard(self) -> bool:
        """True when this is plain JSON already: no comments and no trailing commas."""
        return _is_standard(self)

    def clone(self) -> Value:
        """A deep copy."""
        return _clone(self)

    def to_python(self) -> Any:
        """Plain Python data, as ``json.loads`` of the standardized text gives it."""
        return _to_python(self)

    def find(self, pointer: str) -> Value | None:
        """The value at an RFC 6901 JSON pointer, or None when there is none."""
        found, err = _find(self, pointer)
        return found.value if err is None else None

    def minimize(self) -> None:
        """Remove all whitespace, comments and trailing commas (in place)."""
        _minimize(self)

    def standardize(self) -> None:
        """Make this plain JSON in place: every comment byte and trailing comma becomes a space,
        so line numbers and byte offsets stay the same."""
        _standardize(self)

    def format(self) -> None:
        """Format in place with the reference's opinionated rules (like ``go fmt`` for HuJSON)."""
        _format(self)

    def patch(self, patch: bytes | str) -> None:
        """Apply an RFC 6902 JSON patch given as (Hu)JSON text.

        Comments around and inside an operation's ``value`` are carried into the
        document. On failure raises :class:`HuJSONError` and leaves the value and every
        node in it exactly as they were (the reference leaves it partly patched).
        """
        _apply_patch(self, _to_bytes(patch))


def parse(data: bytes | str) -> Value:
    """Parse HuJSON. Raises :class:`HuJSONError` with the reference's message and position."""
    return _parse(_to_bytes(data))


def format(data: bytes | str) -> bytes:
    """Parse, format and pack. Raises :class:`HuJSONError` on invalid input."""
    value = parse(data)
    value.format()
    return value.pack()


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


# ---------------------------------------------------------------------------
# Strings: Go's decoding (json.Unmarshal) and encoding (hujson.String)
# ---------------------------------------------------------------------------


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


def _go_quote(text: str) -> str:
    """Go's %q of a string."""
    return '"' + "".join(_go_quote_rune(ch, '"') for ch in text) + '"'


def _quote_char_at(b: bytes, pos: int) -> str:
    """Go's %q of the character at ``b[pos]``: a rune, or ``'\\xNN'`` for a byte that is not UTF-8."""
    for size in (1, 2, 3, 4):
        try:
            ch = b[pos:pos + size].decode("utf-8")
        except UnicodeDecodeError:
            continue
        return "'" + _go_quote_rune(ch, "'") + "'"
    return f"'\\x{b[pos]:02x}'"


# ---------------------------------------------------------------------------
# Parsing
# ---------------------------------------------------------------------------

# Possessive quantifiers (*+, ++) and atomic groups spare the regex engine its backtracking bookkeeping.
_BLOCK_COMMENT = rb"/\*[^*]*+\*++(?:[^/*][^*]*+\*++)*+/"
_EXTRA = rb"[ \t\r\n]*+(?:(?://[^\n]*+\n|" + _BLOCK_COMMENT + rb")[ \t\r\n]*+)*+"
_STRING = rb'"[^"\\\x00-\x1f]*+(?:\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4})[^"\\\x00-\x1f]*+)*+"'
_SCALAR = rb"(?>-?(?:0|[1-9][0-9]*+)(?:\.[0-9]++)?(?:[eE][+-]?[0-9]++)?|true|false|null)(?![-+.a-zA-Z0-9])"
# One match = (extra, token, rest). ``token`` is punctuation or a valid string or scalar;
# when no token fits, ``rest`` swallows the remainder of the input (empty at the end).
_TOKENS = re.compile(b"(" + _EXTRA + rb")(?:([\[\]{},:]|" + _STRING + b"|" + _SCALAR + rb")|([\s\S]*))")
_COMMENT = re.compile(rb"//[^\n]*+\n|" + _BLOCK_COMMENT)
_LITERAL_RUN = re.compile(rb"[-+.a-zA-Z0-9]*")
_ANY_STRING = re.compile(rb'"[^"\\]*(?:\\[\s\S][^"\\]*)*"')
_PUNCT = frozenset(b"[]{},:")

# Parser states: what the next token may be.
_S_VALUE = 0  # a value (or ']' when directly inside an array)
_S_NAME = 1  # an object member name (or '}')
_S_COLON = 2  # the ':' after a name
_S_AFTER = 3  # ',' or a closing bracket after a value (or the end, at top level)
_S_BADNAME = 4  # a non-string name was read; its error is due once its trailing extra is consumed


def _parse(b: bytes) -> Value:
    # The hot loop: states are the _S_* numbers written as literals, classes bound to locals.
    toks: list[tuple[bytes, bytes, bytes]] = _TOKENS.findall(b)
    it = iter(toks)
    check_utf8 = not b.isascii()
    punct = _PUNCT
    value_cls, literal_cls, member_cls, array_cls = Value, Literal, Member, Array
    stack: list[Any] = []
    push, pop = stack.append, stack.pop
    top: Any = None  # the innermost open Object or Array
    in_array = False
    state = 0  # _S_VALUE
    root: Value | None = None
    name: Any = None  # the pending member name
    bad_names: dict[Any, int] = {}  # container -> token index, for containers used as names
    bad_index = -1
    for extra, tok, _rest in it:
        if check_utf8 and extra and not extra.isascii():
            _check_extra_utf8(b, toks, len(toks) - length_hint(it) - 1)
        if not tok:
            break
        c = tok[0]
        if state == 3:  # _S_AFTER: ',' or a closing bracket
            if c == 0x2C:
                if in_array:
                    top.elements[-1].after = extra
                    state = 0
                elif top is not None:
                    top.members[-1].value.after = extra
                    state = 1
                else:
                    break
                continue
            if not ((c == 0x5D and in_array) or (c == 0x7D and top is not None and not in_array)):
                break
        # A closing bracket after a value, right after its opening one, or after a trailing comma.
        if (c == 0x7D and (state == 1 or state == 3)) or (c == 0x5D and in_array and (state == 0 or state == 3)):
            top.after = extra
            closed = pop()
            top = stack[-1] if stack else None
            in_array = type(top) is array_cls
            state = 3
            if bad_names and closed in bad_names:
                state, bad_index = 4, bad_names[closed]
            continue
        if state == 1:  # _S_NAME
            if c == 0x22:
                name = value_cls(literal_cls(tok), extra)
                state = 2
                continue
            if c in punct and c != 0x7B and c != 0x5B:
                break
            # A name that is not a string: the reference parses the whole value
            # (and the extra after it) before it complains.
            index = len(toks) - length_hint(it) - 1
            if c not in punct:
                state, bad_index = 4, index
                continue
            container: Object | Array = Object([]) if c == 0x7B else array_cls([])
            bad_names[container] = index
            push(container)
            top, in_array = container, c == 0x5B
            state = 1 if c == 0x7B else 0
            continue
        if state == 2:  # _S_COLON
            if c != 0x3A:
                break
            name.after = extra
            state = 0
            continue
        if state != 0:  # _S_BADNAME: its error is due
            break
        if c not in punct:
            node = value_cls(literal_cls(tok), extra)
            state = 3
        elif c == 0x7B or c == 0x5B:
            container = Object([]) if c == 0x7B else array_cls([])
            node = value_cls(container, extra)
            if top is None:
                root = node
            elif in_array:
                top.elements.append(node)
            else:
                top.members.append(member_cls(name, node))
            push(container)
            top, in_array = container, c == 0x5B
            state = 1 if c == 0x7B else 0
            continue
        else:
            break
        if in_array:
            top.elements.append(node)
        elif top is not None:
            top.members.append(member_cls(name, node))
        else:
            root = node
    if state == 3 and top is None and not tok and not _rest and root is not None:
        root.after = extra
        return root
    index = len(toks) - length_hint(it) - 1
    raise _syntax_error(b, toks, index, state, top, in_array, bad_index)


def _offset_of(toks: list[tuple[bytes, bytes, bytes]], index: int) -> int:
    return sum(len(e) + len(t) + len(r) for e, t, r in toks[:index])


def _error_at(b: bytes, offset: int, what: str) -> HuJSONError:
    line = b.count(b"\n", 0, offset) + 1
    column = offset - (b.rfind(b"\n", 0, offset) + 1) + 1
    return HuJSONError(f"hujson: line {line}, column {column}: {what}", line=line, column=column, offset=offset)


def _check_extra_utf8(b: bytes, toks: list[tuple[bytes, bytes, bytes]], index: int) -> None:
    """Comments must be valid UTF-8; report the first comment that is not."""
    extra = toks[index][0]
    try:
        extra.decode("utf-8")
    except UnicodeDecodeError as err:
        # Whitespace is ASCII, so the bad byte is in a comment: the last one starting before it.
        start = max(m.start() for m in _COMMENT.finditer(extra) if m.start() <= err.start)
        raise _error_at(b, _offset_of(toks, index) + start, "invalid UTF-8 in comment") from None


def _syntax_error(b: bytes, toks: list[tuple[bytes, bytes, bytes]], index: int, state: int,
                  top: Object | Array | None, in_array: bool, bad_index: int) -> HuJSONError:
    """Work out the reference's error for the token (or remainder) at ``toks[index]``."""
    extra, tok, rest = toks[index]
    pos = _offset_of(toks, index) + len(extra)
    if rest[:2] in (b"//", b"/*"):  # a comment the tokenizer could not match has no end
        return _error_at(b, pos, "parsing comment: unexpected EOF")
    if state == _S_BADNAME:
        name_pos = _offset_of(toks, bad_index) + len(toks[bad_index][0])
        return _error_at(b, name_pos, f"invalid character {_quote_char_at(b, name_pos)} at start of object name")
    if not tok and not rest:
        if state in (_S_VALUE, _S_NAME):
            what = "parsing value"
        elif state == _S_COLON:
            what = "parsing object after name"
        else:
            what = "parsing array after value" if in_array else "parsing object after value"
        return _error_at(b, len(b), f"{what}: unexpected EOF")
    char = _quote_char_at(b, pos)
    if state in (_S_VALUE, _S_NAME):
        if tok:
            return _error_at(b, pos, f"invalid character {char} at start of value")
        if rest[:1] == b'"':
            m = _ANY_STRING.match(rest)
            if m is None:
                return _error_at(b, len(b), "parsing string: unexpected EOF")
            return _error_at(b, pos, "invalid literal: " + m.group().decode("utf-8", "replace"))
        run = _LITERAL_RUN.match(rest)
        if run is None or not run.group():
            return _error_at(b, pos, f"invalid character {char} at start of value")
        return _error_at(b, pos, "invalid literal: " + run.group().decode("ascii"))
    if state == _S_COLON:
        return _error_at(b, pos, f"invalid character {char} after object name")
    assert state == _S_AFTER
    if top is None:
        return _error_at(b, pos, f"invalid character {char} after top-level value")
    if in_array:
        return _error_at(b, pos, f"invalid character {char} after array value (expecting ',' or ']')")
    return _error_at(b, pos, f"invalid character {char} after object value (expecting ',' or '}}')")


# ---------------------------------------------------------------------------
# Walking the tree without recursion
# ---------------------------------------------------------------------------


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


def _containers(v: Value) -> list[Object | Array]:
    return [node.value for node in _values(v) if not isinstance(node.value, Literal)]


def _pack(v: Value) -> bytes:
    """Iterative pack: a stack of pending chunks (bytes) and values still to expand.

    A literal child is folded, with its comma and extra, into one chunk when its
    container is expanded, so most of the tree costs one push and one pop per value.
    """
    out: list[bytes] = []
    append = out.append
    stack: list[Any] = [v]
    pop, push = stack.pop, stack.append
    literal_cls, object_cls = Literal, Object
    join = b"".join
    while stack:
        node = pop()
        if type(node) is bytes:
            append(node)
            continue
        x = node.value
        after = node.after
        append(node.before)
        if type(x) is literal_cls:
            append(x.raw)
            if after:
                append(after)
            continue
        if type(x) is object_cls:
            append(b"{")
            push(x.after + b"}" + after if after else x.after + b"}")
            members = x.members
            if members and members[-1].value.after is not None:
                push(b",")
            for i in range(len(members) - 1, -1, -1):
                m = members[i]
                name, value = m.name, m.value
                comma = b"," if i else b""
                if type(name.value) is not literal_cls:  # only hand-built trees get here
                    push(value)
                    push(b":")
                    push(name)
                    push(comma)
                    continue
                vx = value.value
                if type(vx) is literal_cls:
                    push(join((comma, name.before, name.value.raw, name.after or b"", b":",
                               value.before, vx.raw, value.after or b"")))
                else:
                    push(value)
                    push(join((comma, name.before, name.value.raw, name.after or b"", b":")))
            continue
        append(b"[")
        push(x.after + b"]" + after if after else x.after + b"]")
        elements = x.elements
        if elements and elements[-1].after is not None:
            push(b",")
        for i in range(len(elements) - 1, -1, -1):
            e = elements[i]
            ex = e.value
            if type(ex) is literal_cls:
                a = e.after
                chunk = e.before + ex.raw + a if a else e.before + ex.raw
                push(b"," + chunk if i else chunk)
            else:
                push(e)
                if i:
                    push(b",")
    return join(out)


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


# ---------------------------------------------------------------------------
# Standard JSON: is_standard, minimize, standardize
# ---------------------------------------------------------------------------


def _has_comment(extra: bytes | None) -> bool:
    return extra is not None and bool(extra.strip(_WS))


def _has_newline(extra: bytes | None) -> bool:
    return extra is not None and b"\n" in extra


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


def _set_trailing_comma(comp: Object | Array, want: bool) -> None:
    last = _last_value(comp)
    if last is None:
        return
    if want and last.after is None:
        last.after = b""
    elif not want and last.after is not None:
        comp.after = last.after + comp.after
        last.after = None


# ---------------------------------------------------------------------------
# Format (the reference's format.go)
# ---------------------------------------------------------------------------


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


def _rstrip_go_space(b: bytes) -> bytes:
    """bytes.TrimRightFunc(b, unicode.IsSpace)."""
    if b.isascii():
        return b.rstrip(b"\t\n\v\f\r ")
    return b.decode("utf-8", "surrogateescape").rstrip(_GO_SPACE).encode("utf-8", "surrogateescape")


def _format_block_comment(comment: bytes, depth: int) -> bytes:
    """Re-indent a multi-line block comment, keeping its lines' relative indentation."""
    lines = [_rstrip_go_space(line) for line in comment.split(b"\n")]
    first_line = next((line for line in lines[1:] if line), b"")
    has_empty_line = not all(lines)
    common = first_line
    for i in range(1, len(lines)):
        line = lines[i]
        if not line:
            continue
        # A last line of just "*/" takes the common indentation instead of its own.
        if line.endswith(b"*/") and _ws_len(line) + 2 == len(line):
            lines[i] = common[:_ws_len(common)] + b"*/"
            break
        for k in range(min(len(line), len(common))):
            if line[k] != common[k]:
                common = common[:k]
                break
    prefix_len = _ws_len(common)
    star_aligned = not has_empty_line and len(common) > prefix_len and common[prefix_len] == 0x2A
    indent = b"\t" * depth + (b" " if star_aligned else b"")
    out = [lines[0]]
    out.extend(indent + line[prefix_len:] if line else b"" for line in lines[1:])
    return b"\n".join(out).rstrip(b"\n")


def _format_comments(b: bytes, depth: int, leading_newline: bool) -> bytearray | None:
    """The body of Go's Extra.format for extra with comments; None if it is not valid extra."""
    out = bytearray()
    if leading_newline and b"\n" not in b:
        out += b"\n"
    i, n = 0, len(b)
    while i < n:
        ws = _ws_len(b, i)
        if ws:
            out += b"\n" * min(b.count(b"\n", i, i + ws), 2)  # never more than one blank line
            i += ws
            continue
        size = _comment_len(b, i)
        if size <= 0:
            return None
        out += b"\t" * depth if out.endswith(b"\n") else b" "
        comment = b[i:i + size]
        if comment.startswith(b"//") or b"\n" not in comment:
            if comment.startswith(b"//"):
                size -= 1  # the newline is handled as whitespace
            out += _rstrip_go_space(comment)
        else:
            out += _format_block_comment(comment, depth)
        i += size
    return out


@functools.lru_cache(maxsize=4096)  # pure, and the same few extras recur all over a document
def _format_extra(b: bytes, depth: int, *, leading_newline: bool = False, trailing_newline: bool = False,
                  trim_leading: bool = False, trim_trailing: bool = False, unindent_last: bool = False,
                  space_if_empty: bool = False) -> bytes:
    """Go's Extra.format: normalize line endings, blank lines, indentation and comment layout."""
    if not b.strip(_WS):  # only whitespace (the common case): just count its newlines
        newlines = b.count(b"\n")  # \r\n and \n\r count once either way
        out = bytearray(b"\n" * (min(newlines, 2) if newlines else int(leading_newline)))
    else:
        if b"\r" in b:
            b = b.replace(b"\r\n", b"\n").replace(b"\n\r", b"\n").replace(b"\r", b" ")
        formatted = _format_comments(b, depth, leading_newline)
        if formatted is None:
            return b  # not valid extra: left alone, as the reference does
        out = formatted
    if trailing_newline and not out.endswith(b"\n"):
        out += b"\n"
    if trim_leading:
        while out.startswith(b"\n\n"):
            del out[0]
    if trim_trailing:
        while out.endswith(b"\n\n"):
            del out[-1]
    if out.endswith(b"\n"):
        out += b"\t" * (depth - 1 if unindent_last else depth)
    elif out:
        out += b" "
    if space_if_empty and not out:
        out += b" "
    return bytes(out)


def _format_after(after: bytes | None, depth: int) -> bytes | None:
    """Format the extra between a value and its comma; an absent one stays absent if still empty."""
    out = _format_extra(after or b"", depth, trim_leading=True, trim_trailing=True)
    return None if after is None and not out else out


def _extra_length(b: bytes) -> int:
    """Approximate printed length of the comments in one line of extra (Go's lineStats helper)."""
    n = 0
    while True:
        b = b[_ws_len(b):]
        if b.startswith(b"//"):
            return n + 1 + len(b)
        if b.startswith(b"/*"):
            size = _comment_len(b)
            if size <= 0:
                return n + 1 + len(b)
            n += 1 + size
            b = b[size:]
            continue
        return n + 1 if n else n


def _extra_stats(b: bytes | None) -> tuple[int, int, bool]:
    """(length of the first line, length of the last line, spans lines) of an extra."""
    if not b or not b.strip(_WS):
        return 0, 0, b is not None and b"\n" in b
    if b"\n" not in b:
        n = _extra_length(b)
        return n, n, False
    return _extra_length(b[:b.index(b"\n")]), _extra_length(b[b.rindex(b"\n") + 1:]), True


def _normalize(nodes: list[Value]) -> None:
    """Normalize escaped strings, empty containers and whitespace before colons and commas."""
    for node in nodes:
        x = node.value
        if isinstance(x, Literal):
            if x.raw[:1] == b'"' and b"\\" in x.raw:
                node.value = Literal(_go_string_literal(_go_decode_string(x.raw)))
            continue
        children = _children(x)
        if not children:
            if not _has_comment(x.after):
                x.after = b""
            continue
        for child in children:
            if not _has_comment(child.after):
                child.after = None


def _expand_composites(nodes: list[Value]) -> set[Object | Array]:
    """The containers to print one member/element per line (Go's expandComposites)."""
    need_expand: set[Object | Array] = set()
    stats: dict[Value, tuple[int, int, bool]] = {}
    for node in reversed(nodes):  # children before parents
        x = node.value
        if isinstance(x, Literal):
            stats[node] = (len(x.raw), len(x.raw), False)
            continue
        lengths: list[int] = []
        line = 1  # the opening bracket
        # A newline before any member or element expands the container.
        if isinstance(x, Object):
            expand = any(_has_newline(m.name.before) for m in x.members)
        else:
            expand = any(_has_newline(e.before) for e in x.elements)
        for child in _children(x):
            for first, last, multi in (_extra_stats(child.before), stats[child], _extra_stats(child.after)):
                line += first
                if multi:
                    lengths.append(line)
                    line = last
            line += 2  # ": " after a name, ", " after a value
        line += 1  # the closing bracket
        last_value = _last_value(x)
        expand = expand or (last_value is not None and _has_newline(last_value.after))
        expand = expand or _has_newline(x.after)
        lengths.append(line)
        stats[node] = (lengths[0], lengths[-1], len(lengths) > 1)
        if expand or any(n > _PUNCH_CARD_WIDTH for n in lengths):
            children = _children(x)
            first_extra = children[0].before if children else x.after
            stats[node] = (1 + _extra_stats(first_extra)[0], 1, True)
            need_expand.add(x)
    return need_expand


def _format_whitespace(v: Value, need_expand: set[Object | Array], standard: bool) -> None:
    """Indent and lay out every container (Go's formatWhitespace)."""
    stack = [(v, 0)]
    while stack:
        node, depth = stack.pop()
        x = node.value
        if isinstance(x, Literal):
            continue
        expand = x in need_expand
        if isinstance(x, Object):
            for i, m in enumerate(x.members):
                name, value = m.name, m.value
                name.before = _format_extra(name.before, depth + 1, leading_newline=expand,
                                            trim_leading=i == 0, space_if_empty=i != 0)
                name.after = _format_after(name.after, depth + 2)
                value.before = _format_extra(value.before, depth + 2, trim_leading=True, trim_trailing=True,
                                             space_if_empty=True)
                offset = int(expand) + int(_has_newline(name.after) or _has_newline(value.before))
                stack.append((value, depth + offset))
                value.after = _format_after(value.after, depth + 2)
            count = len(x.members)
        else:
            for i, e in enumerate(x.elements):
                e.before = _format_extra(e.before, depth + 1, leading_newline=expand,
                                         trim_leading=i == 0, space_if_empty=i != 0)
                stack.append((e, depth + int(expand)))
                e.after = _format_after(e.after, depth + 2)
            count = len(x.elements)
        x.after = _format_extra(x.after, depth + 1, trailing_newline=expand,
                                trim_leading=count == 0, trim_trailing=True, unindent_last=True)
        last = _last_value(x)
        surrounded_comma = last is not None and bool(last.after) and bool(x.after)
        if not expand and not surrounded_comma:
            _set_trailing_comma(x, False)
        elif expand and not standard:
            _set_trailing_comma(x, True)


def _align_object_values(nodes: list[Value]) -> None:
    """Pad consecutive single-line members so their values start in the same column."""
    spans_lines: dict[Value, bool] = {}  # Go's Value.hasNewline(false)
    for node in reversed(nodes):
        x = node.value
        spans_lines[node] = not isinstance(x, Literal) and any(
            _has_newline(c.before) or _has_newline(c.after) or spans_lines[c]
            for c in _children(x))
    for node in nodes:
        x = node.value
        if type(x) is not Object:
            continue
        rows: list[tuple[Value, int]] = []
        for m in x.members:
            name, value = m.name, m.value
            if (not _has_newline(name.before) or spans_lines[name] or _has_newline(name.after)
                    or _has_newline(value.before) or spans_lines[value] or _has_newline(value.after)):
                _align_rows(rows)
                continue
            if name.before.count(b"\n") > 1:  # a blank line starts a new block
                _align_rows(rows)
            raw = name.value.raw if type(name.value) is Literal else b""
            rows.append((value, len(raw) + len(name.after or b"") + 1 + len(value.before)))
        _align_rows(rows)


def _align_rows(rows: list[tuple[Value, int]]) -> None:
    if rows:
        width = max(length for _, length in rows)
        for value, length in rows:
            value.before += b" " * (width - length)
        rows.clear()


def _format(v: Value) -> None:
    v.before = _format_extra(v.before, 0).lstrip(_WS)
    nodes = _values(v)  # parents before children; the passes below keep this set of nodes
    standard = _all_standard(nodes)
    _normalize(nodes)
    need_expand = _expand_composites(nodes)
    _format_whitespace(v, need_expand, standard)
    _align_object_values(nodes)
    v.after = _rstrip_go_space(_format_extra(v.after or b"", 0)) + b"\n"


# ---------------------------------------------------------------------------
# JSON pointers (RFC 6901)
# ---------------------------------------------------------------------------

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


# ---------------------------------------------------------------------------
# Patch (RFC 6902, the reference's patch.go)
# ---------------------------------------------------------------------------


@dataclass(slots=True)
class _Operation:
    op: str = ""
    path: str = ""
    from_: str = ""
    value: Value | None = None


def _patch_error(index: int, what: str) -> HuJSONError:
    return HuJSONError(f"hujson: patch operation {index}: {what}")


def _parse_patch(patch: bytes) -> list[_Operation]:
    doc = parse(patch)
    arr = doc.value
    if type(arr) is not Array:
        raise HuJSONError("hujson: patch must be a JSON array")
    ops = []
    for i, element in enumerate(arr.elements):
        obj = element.value
        if type(obj) is not Object:
            raise _patch_error(i, "must be a JSON object")
        seen: set[str] = set()
        op = _Operation()
        for j, m in enumerate(obj.members):
            name = _go_decode_string(m.name.value.raw)  # type: ignore[union-attr]
            if name in seen:
                raise _patch_error(i, f"duplicate name {_go_quote(name)}")
            seen.add(name)
            lit = m.value.value
            if name in ("op", "path", "from"):
                if type(lit) is not Literal or not lit.is_string():
                    raise _patch_error(i, f"member {_go_quote(name)} must be a JSON string")
                text = _go_decode_string(lit.raw)
                if name == "op":
                    if text not in ("add", "remove", "replace", "move", "copy", "test"):
                        raise _patch_error(i, f"unknown operation {_go_quote(text)}")
                    op.op = text
                elif name == "path":
                    op.path = text
                else:
                    op.from_ = text
            elif name == "value":
                # Comments on the "value" member travel with the value.
                op.value = Value(m.value.value, _extract_leading(_before_at(obj, j))[0],
                                 _extract_trailing(_before_at(obj, j + 1))[0])
        for required, needed in (("op", True), ("path", True), ("from", op.op in ("move", "copy")),
                                 ("value", op.op in ("add", "replace", "test"))):
            if needed and required not in seen:
                raise _patch_error(i, f"missing required member {_go_quote(required)}")
        ops.append(op)
    return ops


def _apply_patch(v: Value, patch: bytes) -> None:
    """Rehearse on a copy first: a failing patch never touches ``v``, and a good one is then
    applied in place, so references into the tree stay valid as in the reference."""
    _run_operations(_clone(v), _parse_patch(patch))
    _run_operations(v, _parse_patch(patch))  # fresh operations: the rehearsal may have changed their values


def _run_operations(v: Value, ops: list[_Operation]) -> None:
    for i, op in enumerate(ops):
        if op.op == "add":
            _patch_add(v, i, op)
        elif op.op in ("remove", "replace"):
            _patch_remove_or_replace(v, i, op)
        elif op.op in ("move", "copy"):
            _patch_move_or_copy(v, i, op)
        else:
            _patch_test(v, i, op)


def _patch_add(v: Value, i: int, op: _Operation) -> None:
    value = op.value
    assert value is not None
    s, err = _find(v, op.path)
    if err is not None and (err != _NOT_FOUND or not s.at_end):
        raise _patch_error(i, err)
    comp = s.parent
    if comp is None:  # the root
        v.value, v.before, v.after = value.value, value.before, value.after or b""
    elif isinstance(comp, Object) and s.index < len(comp.members):
        _replace_at(comp, s.index, value)
    else:
        _insert_at(comp, s.index, value, s.name)


def _patch_remove_or_replace(v: Value, i: int, op: _Operation) -> None:
    s, err = _find(v, op.path)
    if err is not None:
        raise _patch_error(i, err)
    if s.parent is None:
        raise _patch_error(i, f"cannot {op.op} root value")
    if op.op == "remove":
        _remove_at(s.parent, s.index)
    else:
        assert op.value is not None
        _replace_at(s.parent, s.index, op.value)


def _patch_move_or_copy(v: Value, i: int, op: _Operation) -> None:
    if not op.from_ or (op.op == "move" and _has_path_prefix(op.path, op.from_)):
        raise _patch_error(i, f"cannot {op.op} {_go_quote(op.from_)} into {_go_quote(op.path)}")
    s, err = _find(v, op.from_)
    if err is not None:
        raise _patch_error(i, err)
    assert s.parent is not None
    moved = _remove_at(s.parent, s.index) if op.op == "move" else _copy_at(s.parent, s.index)
    _patch_add(v, i, _Operation(op.op, op.path, op.from_, moved))


def _patch_test(v: Value, i: int, op: _Operation) -> None:
    s, err = _find(v, op.path)
    if err is not None:
        raise _patch_error(i, err)
    assert op.value is not None
    got, want = _go_canonical(s.value), _go_canonical(op.value)
    if got is None or want is None or got != want:
        raise _patch_error(i, f"values differ at {_go_quote(op.path)}")


def _has_path_prefix(s: str, prefix: str) -> bool:
    return s.startswith(prefix) and (len(s) == len(prefix) or s[len(prefix)] == "/")


def _go_canonical(v: Value) -> list[Any] | None:
    """A flat, comparable form of what Go's json.Unmarshal makes of ``v`` (None when it fails or is null).

    Numbers are float64 (out of range fails), strings are decoded the Go way, duplicate
    names keep the last value, and objects compare regardless of member order.
    """
    x = v.value
    if isinstance(x, Literal) and x.raw == b"null":
        return None
    out: list[Any] = []
    stack: list[Any] = [x]
    while stack:
        item = stack.pop()
        if type(item) is tuple:
            out.append(item)
            continue
        if type(item) is Literal:
            raw = item.raw
            c = raw[0]
            if c == 0x22:
                out.append(("s", _go_decode_string(raw)))
            elif c in b"tfn":
                out.append(("k", raw))
            else:
                number = float(raw)
                if number in (float("inf"), float("-inf")):
                    return None
                out.append(("n", number))
        elif type(item) is Object:
            last: dict[str, Any] = {}
            for m in item.members:
                last[_go_decode_string(m.name.value.raw)] = m.value.value  # type: ignore[union-attr]
            stack.append(("}",))
            for key in sorted(last, reverse=True):
                stack.append(last[key])
                stack.append(("key", key))
            out.append(("{",))
        else:
            stack.append(("]",))
            stack.extend(e.value for e in reversed(item.elements))
            out.append(("[",))
    return out


# Moving comments with members and elements (patch.go's heuristics).


def _before_at(comp: Object | Array, i: int) -> bytes:
    if isinstance(comp, Object):
        return comp.members[i].name.before if i < len(comp.members) else comp.after
    elements = comp.elements
    return elements[i].before if i < len(elements) else comp.after


def _set_before_at(comp: Object | Array, i: int, extra: bytes) -> None:
    if isinstance(comp, Object) and i < len(comp.members):
        comp.members[i].name.before = extra
    elif isinstance(comp, Array) and i < len(comp.elements):
        comp.elements[i].before = extra
    else:
        comp.after = extra


def _classify_comments(b: bytes) -> tuple[int, int]:
    """Split extra between two values: ``b[:prev_end]`` belongs to the previous one and
    ``b[curr_start:]`` to the next. Blank lines divide comment blocks."""
    first_divider = last_divider = dividers = 0
    n = prev_newline = 0
    while n < len(b):
        ws = _ws_len(b, n)
        if prev_newline + b.count(b"\n", n, n + ws) >= 2:
            if dividers == 0:
                first_divider = n
            last_divider = n
            dividers += 1
        n += ws
        size = _comment_len(b, n)
        if size <= 0:
            break
        prev_newline = 1 if b.endswith(b"\n", n, n + size) else 0
        n += size
    if dividers == 0:
        # Without dividers, a line comment on the first line belongs to the previous value.
        ws = _ws_len(b)
        n = ws + _comment_len(b, ws)
        if b.count(b"\n", 0, n) == 1 and b.endswith(b"\n", 0, n):
            return n, n
        return 0, 0
    return first_divider, last_divider


def _extract_leading(b: bytes) -> tuple[bytes, bytes]:
    """(comments at the bottom of ``b`` that belong to the next value, what remains)."""
    _, start = _classify_comments(b)
    start += _ws_len(b, start)
    return b[start:], b[:start]


def _extract_trailing(b: bytes) -> tuple[bytes, bytes]:
    """(comments at the top of ``b`` that belong to the previous value, what remains)."""
    end, _ = _classify_comments(b)
    trailing = b[:end]
    if trailing.endswith(b"\n"):
        end -= 1  # keep the newline in place
    return trailing, b[end:]


def _inject_leading(b: bytes, leading: bytes) -> bytes:
    if not leading:
        return b
    _, start = _classify_comments(b)
    b = b[:start + _ws_len(b, start)]
    leading = leading[_ws_len(leading):]
    if leading:
        i = b.rfind(b"\n")
        if i < 0 or _has_comment(b[i:]):
            b += b"\n"
        b += leading
    return b


def _inject_trailing(b: bytes, trailing: bytes | None) -> bytes:
    if not trailing:
        return b
    end, _ = _classify_comments(b)
    if b.endswith(b"\n", 0, end):
        end -= 1
    b = b[end:]
    if _has_comment(trailing):
        if trailing.endswith(b"\n") and b.startswith(b"\n"):
            trailing = trailing[:-1]
        b = trailing + b
    return b


def _copy_at(comp: Object | Array, i: int) -> Value:
    x = comp.members[i].value.value if isinstance(comp, Object) else comp.elements[i].value
    copied = _clone(Value(x)).value
    return Value(copied, _extract_leading(_before_at(comp, i))[0], _extract_trailing(_before_at(comp, i + 1))[0])


def _replace_at(comp: Object | Array, i: int, v: Value) -> None:
    _set_before_at(comp, i, _inject_leading(_before_at(comp, i), v.before))
    _set_before_at(comp, i + 1, _inject_trailing(_before_at(comp, i + 1), v.after))
    if isinstance(comp, Object):
        comp.members[i].value.value = v.value
    else:
        comp.elements[i].value = v.value


def _insert_at(comp: Object | Array, i: int, v: Value, name: str) -> None:
    if isinstance(comp, Object):
        comp.members.insert(i, Member(Value(Literal(_go_string_literal(name))), Value(v.value)))
    else:
        comp.elements.insert(i, Value(v.value))
    trailing, rest = _extract_trailing(_before_at(comp, i + 1))
    _set_before_at(comp, i + 1, rest)
    _set_before_at(comp, i, _inject_trailing(_before_at(comp, i), trailing))
    _set_before_at(comp, i, _inject_leading(_before_at(comp, i), v.before))
    _set_before_at(comp, i + 1, _inject_trailing(_before_at(comp, i + 1), v.after))


def _remove_at(comp: Object | Array, i: int) -> Value:
    leading, rest = _extract_leading(_before_at(comp, i))
    _set_before_at(comp, i, rest)
    trailing, rest = _extract_trailing(_before_at(comp, i + 1))
    _set_before_at(comp, i + 1, rest)
    left = _before_at(comp, i)
    if _has_comment(left):
        following = _before_at(comp, i + 1)
        _set_before_at(comp, i + 1, left + following[_ws_len(following):])
    removed = comp.members.pop(i).value.value if isinstance(comp, Object) else comp.elements.pop(i).value
    last = _last_value(comp)
    count = len(comp.members) if isinstance(comp, Object) else len(comp.elements)
    if i == count and last is not None and last.after == b"":
        # The new last value had nothing between it and its comma: in the reference that
        # is "no extra" (nil), which means no trailing comma once it is last.
        last.after = None
    return Value(removed, leading, trailing)
