"""Formatting (the reference's format.go): HuJSON laid out like ``go fmt`` lays out Go.

``_format`` runs the reference's passes in its order over one list of the tree's
values: normalize literals and extra, decide which containers to expand, indent and
lay out every container, then align the values of consecutive one-line members.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable

from .parse import parse
from .standard import _all_standard
from .tree import (
    _WS,
    Array,
    Literal,
    Member,
    Object,
    Value,
    _children,
    _comment_len,
    _go_decode_string,
    _go_string_literal,
    _has_comment,
    _last_value,
    _values,
    _ws_len,
)

_PUNCH_CARD_WIDTH = 80  # lines longer than this get their container expanded
# Go's unicode.IsSpace, used where the reference trims with bytes.TrimRightFunc.
_GO_SPACE = "\t\n\v\f\r \x85\xa0\u1680" + "".join(map(chr, range(0x2000, 0x200B))) + "\u2028\u2029\u202f\u205f\u3000"


def format(data: bytes | str) -> bytes:
    """Parse, format and pack. Raises :class:`HuJSONError` on invalid input."""
    value = parse(data)
    value.format()
    return value.pack()


def align(v: Value, *, deep: bool = True) -> None:
    """Only format's last pass, under ``v``: pad consecutive one-line object members so that their values
    start in one column. For an editor that changed which members span lines and keeps the rest as it is.

    With ``deep=False``, only the members of ``v`` itself (an object) are aligned: for an editor that
    changed only them, this costs what ``v``'s own members cost, not what everything inside them does.
    """
    if deep:
        _align_object_values(_values(v))
    elif type(v.value) is Object:
        _align_members(v.value, _spans_lines)


def format_member(top: Value, member: Member) -> bool:
    """Format ``member``'s value (a member of the object ``top``) exactly as formatting all of ``top`` would,
    where the rest of ``top`` is formatted already; True when done.

    It is the caller's to know that the rest is formatted (tailjit compares it
    with a text it formatted before). Outside a member's value, formatting
    depends on the value only through three things, checked here: whether
    the whole text is standard JSON (the member's value is not, so neither is
    the text), whether ``top`` is laid out one member per line (a newline
    before a member's name says so), and whether the value spans lines (a
    newline before one of its own members or elements says so), which
    decides the alignment of the members around it. Where one of these does
    not hold, nothing is changed and the answer is False: format all of ``top``.
    """
    x, inner = top.value, member.value.value
    if not isinstance(x, Object) or isinstance(inner, Literal) or not any(m is member for m in x.members):
        return False
    if not any(_has_newline(m.name.before) for m in x.members):
        return False
    if isinstance(inner, Object):
        spans = any(_has_newline(m.name.before) for m in inner.members)
    else:
        spans = any(_has_newline(e.before) for e in inner.elements)
    nodes = _values(member.value)
    if not spans or _all_standard(nodes):
        return False
    depth = 1 + int(_has_newline(member.name.after) or _has_newline(member.value.before))
    _normalize(nodes)
    need_expand = _expand_composites(nodes)
    _format_whitespace(member.value, need_expand, False, depth)
    _align_object_values(nodes)
    return True


def _format(v: Value) -> None:
    v.before = _format_extra(v.before, 0).lstrip(_WS)
    nodes = _values(v)  # parents before children; the passes below keep this set of nodes
    standard = _all_standard(nodes)
    _normalize(nodes)
    need_expand = _expand_composites(nodes)
    _format_whitespace(v, need_expand, standard)
    _align_object_values(nodes)
    v.after = _rstrip_go_space(_format_extra(v.after or b"", 0)) + b"\n"


def _has_newline(extra: bytes | None) -> bool:
    return extra is not None and b"\n" in extra


def _set_trailing_comma(comp: Object | Array, want: bool) -> None:
    last = _last_value(comp)
    if last is None:
        return
    if want and last.after is None:
        last.after = b""
    elif not want and last.after is not None:
        comp.after = last.after + comp.after
        last.after = None


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


#: One ``// comment`` after a space, then the next line's indentation: the extra after each member of a
#: commented list (``"login", // why``), formatted without the general path (see `_format_extra`).
_LINE_COMMENT_EXTRA = re.compile(rb" (//[^\r\n]*+)\n\t*+")


def _format_extra(b: bytes, depth: int, *, leading_newline: bool = False, trailing_newline: bool = False,
                  trim_leading: bool = False, trim_trailing: bool = False, unindent_last: bool = False,
                  space_if_empty: bool = False) -> bytes:
    """Go's Extra.format: normalize line endings, blank lines, indentation and comment layout.

    A newline and tabs, and extra of the `_LINE_COMMENT_EXTRA` shape, come out as the general path makes
    them, whatever the flags: the comment (if any) with its trailing spaces removed, one newline, the
    indentation.
    """
    if b[:1] == b"\n" and b.count(b"\t") == len(b) - 1:  # one newline and tabs: a plain indentation
        return b"\n" + b"\t" * (depth - 1 if unindent_last else depth)
    if b[:3] == b" //":
        match = _LINE_COMMENT_EXTRA.fullmatch(b)
        if match is not None:
            return b" " + _rstrip_go_space(match.group(1)) + b"\n" + b"\t" * (depth - 1 if unindent_last else depth)
    return _format_any_extra(b, depth, leading_newline=leading_newline, trailing_newline=trailing_newline,
                             trim_leading=trim_leading, trim_trailing=trim_trailing, unindent_last=unindent_last,
                             space_if_empty=space_if_empty)


@functools.lru_cache(maxsize=4096)  # pure, and the same few extras recur all over a document
def _format_any_extra(b: bytes, depth: int, *, leading_newline: bool = False, trailing_newline: bool = False,
                      trim_leading: bool = False, trim_trailing: bool = False, unindent_last: bool = False,
                      space_if_empty: bool = False) -> bytes:
    """`_format_extra` by the general path."""
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
    if not after:  # None or b"" (nearly always): formatting leaves either as it is
        return after
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
    for node in reversed(nodes):  # children before parents; a literal's stats are made where asked for
        x = node.value
        if isinstance(x, Literal):
            continue
        # A newline before any member or element, after the last one, or before the closing bracket
        # expands the container.
        if isinstance(x, Object):
            expand = any(_has_newline(m.name.before) for m in x.members)
        else:
            expand = any(_has_newline(e.before) for e in x.elements)
        last_value = _last_value(x)
        expand = expand or (last_value is not None and _has_newline(last_value.after))
        expand = expand or _has_newline(x.after)
        if not expand:  # else its children's line lengths do not matter: an expanded one's stats are below
            lengths: list[int] = []
            line = 1  # the opening bracket
            for child in _children(x):
                own = stats.get(child)
                if own is None:  # a literal
                    raw = child.value.raw  # type: ignore[union-attr]
                    own = (len(raw), len(raw), False)
                for first, last, multi in (_extra_stats(child.before), own, _extra_stats(child.after)):
                    line += first
                    if multi:
                        lengths.append(line)
                        line = last
                line += 2  # ": " after a name, ", " after a value
            line += 1  # the closing bracket
            lengths.append(line)
            stats[node] = (lengths[0], lengths[-1], len(lengths) > 1)
            expand = any(n > _PUNCH_CARD_WIDTH for n in lengths)
        if expand:
            children = _children(x)
            first_extra = children[0].before if children else x.after
            stats[node] = (1 + _extra_stats(first_extra)[0], 1, True)
            need_expand.add(x)
    return need_expand


def _format_whitespace(v: Value, need_expand: set[Object | Array], standard: bool, depth: int = 0) -> None:
    """Indent and lay out every container (Go's formatWhitespace), ``v`` being at ``depth``."""
    stack = [(v, depth)]
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
                if type(e.value) is not Literal:  # a literal has nothing inside to lay out
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
    spans_lines: dict[Value, bool] = {}  # Go's Value.hasNewline(false); a literal never spans lines
    for node in reversed(nodes):
        x = node.value
        if not isinstance(x, Literal):
            spans_lines[node] = any(_has_newline(c.before) or _has_newline(c.after) or spans_lines.get(c, False)
                                    for c in _children(x))
    for node in nodes:
        x = node.value
        if type(x) is Object:
            _align_members(x, lambda v: spans_lines.get(v, False))


def _spans_lines(v: Value) -> bool:
    """Whether a newline is anywhere inside ``v`` (Go's Value.hasNewline(false)), looked for until found."""
    stack = [v]
    while stack:
        x = stack.pop().value
        if isinstance(x, Literal):
            continue
        for c in _children(x):
            if _has_newline(c.before) or _has_newline(c.after):
                return True
            stack.append(c)
    return False


def _align_members(x: Object, spans_lines: Callable[[Value], bool]) -> None:
    """Align the values of ``x``'s runs of consecutive single-line members (a blank line ends a run)."""
    rows: list[tuple[Value, int]] = []
    for m in x.members:
        name, value = m.name, m.value
        if (not _has_newline(name.before) or spans_lines(name) or _has_newline(name.after)
                or _has_newline(value.before) or spans_lines(value) or _has_newline(value.after)):
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
