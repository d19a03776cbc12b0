"""RFC 6902 JSON patch (the reference's patch.go), comments included.

Comments next to an operation's ``"value"`` travel into the document, and a removed or
moved member takes the comments that belong to it along (the reference's heuristics,
``_classify_comments`` and friends below). Unlike the reference, a failing patch leaves
the document untouched: it is rehearsed on a copy first.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .find import _NOT_FOUND, _find
from .parse import parse
from .tree import (
    Array,
    HuJSONError,
    Literal,
    Member,
    Object,
    Value,
    _clone,
    _comment_len,
    _go_decode_string,
    _go_quote_rune,
    _go_string_literal,
    _has_comment,
    _last_value,
    _ws_len,
)


def _go_quote(text: str) -> str:
    """Go's %q of a string."""
    return '"' + "".join(_go_quote_rune(ch, '"') for ch in text) + '"'


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
