"""Reading member notes back from a policy tree: which members tailjit added, from which grant file, until when.

A member's note is the comment on its own line (after its comma, or before
the comma in a one-line array's ``/* … */``); see `reconciler.core.policy.MemberNote`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
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
    for key, texts in member_note_texts(policy, data, members).items():
        note = note_of(texts)
        if note is not None:
            found[key] = note
    return found


def note_of(texts: tuple[str, ...]) -> MemberNote | None:
    """The member note the texts of one login's places give (`member_note_texts`): the last valid one, as a
    login listed twice keeps the note of its last place that has one."""
    for text in reversed(texts):
        note = MemberNote.parse(text)
        if note is not None:
            return note
    return None


def member_note_texts(policy: hujson.Value, data: JSONValue,
                      members: Iterable[tuple[str, str]]) -> dict[tuple[str, str], tuple[str, ...]]:
    """``(group, login) -> texts``: the note text (`note_text_at`) at each place of the login in its group, in
    order, for those of ``members`` that have at least one; not yet parsed (`note_of` does that). Two
    sides whose texts for a login are equal give it the same note, so a caller comparing two policies
    parses only where the texts differ."""
    found: dict[tuple[str, str], tuple[str, ...]] = {}
    container = groups_object(policy)
    listed = data.get("groups") if isinstance(data, dict) else None
    if container is None or not isinstance(listed, dict):
        return found
    # A group name given twice: the tree's first array (what `Object.get` finds) is not the data's last.
    from_tree = len(container.members) != len(listed)
    arrays: dict[str, tuple[hujson.Array, dict[Any, list[int]]] | None] = {}
    for group, login in members:
        if group not in arrays:
            arrays[group] = _array_and_places(container, None if from_tree else listed, group)
        entry = arrays[group]
        if entry is None:
            continue
        array, places = entry
        texts = [text for at in places.get(login, ()) if (text := _text_at(array, at, login)) is not None]
        if texts:
            found[(group, login)] = tuple(texts)
    return found


def _array_and_places(container: hujson.Object, listed: dict[str, Any] | None,
                      group: str) -> tuple[hujson.Array, dict[Any, list[int]]] | None:
    """The group's member array, and where each value is in it (indexes in order): its elements' values from
    ``listed`` (the plain data of the groups) when given, else read from the tree."""
    member = container.get(group)
    if member is None or not isinstance(member.value.value, hujson.Array):
        return None
    array = member.value.value
    logins = None if listed is None else listed.get(group)
    if not isinstance(logins, list) or len(logins) != len(array.elements):
        logins = [e.value.to_python() if isinstance(e.value, hujson.Literal) else None for e in array.elements]
    places: dict[Any, list[int]] = {}
    for at, login in enumerate(logins):
        if isinstance(login, str):
            places.setdefault(login, []).append(at)
    return array, places


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


def _text_at(array: hujson.Array, index: int, login: str) -> str | None:
    value = array.elements[index].value
    if type(value) is not hujson.Literal or not value.is_string() or value.to_python() != login:
        return None
    return note_text_at(array, index)


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
