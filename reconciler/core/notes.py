"""Reading member notes back from a policy tree: which members tailjit added, from which grant file, until when.

A member's note is the comment on its own line (after its comma, or before
the comma in a one-line array's ``/* … */``); see `reconciler.core.policy.MemberNote`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import Any

from reconciler import hujson
from reconciler.core.policy import NOTE_PREFIX, MemberNote
from reconciler.core.render import first_line_end

JSONValue = Any
#: A member note as `MemberNote` writes it: ``tailjit: <grant file> until <RFC 3339 time, UTC>``.
_NOTE = re.compile(rb"tailjit: [^\s*/][^\s]* until \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")


def member_notes(policy: hujson.Value, data: JSONValue,
                 members: Iterable[tuple[str, str]]) -> dict[tuple[str, str], MemberNote]:
    """``(group, login) -> MemberNote`` for those of ``members`` that carry a tailjit member note.

    ``data`` is ``policy``'s plain data. Only the members asked for are read:
    a plan asks for those that change, a few hundred of a large policy's
    tens of thousands. A member's comment is what follows it on its own
    line: after its comma, or before the comma in a one-line array's ``/* … */``.
    """
    found: dict[tuple[str, str], MemberNote] = {}
    container = groups_object(policy)
    listed = data.get("groups") if isinstance(data, dict) else None
    if container is None or not isinstance(listed, dict):
        return found
    # A group name given twice: the tree's first array (what `Object.get` finds) is not the data's last.
    from_tree = len(container.members) != len(listed)
    arrays: dict[str, tuple[hujson.Array, list[Any]] | None] = {}
    for group, login in members:
        if group not in arrays:
            arrays[group] = _array_and_logins(container, None if from_tree else listed, group)
        entry = arrays[group]
        if entry is None:
            continue
        array, logins = entry
        for at in _places(logins, login):  # listed twice: the last comment wins
            note = _note_at(array, at, login)
            if note is not None:
                found[(group, login)] = note
    return found


def _array_and_logins(container: hujson.Object, listed: dict[str, Any] | None,
                      group: str) -> tuple[hujson.Array, list[Any]] | None:
    """The group's member array, and its elements' values in order: from ``listed`` (the plain data of the
    groups) when given, else read from the tree."""
    member = container.get(group)
    if member is None or not isinstance(member.value.value, hujson.Array):
        return None
    array = member.value.value
    logins = None if listed is None else listed.get(group)
    if not isinstance(logins, list) or len(logins) != len(array.elements):
        logins = [e.value.to_python() if isinstance(e.value, hujson.Literal) else None for e in array.elements]
    return array, logins


def _places(items: list[Any], item: object) -> Iterator[int]:
    at = -1
    while True:
        try:
            at = items.index(item, at + 1)
        except ValueError:
            return
        yield at


def count_noted(policy: hujson.Value, groups: Iterable[str]) -> int:
    """How many member notes the arrays of ``groups`` hold: their temporary members, counted in the packed text
    (one regular-expression pass per array; 10,000 members take milliseconds, not a note parse each)."""
    container = groups_object(policy)
    if container is None:
        return 0
    count = 0
    for group in groups:
        member = container.get(group)
        if member is not None and isinstance(member.value.value, hujson.Array):
            count += len(_NOTE.findall(member.value.pack()))
    return count


def _note_at(array: hujson.Array, index: int, login: str) -> MemberNote | None:
    value = array.elements[index].value
    if type(value) is not hujson.Literal or not value.is_string() or value.to_python() != login:
        return None
    note = note_text_at(array, index)
    return None if note is None else MemberNote.parse(note)


def note_text_at(array: hujson.Array, index: int) -> str | None:
    """The text after ``tailjit: `` in the comment on element ``index``'s line; None when there is no such
    comment. The text may not be a valid note (`MemberNote.parse` says)."""
    elements = array.elements
    after = elements[index].after or b""
    following = elements[index + 1].before if index + 1 < len(elements) else array.after
    extra = after + following
    marker = NOTE_PREFIX.encode()
    at = extra.find(marker)
    line_end = first_line_end(following)
    end = len(extra) if line_end < 0 else len(after) + line_end
    if at < 0 or at >= end:
        return None
    note = extra[at + len(marker):end]
    for stop in (b"*/", b"\n"):
        cut = note.find(stop)
        if cut >= 0:
            note = note[:cut]
    return note.decode("utf-8", "replace")


def groups_object(policy: hujson.Value) -> hujson.Object | None:
    """The policy's ``groups`` object, or None when it has none (or it is not an object)."""
    top = policy.value
    assert isinstance(top, hujson.Object)
    member = top.get("groups")
    if member is None or not isinstance(member.value.value, hujson.Object):
        return None
    return member.value.value
