"""Base policy + active grants → desired policy text. Pure: no clock, files or network.

Rendering edits the base policy's HuJSON tree. Only the member arrays of the
target groups declared in ``tailjit.yaml`` change; every other byte, comments
and blank lines included, stays as written. Each added member carries a
trailing comment naming its grant file and expiry, and one header line
carries the digest that drift detection checks (see `split_header`).

Render does not format: formatting a 2 MiB policy costs about as much as
rendering it, and a converged run never needs it. The plan formats the
rendered policy (`canonical_policy`) only when it is about to write it or the
live text cannot be matched byte for byte. With a canonical base policy
(``tailjit fmt``) the rendered text is canonical already, up to the layout of
the target groups' arrays.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from reconciler import hujson
from reconciler.core.config import Target
from reconciler.core.grants import GrantStatus, State
from reconciler.core.policy import (
    MemberNote,
    Policy,
    body_digest,
    groups_span,
    header_line,
    insert_header,
    parse_policy,
    refuse_duplicate_groups,
    split_header,
)
from reconciler.errors import PolicyError


@dataclass(frozen=True)
class Addition:
    """A login added to a target group, and the note that says why."""

    group: str
    user: str
    note: MemberNote


def target_members(policy: hujson.Value, targets: Iterable[Target], path: str) -> dict[str, hujson.Member]:
    """The ``groups`` entries of the target groups, checked to be arrays of strings."""
    top = policy.value
    assert isinstance(top, hujson.Object)
    groups_member = top.get("groups")
    if groups_member is None or not isinstance(groups_member.value.value, hujson.Object):
        raise PolicyError("the policy has no \"groups\" object, so no target group can be granted", path=path,
                          hint="define each target's group in \"groups\", e.g. \"group:prod\": []")
    groups = groups_member.value.value
    found: dict[str, hujson.Member] = {}
    for target in targets:
        member = groups.get(target.group)
        if member is None:
            raise PolicyError(f"target {target.name!r} manages {target.group}, which \"groups\" does not define",
                              path=path, hint=f"add \"{target.group}\": [] (its permanent members) to \"groups\"")
        array = member.value.value
        if not isinstance(array, hujson.Array) or not all(
                isinstance(e.value, hujson.Literal) and e.value.is_string() for e in array.elements):
            raise PolicyError(f"{target.group} must be an array of logins", path=path)
        found[target.group] = member
    return found


def member_logins(member: hujson.Member) -> list[str]:
    array = member.value.value
    assert isinstance(array, hujson.Array)
    return [str(e.value.to_python()) for e in array.elements if isinstance(e.value, hujson.Literal)]


def additions(targets: Mapping[str, Target], statuses: Sequence[GrantStatus]) -> list[Addition]:
    """One addition per (group, user) among active grants; the latest expiry names the comment."""
    best: dict[tuple[str, str], GrantStatus] = {}
    for status in statuses:
        if status.state is not State.ACTIVE or status.end is None:
            continue
        key = (targets[status.grant.target].group, status.grant.user)
        current = best.get(key)
        if current is None or (current.end is not None and status.end > current.end):
            best[key] = status
    return [Addition(group, user, MemberNote(s.grant.name, s.end))
            for (group, user), s in sorted(best.items()) if s.end is not None]


def render(base: bytes, targets: Mapping[str, Target], statuses: Sequence[GrantStatus],
           *, path: str = "policy/policy.hujson") -> bytes:
    """The desired policy text: ``base`` with active grants' users in their target groups, plus the header."""
    return render_policy(base, targets, statuses, path=path).text


def render_policy(base: bytes, targets: Mapping[str, Target], statuses: Sequence[GrantStatus],
                  *, path: str = "policy/policy.hujson") -> Policy:
    """`render`, with the tree the text was packed from: the plan reads it instead of parsing the text."""
    _, base_body = split_header(base)
    policy = parse_policy(base_body, path)
    refuse_duplicate_groups(policy, path)
    members = target_members(policy, targets.values(), path)
    unit = _indent_unit(policy)
    present = {group: {login.lower() for login in member_logins(m)} for group, m in members.items()}
    pending: dict[str, list[tuple[str, str]]] = {}
    for addition in additions(targets, statuses):
        if addition.user.lower() in present[addition.group]:
            continue  # a permanent member already
        present[addition.group].add(addition.user.lower())
        pending.setdefault(addition.group, []).append((addition.user, addition.note.comment))
    groups = _groups_object(policy)
    # Every edit below stays inside the value of "groups": the text around it is the base's own bytes.
    span = groups_span(policy, base_body)
    was_aligned = bool(pending) and groups is not None and _is_aligned(groups)
    expanded = False
    for group, logins in pending.items():
        expanded |= append_members(members[group], logins, unit)
    if expanded:
        realign_groups(policy, was_aligned)
    at = None
    if span is None:
        body = policy.pack()
    else:
        member, start, end = span
        own = hujson.Value(member.value.value).pack()
        body, at = base_body[:start] + own + base_body[end:], (start, start + len(own))
    line = header_line(body_digest(body))
    policy.before = insert_header(policy.before, line)  # now policy.pack() == the text
    return Policy(insert_header(body, line), policy, path="rendered policy", groups_at=at)


# --- editing an array in its own style -------------------------------------------------------------


def append_members(member: hujson.Member, logins: Sequence[tuple[str, str]], unit: bytes = b"\t") -> bool:
    """Append each ``(login, comment)`` to the array ``member`` holds, in the array's style.

    A multi-line array gets new lines ``"login", // comment`` at the same
    indentation as its elements; an empty or one-line array without comments
    becomes multi-line; a one-line array holding comments stays on one line
    and the comments are ``/* … */`` blocks. Returns whether the array became
    multi-line (its member then leaves the run of aligned one-line members).
    """
    array = member.value.value
    assert isinstance(array, hujson.Array)
    extras = [array.after, *(e.before for e in array.elements), *(e.after or b"" for e in array.elements)]
    multiline = any(b"\n" in x for x in extras)
    if not multiline and any(_has_comment(x) for x in extras):
        for login, comment in logins:
            _append_inline(array, hujson.Literal.from_python(login), comment)
        return False
    key_indent = _line_indent(member.name.before) or b""
    if not multiline:
        child = key_indent + unit
        for element in array.elements:
            element.before = b"\n" + child
            element.after = b""
        array.after = b"\n" + key_indent
    child = next((indent for e in reversed(array.elements)
                  if (indent := _line_indent(e.before)) is not None), key_indent + unit)
    for login, comment in logins:
        _append_multiline(array, hujson.Literal.from_python(login), comment, key_indent, child)
    return not multiline


def _groups_object(policy: hujson.Value) -> hujson.Value | None:
    top = policy.value
    assert isinstance(top, hujson.Object)
    groups = top.get("groups")
    return groups.value if groups is not None and isinstance(groups.value.value, hujson.Object) else None


def _aligned(groups: hujson.Value) -> list[bytes]:
    """The padding before each member's value in ``groups`` as ``hujson`` format aligns it (not applied)."""
    assert isinstance(groups.value, hujson.Object)
    members = groups.value.members
    saved = [m.value.before for m in members]
    for member in members:
        if member.value.before and not member.value.before.strip(b" \t"):
            member.value.before = b" "
    hujson.align(groups, deep=False)  # only the groups themselves: their arrays hold no objects
    aligned = [m.value.before for m in members]
    for member, before in zip(members, saved, strict=True):
        member.value.before = before
    return aligned


def _is_aligned(groups: hujson.Value) -> bool:
    assert isinstance(groups.value, hujson.Object)
    return _aligned(groups) == [m.value.before for m in groups.value.members]


def realign_groups(policy: hujson.Value, was_aligned: bool) -> None:
    """After arrays of ``groups`` became multi-line and left their runs of aligned one-line members, align
    the runs again as ``hujson`` format does, if the base aligned them that way (``was_aligned``): a
    canonical base then renders canonical text. A hand-aligned base keeps its bytes."""
    groups = _groups_object(policy)
    if groups is None or not was_aligned:
        return
    assert isinstance(groups.value, hujson.Object)
    for member, before in zip(groups.value.members, _aligned(groups), strict=True):
        member.value.before = before


def _append_multiline(array: hujson.Array, literal: hujson.Literal, comment: str, key_indent: bytes,
                      child: bytes) -> None:
    """Append ``literal`` on a line of its own at indentation ``child``, with ``// comment`` after it."""
    trailing_comma = True
    if array.elements:
        last = array.elements[-1]
        trailing_comma = last.after is not None
        if last.after is None:
            last.after = b""  # the comma now follows the value directly; array.after is the tail below
    tail = array.after
    cut = first_line_end(tail)
    if cut < 0:  # the closing bracket sits on the last element's line
        head, rest = tail + b"\n", key_indent
    else:
        head, rest = tail[:cut], tail[cut:]
    array.elements.append(hujson.Value(literal, before=head + child, after=b"" if trailing_comma else None))
    array.after = b" // " + comment.encode() + b"\n" + rest


def _append_inline(array: hujson.Array, literal: hujson.Literal, comment: str) -> None:
    block = b" /* " + comment.encode() + b" */"
    if not array.elements:
        array.elements.append(hujson.Value(literal, before=array.after + b" ", after=None))
        array.after = block
        return
    last = array.elements[-1]
    if last.after is None:
        last.after = array.after
        array.elements.append(hujson.Value(literal, before=b" ", after=None))
        array.after = block
    else:
        array.elements.append(hujson.Value(literal, before=array.after or b" ", after=block))
        array.after = b""


def _indent_unit(policy: hujson.Value) -> bytes:
    """One level of indentation as the file writes it: the step from ``"groups"`` to its entries."""
    top = policy.value
    assert isinstance(top, hujson.Object)
    groups = top.get("groups")
    if groups is not None and isinstance(groups.value.value, hujson.Object):
        outer = _line_indent(groups.name.before)
        for entry in groups.value.value.members:
            inner = _line_indent(entry.name.before)
            if outer is not None and inner is not None and inner.startswith(outer) and len(inner) > len(outer):
                return inner[len(outer):]
    return b"\t"


def _line_indent(extra: bytes) -> bytes | None:
    """The blanks after the last newline of ``extra``, or None when it has no newline before the value."""
    cut = extra.rfind(b"\n")
    if cut < 0:
        return None
    indent = extra[cut + 1:]
    return indent if indent.strip(b" \t") == b"" else None


def _has_comment(extra: bytes) -> bool:
    return b"//" in extra or b"/*" in extra


def first_line_end(extra: bytes) -> int:
    """Index just past the first newline of ``extra`` that is not inside a block comment; -1 if none."""
    if b"/*" not in extra:  # no block comment: the first newline (a line comment ends at it too)
        return extra.find(b"\n") + 1 or -1
    i, n = 0, len(extra)
    while i < n:
        if extra.startswith(b"/*", i):
            close = extra.find(b"*/", i + 2)
            i = n if close < 0 else close + 2
        elif extra.startswith(b"//", i):
            newline = extra.find(b"\n", i)
            return -1 if newline < 0 else newline + 1
        elif extra[i] == 0x0A:
            return i + 1
        else:
            i += 1
    return -1
