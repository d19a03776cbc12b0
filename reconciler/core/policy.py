"""A policy text as tailjit reads and writes it: its parse, its digest header, and the member note.

`Policy` is a text with its parse, made on first use and kept *on the value*:
render hands over the tree it has just packed, and the plan, the local
validation and the PR comment read the same parse instead of parsing a
2 MiB text again. Nothing is kept anywhere else, so two values never share
a tree by accident. The tree and the data a `Policy` holds are read-only:
to edit a policy, take a tree of your own (`parse_policy`).

The header: a policy tailjit wrote carries one comment line with the digest
of the rest of the text (`with_header`, `split_header`); drift detection
compares it with the digest of what is live. The digest is of the text's
canonical form (`canonical`: ``hujson.format``), so a server that re-indents,
re-aligns or normalizes line ends is not taken for an outside edit, while a
change of any value or comment still is. tailjit writes canonical text, so the
digest is also the SHA-256 of the text as written: checking it needs no
formatting unless the server changed the layout. The header is line 1, unless
the policy's own first line is a ``//`` comment (such as the admin console's
GitOps lock, which only works on line 1): then the header is line 2.

The member note: every login tailjit adds to a target group carries a
trailing comment ``tailjit: <target>/<file> until <time>`` (`MemberNote`).
It is the one format written in render and read back from a live policy, by
the plan, the PR comment and the revoke-only fallback.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from reconciler import hujson
from reconciler.core.durations import FIRST_YEAR, LAST_YEAR, format_time, parse_time
from reconciler.core.policyerror import syntax_error
from reconciler.errors import PolicyError

HEADER_PREFIX = b"// tailjit:digest sha256:"
HEADER_NOTE = b" (written by tailjit from git: change the repository, not this text)"
#: What starts a member note, inside the comment after the member.
NOTE_PREFIX = "tailjit: "
_UNTIL = " until "
#: A note exactly as `MemberNote.__str__` writes it (printable ASCII without spaces for the grant, a UTC time to
#: the second): what nearly every note in a live policy is. `MemberNote.parse` reads it by this match alone,
#: with the result the general path gives; anything else goes the general way.
_WRITTEN = re.compile(r"([!-~]+) until (\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)Z", re.ASCII)


@dataclass(frozen=True)
class MemberNote:
    """Why tailjit put a login in a group: which grant file (``prod/alice.yaml``), and until when."""

    grant: str
    until: datetime

    def __str__(self) -> str:
        """``prod/alice.yaml until 2026-11-24T14:00:00Z``: the note as written after the prefix."""
        return f"{self.grant}{_UNTIL}{format_time(self.until)}"

    @property
    def comment(self) -> str:
        """The comment text written after the member: ``tailjit: prod/alice.yaml until …``."""
        return NOTE_PREFIX + str(self)

    @classmethod
    def parse(cls, text: str) -> MemberNote | None:
        """The note in ``text`` (what follows the prefix); None when it is not one tailjit wrote."""
        text = text.strip()
        written = _WRITTEN.fullmatch(text)
        if written is not None:  # the form `__str__` writes: read without the general time parser
            grant, year, month, day, hour, minute, second = written.groups()
            try:
                until = datetime(int(year), int(month), int(day), int(hour), int(minute), int(second), tzinfo=UTC)
            except ValueError:
                pass  # not a date (a 13th month): the general path below says None
            else:
                if FIRST_YEAR <= until.year <= LAST_YEAR:
                    return cls(grant, until)
        grant, sep, until_text = text.rpartition(_UNTIL)
        if not sep or not grant or any(c.isspace() for c in grant):
            return None
        try:
            return cls(grant, parse_time(until_text.strip()))
        except (ValueError, OverflowError):
            return None


def body_digest(body: bytes) -> str:
    """The SHA-256 of ``body`` as it is (the canonical digest when ``body`` is canonical)."""
    return hashlib.sha256(body).hexdigest()


def canonical(body: bytes) -> bytes:
    """The canonical form of a policy text: ``hujson.format`` (as Tailscale's gitops-pusher compares).

    Raises `hujson.HuJSONError` when ``body`` is not HuJSON.
    """
    return hujson.format(body)


def canonical_digest(body: bytes) -> str:
    """The digest a header carries for ``body``: of its canonical form."""
    return body_digest(canonical(body))


def header_line(digest: str) -> bytes:
    """The header line (with its newline) carrying ``digest``."""
    return HEADER_PREFIX + digest.encode() + HEADER_NOTE + b"\n"


def header_at(body: bytes) -> int:
    """Where the header goes in ``body``: 0, or after the first line when that is a ``//`` comment."""
    if not body.startswith(b"//"):
        return 0
    end = body.find(b"\n")
    return len(body) if end < 0 else end + 1


def insert_header(body: bytes, line: bytes) -> bytes:
    """``body`` with the header ``line`` put where `header_at` says."""
    at = header_at(body)
    head = body[:at] if body[:at].endswith(b"\n") or not at else body[:at] + b"\n"
    return head + line + body[at:]


def with_header(body: bytes) -> bytes:
    """``body`` with the header carrying its digest. ``body`` must be canonical (see `canonical`)."""
    return insert_header(body, header_line(body_digest(body)))


def split_header(text: bytes) -> tuple[str | None, bytes]:
    """``(digest, body)`` of a policy text; ``(None, text)`` when it has no tailjit header.

    The header is looked for on line 1, and on line 2 after a first line that is a ``//`` comment.
    """
    at = 0 if text.startswith(HEADER_PREFIX) else header_at(text)
    if not text.startswith(HEADER_PREFIX, at):
        return None, text
    end = text.find(b"\n", at)
    line = text[at:] if end < 0 else text[at:end]
    body = text[:at] + (b"" if end < 0 else text[end + 1:])
    digest = line[len(HEADER_PREFIX):len(HEADER_PREFIX) + 64].decode("ascii", "replace")
    return digest, body


def header_of(text: bytes) -> bytes:
    """The header line of ``text`` (with its newline), or b"" when it has none."""
    digest, body = split_header(text)
    if digest is None:
        return b""
    at = header_at(body)
    return text[at:len(text) - len(body) + at]


def parse_policy(text: bytes, path: str) -> hujson.Value:
    """Parse a policy text into a tree of the caller's own; a syntax error is a `PolicyError` at ``path:line``."""
    try:
        value = hujson.parse(text)
    except hujson.HuJSONError as e:
        raise syntax_error(text, e, path) from None
    _check_object(value, path)
    return value


def _check_object(value: hujson.Value, path: str) -> None:
    if not isinstance(value.value, hujson.Object):
        raise PolicyError("a policy file is a JSON object ({ … })", path=path, line=1)


def refuse_duplicate_groups(policy: hujson.Value, path: str) -> None:
    """A `PolicyError` naming both lines when ``groups``, or a group in it, is defined twice.

    JSON readers disagree on which copy wins, and a patch of the first copy
    would leave access in the second: such a base policy is never rendered.
    """
    top = policy.value
    assert isinstance(top, hujson.Object)
    copies = [m for m in top.members if m.name.to_python() == "groups"]
    if len(copies) > 1:
        first, second = (line_of_name(policy, m) for m in copies[:2])
        raise PolicyError(f'"groups" is defined twice (lines {first} and {second})', path=path, line=second,
                          hint='merge the two into one "groups" object')
    if not copies or not isinstance(copies[0].value.value, hujson.Object):
        return
    seen: dict[str, hujson.Member] = {}
    for member in copies[0].value.value.members:
        name = member.name.to_python()
        if not isinstance(name, str):
            continue
        if name in seen:
            first, second = line_of_name(policy, seen[name]), line_of_name(policy, member)
            raise PolicyError(f"{name} is defined twice in \"groups\" (lines {first} and {second})", path=path,
                              line=second, hint="keep one definition with every member in it")
        seen[name] = member


def line_of_name(policy: hujson.Value, member: hujson.Member) -> int:
    """The line (from 1) where ``member``'s name is written in ``policy``'s text. For messages: it packs."""
    name = member.name
    original = name.value
    name.value = hujson.Literal(b'"\x00tailjit-line-mark\x00"')
    try:
        text = policy.pack()
    finally:
        name.value = original
    return text[:text.index(b"\x00tailjit-line-mark")].count(b"\n") + 1


class Policy:
    """A policy text, and its tree and plain data, each made once when first asked for.

    ``tree`` is given when the caller has just packed ``text`` from it (render
    does), so it is never parsed. Both are read-only: see the module docstring.
    """

    __slots__ = ("_data", "_tree", "groups_at", "path", "text")

    def __init__(self, text: bytes, tree: hujson.Value | None = None, *, path: str = "policy",
                 groups_at: tuple[int, int] | None = None) -> None:
        self.text = text
        self.path = path
        self._tree = tree
        self._data: Any = None
        #: Where the brackets of the value of ``groups`` are in the body (the text, header aside), when the
        #: maker knows it without packing (render does): ``body[start:end]``.
        self.groups_at = groups_at

    @property
    def tree(self) -> hujson.Value:
        """The parse of ``text``; a syntax error is a `PolicyError` at ``path:line``."""
        if self._tree is None:
            self._tree = parse_policy(self.text, self.path)
        return self._tree

    @property
    def data(self) -> Any:
        """The plain JSON data of ``text``."""
        if self._data is None:
            self._data = self.tree.to_python()
        return self._data

    def __repr__(self) -> str:
        return f"Policy({self.path!r}, {len(self.text)} bytes)"


def canonical_policy(policy: Policy, *, rest_canonical: bool = False) -> Policy:
    """``policy`` as tailjit writes it: its body in canonical form, under the header carrying its digest.

    The formatting is done on ``policy``'s own tree, which ``policy`` gives up (it parses its text again
    if asked for its tree later): copying a 2 MiB tree costs as much as parsing it. The plain data is the
    same and is carried over when it was already made.

    ``rest_canonical`` says that everything outside the value of ``groups`` is canonical already: the
    caller found it byte for byte in a text tailjit wrote (`groups_of_same`). Then only that value is
    formatted (`hujson.format_member`): the same text as formatting the whole, for a fraction of the work
    when a scheduled run grants and revokes.
    """
    tree = policy.tree
    policy._tree = None
    tree.before = split_header(tree.before)[1]
    body = _format_groups_only(policy, tree) if rest_canonical else None
    if body is None:
        tree.format()
        body = tree.pack()
    line = header_line(body_digest(body))
    tree.before = insert_header(tree.before, line)
    result = Policy(insert_header(body, line), tree, path=policy.path)
    result._data = policy._data
    return result


#: Stands for the value of ``groups`` while the text before it is packed: no policy text holds a NUL byte.
_MARK = hujson.Literal(b'"\x00tailjit:groups\x00"')


def _format_groups_only(policy: Policy, tree: hujson.Value) -> bytes | None:
    """``policy``'s body formatted by formatting only the value of ``groups`` in ``tree`` (``policy``'s parse,
    header aside); None, with ``tree`` unchanged, where `hujson.format_member` cannot tell."""
    _, body = split_header(policy.text)
    if policy.groups_at is not None:
        member, (start, end) = single_groups(tree), policy.groups_at
    elif (span := groups_span(tree, body)) is not None:
        member, start, end = span
    else:
        return None
    if member is None or not hujson.format_member(tree, member):
        return None
    return body[:start] + hujson.Value(member.value.value).pack() + body[end:]


def groups_of_same(live: Policy, rendered: Policy) -> hujson.Value | None:
    """The value of ``groups`` in ``live``, parsed alone, when ``live``'s body is ``rendered``'s byte for byte
    outside that value; None when it is not, or where that cannot be told without parsing all of ``live``.

    The bytes before the value are ``rendered``'s up to where its parser reads the value of ``groups`` (after
    the colon and the whitespace or comments that follow); the same bytes are read the same way in ``live``,
    up to the same bracket. What follows in ``live`` is a whole value on its own, ending with its closing
    bracket, and then ``rendered``'s bytes after its value, which its parser reads from the same point. So
    ``live`` parses as ``rendered`` does around ``groups``, and that value is its ``groups``: only it is parsed.
    """
    if rendered.groups_at is None:
        return None
    _, body = split_header(rendered.text)
    _, live_body = split_header(live.text)
    start, end = rendered.groups_at
    stop = len(live_body) - (len(body) - end)
    if stop - start < 2 or live_body[:start] != body[:start] or live_body[stop:] != body[end:]:
        return None
    own = live_body[start:stop]
    if own[:1] != body[start:start + 1] or own[-1:] != body[end - 1:end]:
        return None
    try:
        value = hujson.parse(own)
    except hujson.HuJSONError:
        return None
    if value.before or value.after or isinstance(value.value, hujson.Literal):
        return None
    return value


def groups_tree(groups: hujson.Value) -> hujson.Value:
    """A policy tree holding only ``groups`` (what the member notes are read from)."""
    name = hujson.Value(hujson.Literal(b'"groups"'))
    return hujson.Value(hujson.Object([hujson.Member(name, groups)]))


def single_groups(tree: hujson.Value) -> hujson.Member | None:
    """The member ``groups`` of ``tree``, when there is exactly one and it holds an object or an array."""
    top = tree.value
    if not isinstance(top, hujson.Object):
        return None
    found = [m for m in top.members if isinstance(m.name.value, hujson.Literal)
             and m.name.value.to_python() == "groups"]
    if len(found) != 1 or isinstance(found[0].value.value, hujson.Literal):
        return None
    return found[0]


def groups_span(tree: hujson.Value, body: bytes) -> tuple[hujson.Member, int, int] | None:
    """`single_groups` of ``tree``, and where the brackets of its value are in ``body``, which is ``tree``
    packed with the header aside: ``body[start:end]``. None when there is no single ``groups``.

    The members up to ``groups`` are packed with a mark standing for its value, and its value alone: a
    base policy's ``groups`` near its top costs little, wherever the bulk of the policy is.
    """
    member = single_groups(tree)
    if member is None:
        return None
    top = tree.value
    assert isinstance(top, hujson.Object)
    members, before, inner = top.members, tree.before, member.value.value
    try:
        member.value.value = _MARK
        top.members = members[:next(i for i, m in enumerate(members) if m is member) + 1]
        tree.before = split_header(before)[1]
        head = tree.pack()
    finally:
        top.members, member.value.value, tree.before = members, inner, before
    if head.count(_MARK.raw) != 1:  # a comment holding NUL bytes: no shortcut
        return None
    start = head.index(_MARK.raw)
    own = hujson.Value(inner).pack()
    if body[:start] != head[:start] or body[start:start + len(own)] != own:
        return None
    return member, start, start + len(own)


def as_policy(text: bytes | Policy, path: str) -> Policy:
    """``text`` as a `Policy`: as it is when it already is one."""
    return text if isinstance(text, Policy) else Policy(text, path=path)
