"""The revoke-only plan: expired access taken out of the live policy alone. Pure: values in, a value out.

Every login tailjit adds to a group carries its member note (``tailjit:
prod/alice.yaml until 2026-11-24T14:00:00Z``, `MemberNote`) in the live
policy. So the live text and the time are enough to end expired access: no
config, base policy, grant file or git history is needed. This is what
``apply`` falls back to when anything stops the full reconcile.

`revoke_plan` looks at every array in every ``groups`` object of the live
policy (a group defined twice included), and proposes the live text with
each member whose note has expired removed, together with its note. When
the names of the grant files that exist are known (``existing``), a member
whose file is gone goes too. It never adds anyone and never touches a member
without a note. A member whose note cannot be read (``tailjit: …`` that is
not ``<file> until <time>``) is left alone and reported: tailjit cannot tell
when it ends.

The header: a live text whose digest header matches its body (tailjit wrote
it) gets a fresh header for the new body, so it stays tailjit's; a text
edited elsewhere keeps its header as it is, and stays drift for the next
full reconcile to show.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from datetime import datetime

from reconciler import hujson
from reconciler.core.durations import format_time
from reconciler.core.notes import note_text_at
from reconciler.core.policy import (
    NOTE_PREFIX,
    MemberNote,
    Policy,
    as_policy,
    body_digest,
    parse_policy,
    split_header,
    with_header,
)

#: A malformed note is shown up to this many characters.
MAX_SHOWN = 120


@dataclass(frozen=True)
class Revocation:
    """A member the revoke-only plan removes: its note expired, or its grant file is gone."""

    group: str
    user: str
    note: MemberNote
    #: the grant file named by the note no longer exists (the note itself may not have expired yet)
    gone: bool = False

    def describe(self, now: datetime) -> str:
        why = ("its grant file is gone" if self.gone and self.note.until > now
               else f"expired at {format_time(self.note.until)}")
        return f"revoke {self.user} from {self.group} ({self.note.grant}: {why})"


@dataclass(frozen=True)
class Unreadable:
    """A member whose ``tailjit:`` note is not ``<file> until <time>``: left alone, and reported."""

    group: str
    user: str
    note: str

    def describe(self) -> str:
        return (f"{self.user} in {self.group} carries a note tailjit cannot read ({NOTE_PREFIX}{self.note!r}); "
                f"left alone: remove it by hand if its access should end")


@dataclass(frozen=True)
class RevokePlan:
    """What the revoke-only fallback would write: ``proposed`` is ``live`` minus the `Revocation` members."""

    live: bytes
    proposed: bytes
    revocations: tuple[Revocation, ...]
    unreadable: tuple[Unreadable, ...]
    proposed_policy: Policy
    #: the earliest end among the notes kept: when the next revocation is due
    next_expiry: datetime | None = None

    @property
    def has_changes(self) -> bool:
        return self.proposed != self.live

    @property
    def users(self) -> frozenset[str]:
        return frozenset(r.user for r in self.revocations)


def revoke_plan(live: bytes | Policy, now: datetime, *, existing: Collection[str] | None = None) -> RevokePlan:
    """The live policy with every expired member removed (and, given ``existing``, every member whose grant
    file is not in it: names as notes write them, ``prod/alice.yaml``).

    A live text that is not a policy raises `PolicyError`; an empty one (no policy yet) has nothing to revoke.
    """
    live_policy = as_policy(live, "live policy")
    text = live_policy.text
    if not text.strip():
        return RevokePlan(text, text, (), (), live_policy)
    digest, body = split_header(text)
    tree = parse_policy(body, "live policy")
    revocations: list[Revocation] = []
    unreadable: list[Unreadable] = []
    next_expiry: datetime | None = None
    for group, array in _group_arrays(tree):
        doomed: list[tuple[int, Revocation]] = []
        for index, element in enumerate(array.elements):
            login = _login(element)
            if login is None:
                continue
            raw = note_text_at(array, index)
            if raw is None:
                continue
            note = MemberNote.parse(raw)
            if note is None:
                unreadable.append(Unreadable(group, login, raw.strip()[:MAX_SHOWN]))
            elif note.until <= now or (existing is not None and note.grant not in existing):
                doomed.append((index, Revocation(group, login, note, gone=note.until > now)))
            elif next_expiry is None or note.until < next_expiry:
                next_expiry = note.until
        if doomed:
            _remove(array, [i for i, _ in doomed], [r.note for _, r in doomed])
            revocations += [r for _, r in doomed]
    if not revocations:
        return RevokePlan(text, text, (), tuple(unreadable), live_policy, next_expiry)
    new_body = tree.pack()
    if digest is not None and digest == body_digest(body):
        proposed = with_header(new_body)
    else:
        proposed = text[:len(text) - len(body)] + new_body
    return RevokePlan(text, proposed, tuple(revocations), tuple(unreadable),
                      Policy(proposed, path="revoke-only policy"), next_expiry)


def _group_arrays(tree: hujson.Value) -> Iterator[tuple[str, hujson.Array]]:
    """Every member array of every ``groups`` object, a name defined twice included (each copy)."""
    top = tree.value
    assert isinstance(top, hujson.Object)
    for member in top.members:
        if member.name.to_python() != "groups" or not isinstance(member.value.value, hujson.Object):
            continue
        for group in member.value.value.members:
            name = group.name.to_python()
            if isinstance(name, str) and isinstance(group.value.value, hujson.Array):
                yield name, group.value.value


def _login(element: hujson.Value) -> str | None:
    value = element.value
    if type(value) is not hujson.Literal or not value.is_string():
        return None
    login = value.to_python()
    return login if isinstance(login, str) else None


def _remove(array: hujson.Array, indexes: list[int], notes: list[MemberNote]) -> None:
    """Remove the elements at ``indexes`` with their comments, in the array's own style."""
    operations = [{"op": "remove", "path": f"/{i}"} for i in sorted(indexes, reverse=True)]
    hujson.Value(array).patch(json.dumps(operations).encode())
    for note in notes:  # a one-line array keeps the last element's /* … */ in the array's tail
        stale = b" /* " + note.comment.encode() + b" */"
        array.after = array.after.replace(stale, b"").replace(stale.lstrip(), b"")
    if not array.elements and not array.after.strip():
        array.after = b""


def without_tests(plan: RevokePlan) -> tuple[RevokePlan, tuple[str, ...]]:
    """``plan`` with the policy ``tests`` entries whose ``src`` is a revoked user removed too, and those
    entries as shown by `tests_naming`; ``(plan, ())`` when there are none.

    Such a test asserts access that has just ended, so the tailnet refuses the revocation while it stands:
    it is the test that is wrong, and access must end anyway. Removing a test never grants anything.
    """
    wanted = {u.lower() for u in plan.users}
    digest, body = split_header(plan.proposed)
    tree = parse_policy(body, "revoke-only policy")
    top = tree.value
    assert isinstance(top, hujson.Object)
    found = top.get("tests")
    if found is None or not isinstance(found.value.value, hujson.Array):
        return plan, ()
    array = found.value.value
    doomed = []
    for index, element in enumerate(array.elements):
        entry = element.to_python() if isinstance(element.value, hujson.Object) else None
        src = entry.get("src") if isinstance(entry, dict) else None
        if isinstance(src, str) and src.lower() in wanted:
            doomed.append(index)
    if not doomed:
        return plan, ()
    named = tuple(tests_naming(plan.proposed_policy, plan.users))
    operations = [{"op": "remove", "path": f"/{i}"} for i in sorted(doomed, reverse=True)]
    hujson.Value(array).patch(json.dumps(operations).encode())
    new_body = tree.pack()
    managed = digest is not None and digest == body_digest(body)
    proposed = with_header(new_body) if managed else plan.proposed[:len(plan.proposed) - len(body)] + new_body
    return (RevokePlan(plan.live, proposed, plan.revocations, plan.unreadable,
                       Policy(proposed, path="revoke-only policy"), plan.next_expiry), named)


def tests_naming(policy: Policy, users: Collection[str]) -> list[str]:
    """The policy ``tests`` entries whose ``src`` is one of ``users``, as ``tests[N]: {…}`` for messages.

    Such a test needs the temporary member's access, so the tailnet refuses its revocation.
    """
    data = policy.data
    tests = data.get("tests") if isinstance(data, dict) else None
    if not isinstance(tests, list):
        return []
    wanted = {u.lower() for u in users}
    found = []
    for number, entry in enumerate(tests):
        src = entry.get("src") if isinstance(entry, dict) else None
        if isinstance(src, str) and src.lower() in wanted:
            found.append(f"tests[{number}]: {json.dumps(entry)[:200]}")
    return found
