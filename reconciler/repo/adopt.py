"""Taking a live policy into git: `import_policy` turns the tailnet's text into a base policy.

A tailnet always has a policy (the default one, or an administrator's). Before
tailjit manages it, the base policy in git should say exactly what is live, so
that the first pull request shows the whole truth and the first apply changes
nothing but what git asks for. `import_policy` takes the live text and leaves
out what tailjit itself put there: its digest header, and every group member
carrying a tailjit member note (`MemberNote`: those come back from grant files,
or are revoked). Everything else, comments included, is kept; the result is in
canonical form (`canonical`), as tailjit writes and ``tailjit fmt`` keeps it.

``tailjit import`` and ``tailjit init --from-tailnet`` both call it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from reconciler import hujson
from reconciler.core.plan import member_notes
from reconciler.core.policy import NOTE_PREFIX, MemberNote, canonical, parse_policy, split_header
from reconciler.core.render import first_line_end


@dataclass(frozen=True)
class Imported:
    """A base policy made from a live one, and the members tailjit had added that it leaves out."""

    text: bytes
    #: ``(group, login)`` of each member left out because it carried a tailjit member note
    removed: tuple[tuple[str, str], ...] = ()


def import_policy(live_text: bytes) -> bytes:
    """The base policy for ``live_text``: without tailjit's header and tailjit-added members, canonical.

    Raises `PolicyError` (at ``live policy:LINE``) when the live text is not a HuJSON object.
    """
    return import_live(live_text).text


def import_live(live_text: bytes) -> Imported:
    """`import_policy`, also saying which members were left out."""
    _, body = split_header(live_text)
    tree = parse_policy(body, "live policy")
    removed: list[tuple[str, str]] = []
    groups = _groups(tree)
    if groups is not None:
        members = [(name, login) for name, array in groups for login in _logins(array)]
        noted = member_notes(tree, tree.to_python(), members)
        for name, array in groups:
            removed += [(name, login) for login in _remove_noted(array, name, noted)]
    return Imported(canonical(tree.pack()), tuple(removed))


def _groups(tree: hujson.Value) -> list[tuple[str, hujson.Array]] | None:
    top = tree.value
    assert isinstance(top, hujson.Object)
    found: list[tuple[str, hujson.Array]] = []
    for member in top.members:
        if member.name.to_python() != "groups" or not isinstance(member.value.value, hujson.Object):
            continue
        for group in member.value.value.members:
            name = group.name.to_python()
            if isinstance(name, str) and isinstance(group.value.value, hujson.Array):
                found.append((name, group.value.value))
    return found or None


def _logins(array: hujson.Array) -> list[str]:
    return [str(e.value.to_python()) for e in array.elements
            if isinstance(e.value, hujson.Literal) and e.value.is_string()]


def _remove_noted(array: hujson.Array, group: str, noted: Mapping[tuple[str, str], MemberNote]) -> list[str]:
    """Take out of ``array`` each element whose login carries a note, with the note; return those logins.

    A member's note is the comment on its own line after it (`member_notes` reads it there); the
    comments before it (the end of the previous member's line) stay.
    """
    removed: list[str] = []
    index = 0
    while index < len(array.elements):
        element = array.elements[index]
        value = element.value
        login = value.to_python() if isinstance(value, hujson.Literal) and value.is_string() else None
        if not isinstance(login, str) or (group, login) not in noted:
            index += 1
            continue
        last = index == len(array.elements) - 1
        following = array.after if last else array.elements[index + 1].before
        rest = _without_note((element.after or b"") + following)
        kept_before = element.before
        cut = kept_before.rfind(b"\n")
        # keep what ends the previous line (its comment); drop this line's indentation, or the blank before
        kept_before = kept_before[:cut] if cut >= 0 else kept_before.rstrip(b" \t")
        del array.elements[index]
        if last:
            array.after = kept_before + rest
        else:
            array.elements[index].before = kept_before + rest
        removed.append(login)
    return removed


def _without_note(extra: bytes) -> bytes:
    """``extra`` without the tailjit note comment on its first line (and the blanks before it)."""
    line_end = first_line_end(extra)
    end = len(extra) if line_end < 0 else line_end
    at = extra.find(NOTE_PREFIX.encode(), 0, end)
    if at < 0:
        return extra
    start = max(extra.rfind(b"//", 0, at), extra.rfind(b"/*", 0, at))
    if start < 0:
        return extra
    if extra.startswith(b"/*", start):
        close = extra.find(b"*/", at)
        stop = len(extra) if close < 0 else close + 2
    else:
        newline = extra.find(b"\n", at)
        stop = len(extra) if newline < 0 else newline
    return extra[:start].rstrip(b" \t") + extra[stop:]
