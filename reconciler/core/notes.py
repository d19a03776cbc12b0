"""Reading member notes back from a policy tree: which members tailjit added, from which grant file, until when.

A member's note is the comment on its own line (after its comma, or before
the comma in a one-line array's ``/* … */``); see `reconciler.core.policy.MemberNote`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
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
    return NoteReader(policy, data).notes(members)


def note_of(texts: Sequence[str]) -> MemberNote | None:
    """The member note the texts of one login's places give (`MemberArray.texts`): the last valid one, as a
    login listed twice keeps the note of its last place that has one."""
    for text in reversed(texts):
        note = MemberNote.parse(text)
        if note is not None:
            return note
    return None


class MemberArray:
    """A group's member array, and where each login is in it (a login may be listed more than once)."""

    __slots__ = ("_at", "_places", "array")

    def __init__(self, array: hujson.Array, logins: list[Any]) -> None:
        """``logins``: the elements' values, in order."""
        self.array = array
        self._at = {login: at for at, login in enumerate(logins) if isinstance(login, str)}
        self._places: dict[str, list[int]] | None = None
        if len(self._at) < len(logins):  # other values, or a login listed twice: its places in a list
            self._places = {}
            for at, login in enumerate(logins):
                if isinstance(login, str):
                    self._places.setdefault(login, []).append(at)

    def places(self, login: str) -> Sequence[int]:
        """Where ``login`` is in the array, in order."""
        if self._places is not None:
            return self._places.get(login, ())
        at = self._at.get(login)
        return () if at is None else (at,)

    def texts(self, login: str) -> list[str]:
        """The note text (`note_text_at`) at each place of ``login``, in order, not yet parsed (`note_of`)."""
        elements = self.array.elements
        found = []
        for at in self.places(login):
            value = elements[at].value
            if type(value) is hujson.Literal and value.is_string() and value.to_python() == login:
                text = note_text_at(self.array, at)
                if text is not None:
                    found.append(text)
        return found

    def surroundings(self, login: str) -> list[bytes]:
        """The bytes `note_text_at` reads its text from, at each place of ``login``: two arrays that give a
        login equal surroundings give it equal texts (comparing them is cheaper than reading the texts), as
        every place holds the login when the reader's data is its tree's (`NoteReader`)."""
        elements = self.array.elements
        last = len(elements) - 1
        found: list[bytes] = []
        for at in self.places(login):
            found.append(elements[at].after or b"")
            found.append(elements[at + 1].before if at < last else self.array.after)
        return found


class NoteReader:
    """The member notes of one policy tree, group by group: each group's array is looked up once."""

    def __init__(self, policy: hujson.Value, data: JSONValue) -> None:
        """``data`` is ``policy``'s plain data."""
        self._container = groups_object(policy)
        listed = data.get("groups") if isinstance(data, dict) else None
        self._listed = listed if isinstance(listed, dict) else None
        # A group name given twice: the tree's first array (what `Object.get` finds) is not the data's last.
        self._from_tree = (self._container is not None and self._listed is not None
                           and len(self._container.members) != len(self._listed))
        self._arrays: dict[str, MemberArray | None] = {}

    def array(self, group: str) -> MemberArray | None:
        """The group's member array; None when the policy has no such group or it is not an array."""
        if group not in self._arrays:
            self._arrays[group] = self._find(group)
        return self._arrays[group]

    def _find(self, group: str) -> MemberArray | None:
        if self._container is None or self._listed is None:
            return None
        member = self._container.get(group)
        if member is None or not isinstance(member.value.value, hujson.Array):
            return None
        array = member.value.value
        logins = None if self._from_tree else self._listed.get(group)
        if not isinstance(logins, list) or len(logins) != len(array.elements):
            logins = [e.value.to_python() if isinstance(e.value, hujson.Literal) else None for e in array.elements]
        return MemberArray(array, logins)

    def notes(self, members: Iterable[tuple[str, str]]) -> dict[tuple[str, str], MemberNote]:
        """`member_notes`, through this reader."""
        found: dict[tuple[str, str], MemberNote] = {}
        for group, login in members:
            array = self.array(group)
            note = None if array is None else note_of(array.texts(login))
            if note is not None:
                found[(group, login)] = note
        return found


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
