"""A policy text as tailjit reads and writes it: its parse, its digest header, and the member note.

`Policy` is a text with its parse, made on first use and kept *on the value*:
render hands over the tree it has just packed, and the plan, the local
validation and the PR comment read the same parse instead of parsing a
2 MiB text again. Nothing is kept anywhere else, so two values never share
a tree by accident. The tree and the data a `Policy` holds are read-only:
to edit a policy, take a tree of your own (`parse_policy`).

The header: a policy tailjit wrote carries one comment line with the digest
of the rest of the text (`with_header`, `split_header`); drift detection
compares it with the digest of what is live.

The member note: every login tailjit adds to a target group carries a
trailing comment ``tailjit: <target>/<file> until <time>`` (`MemberNote`).
It is the one format written in render and read back from a live policy, by
the plan, the PR comment and the revoke-only fallback.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from reconciler import hujson
from reconciler.core.durations import format_time, parse_time
from reconciler.errors import PolicyError

HEADER_PREFIX = b"// tailjit:digest sha256:"
HEADER_NOTE = b" (written by tailjit from git: change the repository, not this text)"
#: What starts a member note, inside the comment after the member.
NOTE_PREFIX = "tailjit: "
_UNTIL = " until "


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
        grant, sep, until = text.strip().rpartition(_UNTIL)
        if not sep or not grant or any(c.isspace() for c in grant):
            return None
        try:
            return cls(grant, parse_time(until.strip()))
        except (ValueError, OverflowError):
            return None


def body_digest(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def with_header(body: bytes) -> bytes:
    """Prefix ``body`` with the header line carrying its digest."""
    return HEADER_PREFIX + body_digest(body).encode() + HEADER_NOTE + b"\n" + body


def split_header(text: bytes) -> tuple[str | None, bytes]:
    """``(digest, body)`` of a policy text; ``(None, text)`` when it has no tailjit header."""
    if not text.startswith(HEADER_PREFIX):
        return None, text
    end = text.find(b"\n")
    line = text if end < 0 else text[:end]
    body = b"" if end < 0 else text[end + 1:]
    digest = line[len(HEADER_PREFIX):len(HEADER_PREFIX) + 64].decode("ascii", "replace")
    return digest, body


def parse_policy(text: bytes, path: str) -> hujson.Value:
    """Parse a policy text into a tree of the caller's own; a syntax error is a `PolicyError` at ``path:line``."""
    try:
        value = hujson.parse(text)
    except hujson.HuJSONError as e:
        raise PolicyError(str(e).removeprefix("hujson: "), path=path, line=e.line) from None
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

    __slots__ = ("_data", "_tree", "path", "text")

    def __init__(self, text: bytes, tree: hujson.Value | None = None, *, path: str = "policy") -> None:
        self.text = text
        self.path = path
        self._tree = tree
        self._data: Any = None

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


def as_policy(text: bytes | Policy, path: str) -> Policy:
    """``text`` as a `Policy`: as it is when it already is one."""
    return text if isinstance(text, Policy) else Policy(text, path=path)
