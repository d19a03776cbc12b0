"""Packing (the reference's pack.go): a tree back to bytes, without recursion."""

from __future__ import annotations

from typing import Any

from .tree import Literal, Object, Value


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

