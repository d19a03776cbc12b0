"""Parsing (the reference's parse.go): bytes to a :class:`~reconciler.hujson.tree.Value`.

One large compiled regular expression tokenizes the whole input (``re.findall`` hands
back ``(extra, token, rest)`` triples produced in C: a whole run of whitespace and
comments, a whole string or number per match) and a small state machine builds the
tree, so the per-token Python work is a few comparisons and one or two object
creations. The machine is a loop, not recursion: nesting depth is limited only by
memory.

Error messages follow the reference word for word:
``hujson: line L, column C: <what>`` (line and column are 1-based, the column counts bytes).
"""

from __future__ import annotations

import re
from operator import length_hint
from typing import Any

from .tree import Array, HuJSONError, Literal, Member, Object, Value, _go_quote_rune, _to_bytes

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

# The first byte of a token: punctuation, or the quote that starts a string.
_OPEN_BRACE = ord("{")
_CLOSE_BRACE = ord("}")
_OPEN_BRACKET = ord("[")
_CLOSE_BRACKET = ord("]")
_COMMA = ord(",")
_COLON = ord(":")
_QUOTE = ord('"')
_PUNCT = frozenset(b"[]{},:")  # any other first byte starts a string or scalar

# Parser states: what the next token may be.
_S_VALUE = 0  # a value (or ']' when directly inside an array)
_S_NAME = 1  # an object member name (or '}')
_S_COLON = 2  # the ':' after a name
_S_AFTER = 3  # ',' or a closing bracket after a value (or the end, at top level)
_S_BADNAME = 4  # a non-string name was read; its error is due once its trailing extra is consumed


def parse(data: bytes | str) -> Value:
    """Parse HuJSON. Raises :class:`HuJSONError` with the reference's message and position."""
    return _parse(_to_bytes(data))


def _parse(b: bytes) -> Value:
    # The hot loop: the states, byte codes, classes and bound methods it compares with or
    # calls are all locals, which cost a literal's price where a global would cost more.
    s_value, s_name, s_colon, s_after, s_badname = _S_VALUE, _S_NAME, _S_COLON, _S_AFTER, _S_BADNAME
    comma, colon, quote = _COMMA, _COLON, _QUOTE
    open_brace, close_brace, open_bracket, close_bracket = _OPEN_BRACE, _CLOSE_BRACE, _OPEN_BRACKET, _CLOSE_BRACKET
    toks: list[tuple[bytes, bytes, bytes]] = _TOKENS.findall(b)
    it = iter(toks)
    check_utf8 = not b.isascii()
    punct = _PUNCT
    value_cls, literal_cls, member_cls, array_cls = Value, Literal, Member, Array
    stack: list[Any] = []
    push, pop = stack.append, stack.pop
    top: Any = None  # the innermost open Object or Array
    in_array = False
    state = s_value
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
        if state == s_after:  # ',' or a closing bracket
            if c == comma:
                if in_array:
                    top.elements[-1].after = extra
                    state = s_value
                elif top is not None:
                    top.members[-1].value.after = extra
                    state = s_name
                else:
                    break
                continue
            if not ((c == close_bracket and in_array) or (c == close_brace and top is not None and not in_array)):
                break
        # A closing bracket after a value, right after its opening one, or after a trailing comma.
        # (Here and below, `a == x or a == y` on purpose: `a in (x, y)` builds a tuple every time.)
        if ((c == close_brace and (state == s_name or state == s_after))  # noqa: SIM109
                or (c == close_bracket and in_array and (state == s_value or state == s_after))):  # noqa: SIM109
            top.after = extra
            closed = pop()
            top = stack[-1] if stack else None
            in_array = type(top) is array_cls
            state = s_after
            if bad_names and closed in bad_names:
                state, bad_index = s_badname, bad_names[closed]
            continue
        if state == s_name:
            if c == quote:
                name = value_cls(literal_cls(tok), extra)
                state = s_colon
                continue
            if c in punct and c != open_brace and c != open_bracket:
                break
            # A name that is not a string: the reference parses the whole value
            # (and the extra after it) before it complains.
            index = len(toks) - length_hint(it) - 1
            if c not in punct:
                state, bad_index = s_badname, index
                continue
            container: Object | Array = Object([]) if c == open_brace else array_cls([])
            bad_names[container] = index
            push(container)
            top, in_array = container, c == open_bracket
            state = s_name if c == open_brace else s_value
            continue
        if state == s_colon:
            if c != colon:
                break
            name.after = extra
            state = s_value
            continue
        if state != s_value:  # _S_BADNAME: its error is due
            break
        if c not in punct:
            node = value_cls(literal_cls(tok), extra)
            state = s_after
        elif c == open_brace or c == open_bracket:  # noqa: SIM109
            container = Object([]) if c == open_brace else array_cls([])
            node = value_cls(container, extra)
            if top is None:
                root = node
            elif in_array:
                top.elements.append(node)
            else:
                top.members.append(member_cls(name, node))
            push(container)
            top, in_array = container, c == open_bracket
            state = s_name if c == open_brace else s_value
            continue
        else:
            break
        if in_array:
            top.elements.append(node)
        elif top is not None:
            top.members.append(member_cls(name, node))
        else:
            root = node
    if state == s_after and top is None and not tok and not _rest and root is not None:
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


def _quote_char_at(b: bytes, pos: int) -> str:
    """Go's %q of the character at ``b[pos]``: a rune, or ``'\\xNN'`` for a byte that is not UTF-8."""
    for size in (1, 2, 3, 4):
        try:
            ch = b[pos:pos + size].decode("utf-8")
        except UnicodeDecodeError:
            continue
        return "'" + _go_quote_rune(ch, "'") + "'"
    return f"'\\x{b[pos]:02x}'"

