"""Live policy vs desired policy → `Plan`. Pure: values in, a value out.

Drift: a policy tailjit wrote carries a header with the digest of the
canonical form of the rest of the text (`canonical`), so a server that only
changes the layout is not drift. When the live text's digest does not match
(an edit in the admin console, another tool), the plan is a *drift plan*: instead of the
rendered policy it proposes the live text with only the target groups'
member arrays replaced by the rendered ones. Access changes still happen
(expired grants go, active ones come), the outside edit is kept and shown,
and the header keeps the rendered digest, so the drift is reported again on
every run until the base policy in git takes the edit in. ``force`` proposes
the rendered policy instead.

A live policy without a header that is canonically what git renders is
*adopted*: the write adds the header, and it is not drift. One that differs
is drift and `Plan.unmanaged` (``tailjit import`` takes it into git).
"""

from __future__ import annotations

import enum
import functools
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from reconciler import hujson
from reconciler.core import linediff
from reconciler.core.config import Safety, Target
from reconciler.core.durations import format_time
from reconciler.core.notes import NoteReader, count_noted, groups_object, note_of
from reconciler.core.notes import member_notes as member_notes  # explicit: callers read notes from here too
from reconciler.core.policy import (
    MemberNote,
    Policy,
    as_policy,
    body_digest,
    canonical,
    canonical_policy,
    groups_of_same,
    groups_tree,
    header_of,
    insert_header,
    parse_policy,
    split_header,
)
from reconciler.errors import UnsafePlan

JSONValue = Any


class ChangeKind(enum.StrEnum):
    """How a login enters or leaves a group; plans list changes in this order."""

    #: an active grant file adds it
    GRANT = "grant"
    #: a member tailjit had added leaves: its grant expired or its file is gone
    REVOKE = "revoke"
    #: a permanent member joins (from the base policy, or undoing an outside edit)
    ADD = "add"
    #: a permanent member leaves
    REMOVE = "remove"


#: The kinds of `MemberChange`, in the order plans list them.
CHANGE_KINDS = tuple(ChangeKind)


@dataclass(frozen=True)
class MemberChange:
    """A login entering or leaving a group; ``note`` is the member note of a grant or revocation."""

    group: str
    user: str
    kind: ChangeKind
    note: MemberNote | None = None

    @property
    def detail(self) -> str:
        """``prod/alice.yaml until 2026-11-24T14:00:00Z``, or "" for a permanent member."""
        return "" if self.note is None else str(self.note)

    @property
    def data(self) -> dict[str, str | None]:
        note = self.note
        return {"group": self.group, "user": self.user, "kind": str(self.kind), "detail": self.detail,
                "grant": None if note is None else note.grant,
                "until": None if note is None else format_time(note.until)}


@dataclass(frozen=True)
class Extension:
    """A member of a target group on both sides whose grant's end moves (an edited or renamed grant file)."""

    group: str
    user: str
    note: MemberNote
    previous: MemberNote

    @property
    def data(self) -> dict[str, str]:
        return {"group": self.group, "user": self.user, "grant": self.note.grant,
                "until": format_time(self.note.until), "previous_grant": self.previous.grant,
                "previous_until": format_time(self.previous.until)}


@dataclass(frozen=True)
class Plan:
    live: bytes
    proposed: bytes
    drift: bool = False
    drift_diff: str = ""
    created: bool = False
    member_changes: tuple[MemberChange, ...] = ()
    other_changes: tuple[dict[str, JSONValue], ...] = ()
    diff: str = ""
    existing_members: int = 0
    existing_entries: int = 0
    changed_entries: int = 0
    forced: bool = False
    #: the live policy had no tailjit header but is what git renders: the write only adds the header
    adopted: bool = False
    #: the live policy has no tailjit header (tailjit never wrote it) and differs from what git renders
    unmanaged: bool = False
    #: The plain data of ``live`` and ``proposed``, read from their `Policy` values: never change them.
    live_data: JSONValue = field(default=None, repr=False, compare=False)
    proposed_data: JSONValue = field(default=None, repr=False, compare=False)
    #: ``proposed`` with its parse, for a local validation that reads it (`Backend.validate`)
    proposed_policy: Policy | None = field(default=None, repr=False, compare=False)
    #: ``live`` with its parse (None for a new policy file)
    live_policy: Policy | None = field(default=None, repr=False, compare=False)
    #: members whose grant's end moves, though they stay (`Extension`)
    extensions: tuple[Extension, ...] = ()

    @functools.cached_property
    def patch(self) -> tuple[dict[str, JSONValue], ...]:
        """The RFC 6902 patch from the live data to the proposed (``plan --json``), made when first asked for."""
        if self.live_data == self.proposed_data:
            return ()
        return json_patch(self.live_data, self.proposed_data)

    @property
    def has_changes(self) -> bool:
        return self.proposed != self.live

    def changes_of(self, kind: ChangeKind) -> list[MemberChange]:
        return [c for c in self.member_changes if c.kind == kind]

    @property
    def removed_members(self) -> int:
        """Permanent members this plan removes. Revocations never count: revoking is never blocked."""
        return len(self.changes_of(ChangeKind.REMOVE))

    def raise_if_unsafe(self, safety: Safety) -> None:
        """Refuse a plan that removes or rewrites too much of what exists (``--force`` skips this)."""
        problems = []
        if (self.existing_members >= safety.min_existing
                and self.removed_members > self.existing_members * safety.max_removed_members + 1e-9):
            problems.append(f"it removes {self.removed_members} of {self.existing_members} permanent group "
                            f"members (limit {safety.max_removed_members:.0%})")
        if (self.existing_entries >= safety.min_existing
                and self.changed_entries > self.existing_entries * safety.max_changed_entries + 1e-9):
            problems.append(f"it changes {self.changed_entries} of {self.existing_entries} policy entries "
                            f"(limit {safety.max_changed_entries:.0%})")
        if problems:
            raise UnsafePlan("unsafe plan: " + "; ".join(problems),
                             hint="check the plan; if it is intended, apply with --force, or raise the "
                                  "limits under 'safety' in tailjit.yaml")

    @functools.cached_property
    def data(self) -> dict[str, JSONValue]:
        """The plan as plain JSON data: what ``plan --json`` prints and the PR comment reads (made once)."""
        return {
            "changes": self.has_changes,
            "created": self.created,
            "drift": self.drift,
            "drift_diff": self.drift_diff,
            "forced": self.forced,
            "adopted": self.adopted,
            "unmanaged": self.unmanaged,
            "counts": {**{str(kind): len(self.changes_of(kind)) for kind in ChangeKind},
                       "extend": len(self.extensions), "other": self.changed_entries},
            "member_changes": [c.data for c in self.member_changes],
            "extensions": [e.data for e in self.extensions],
            "other_changes": list(self.other_changes),
            "patch": list(self.patch),
            "diff": self.diff,
        }


def make_plan(live: bytes | Policy, rendered: bytes | Policy, targets: Mapping[str, Target], *,
              force: bool = False) -> Plan:
    """Compare ``live`` with the ``rendered`` desired policy and say what apply would write.

    Either may be given as a `Policy` whose parse is already made (render's),
    so that it is not parsed again. What is proposed is always canonical text
    (`canonical_policy`); it is formatted only when the live text is not
    already the same bytes.
    """
    live_policy = as_policy(live, "live policy")
    rendered_policy = as_policy(rendered, "rendered policy")
    target_groups = {t.group for t in targets.values()}
    if not live_policy.text.strip():
        desired = canonical_policy(rendered_policy)
        return _describe(None, desired, desired, target_groups, created=True)
    digest, live_body = split_header(live_policy.text)
    _, rendered_body = split_header(rendered_policy.text)
    as_written = digest is not None and digest == body_digest(live_body)  # by tailjit: canonical already
    # The common case, a converged tailnet holding what tailjit wrote: no formatting at all.
    if as_written and live_body == rendered_body:
        return _describe(live_policy, rendered_policy, live_policy, target_groups)
    # Granting and revoking change only the groups: with the rest as tailjit wrote it, only they are formatted,
    # and only they are parsed in the live policy.
    live_groups = groups_of_same(live_policy, rendered_policy) if as_written else None
    desired = canonical_policy(rendered_policy, rest_canonical=live_groups is not None)
    _, desired_body = split_header(desired.text)
    live_canonical: bytes | None
    if as_written:
        managed, live_canonical = True, live_body
    else:  # formatted only here: no header, an outside edit, or a server that changed the layout
        live_canonical = _canonical_or_none(live_body)
        managed = digest is not None and live_canonical is not None and digest == body_digest(live_canonical)
    if managed and live_canonical == desired_body:  # the server changed the layout only: nothing to write
        return _describe(live_policy, desired, live_policy, target_groups)
    if managed or force:
        return _describe(live_policy, desired, desired, target_groups, forced=force and not managed,
                         live_groups=live_groups)
    if live_canonical == desired_body:  # no header, but what git renders: adopt it (write the header)
        return _describe(live_policy, desired, desired, target_groups, adopted=True)
    patched = patch_target_groups(live_body, desired, target_groups)
    _, patched_body = split_header(patched.text)
    drift_diff = unified_diff(desired_body, patched_body, "git (rendered)", "live (edited outside git)")
    patched_canonical = _canonical_or_none(patched_body)
    return _describe(live_policy, desired, patched, target_groups, drift=patched_canonical != desired_body,
                     drift_diff=drift_diff, unmanaged=digest is None and patched_canonical != desired_body)


def _canonical_or_none(body: bytes) -> bytes | None:
    try:
        return canonical(body)
    except hujson.HuJSONError:
        return None


def patch_target_groups(live_body: bytes, rendered: bytes | Policy, target_groups: Iterable[str]) -> Policy:
    """``live_body`` with each target group's member array taken from ``rendered``, plus rendered's header."""
    rendered_policy = as_policy(rendered, "rendered policy")
    header = header_of(rendered_policy.text)
    live_tree = parse_policy(live_body, "live policy")
    live_groups = groups_object(live_tree)
    rendered_groups = groups_object(rendered_policy.tree)  # read only: its arrays are cloned
    assert rendered_groups is not None
    for group in sorted(target_groups):
        source = rendered_groups.get(group)
        if source is None:
            continue
        if live_groups is None:
            live_tree.patch(b'[{"op": "add", "path": "/groups", "value": {}}]')
            live_groups = groups_object(live_tree)
            assert live_groups is not None
        copies = [m for m in live_groups.members if m.name.to_python() == group]
        for existing in copies:  # a group named twice (a console edit): no copy may keep access
            existing.value.value = source.value.clone().value
        if not copies:
            pointer = "/groups/" + group.replace("~", "~0").replace("/", "~1")
            value = source.value.clone()
            value.before = value.after = b""
            live_tree.patch(b'[{"op": "add", "path": ' + hujson.Literal.from_python(pointer).raw
                            + b', "value": ' + value.pack() + b"}]")
    body = live_tree.pack()
    if not header:
        return Policy(body, live_tree, path="desired policy")
    live_tree.before = insert_header(live_tree.before, header)  # now live_tree.pack() == the text
    return Policy(insert_header(body, header), live_tree, path="desired policy")


def _describe(live: Policy | None, rendered: Policy, proposed: Policy, target_groups: set[str], *,
              created: bool = False, drift: bool = False, drift_diff: str = "", forced: bool = False,
              adopted: bool = False, unmanaged: bool = False, live_groups: hujson.Value | None = None) -> Plan:
    """The plan from ``live`` to ``proposed``. ``live_groups``: the value of ``groups`` in ``live``, parsed
    alone, where ``live`` is ``proposed`` outside it (`groups_of_same`): ``live`` is then not parsed."""
    live_text = b"" if live is None else live.text
    proposed_data = proposed.data
    live_data: JSONValue = {}
    live_tree: hujson.Value | None = None
    if live is not None and live_groups is not None and isinstance(proposed_data, dict):
        groups = live_groups.to_python()
        live_data = {k: groups if k == "groups" else v for k, v in proposed_data.items()}
        live_tree = groups_tree(live_groups)
    elif live is not None:
        live_data, live_tree = live.data, live.tree
    live_lists, proposed_groups = _group_lists(live_data), _group_lists(proposed_data)
    live_notes = None if live_tree is None else NoteReader(live_tree, live_data)
    proposed_notes = NoteReader(proposed.tree, proposed_data)
    member_changes = _member_changes(target_groups, live_lists, proposed_groups, live_notes, proposed_notes)
    extensions = () if live_notes is None or live_text == proposed.text else _extensions(
        target_groups, live_lists, proposed_groups, live_notes, proposed_notes)
    other_ops: tuple[dict[str, JSONValue], ...] = ()
    if live_data != proposed_data:
        src, dst = (_without_target_groups(x, target_groups) for x in _without_equal_members(live_data, proposed_data))
        if _json_text(src) != _json_text(dst):  # more than the target groups changed (rare: an outside edit)
            import jsonpatch

            other_ops = tuple(jsonpatch.make_patch(src, dst).patch)
    return Plan(
        live=live_text, proposed=proposed.text, drift=drift, drift_diff=drift_diff,
        created=created, member_changes=member_changes, other_changes=other_ops,
        diff=unified_diff(live_text, proposed.text, "live", "desired") if live_text != proposed.text else "",
        existing_members=_count_permanent(live_tree, live_lists, target_groups),
        existing_entries=_count_entries(live_data),
        changed_entries=len({_entry_of(op["path"]) for op in other_ops}), forced=forced,
        adopted=adopted, unmanaged=unmanaged,
        live_data=live_data, proposed_data=proposed_data, proposed_policy=proposed, live_policy=live,
        extensions=extensions,
    )


def _extensions(target_groups: set[str], before: dict[str, list[str]], after: dict[str, list[str]],
                old_notes: NoteReader, new_notes: NoteReader) -> tuple[Extension, ...]:
    """Members of a target group on both sides whose note's end differs: only their comment changes, so
    the member changes do not show them, yet their access now ends at another time. ``before`` and
    ``after`` are the groups' logins on each side (`_group_lists`)."""
    found = []
    for group in sorted(target_groups):
        staying = sorted(set(before.get(group, ())) & set(after.get(group, ())))
        old_array, new_array = old_notes.array(group), new_notes.array(group)
        if not staying or old_array is None or new_array is None:
            continue
        for user in staying:
            # Most members keep their note: the same bytes around them on both sides are the same note text,
            # and the texts are read, and parsed, only where they may differ.
            if old_array.surroundings(user) == new_array.surroundings(user):
                continue
            old_texts, new_texts = old_array.texts(user), new_array.texts(user)
            if not old_texts or not new_texts or old_texts == new_texts:
                continue
            old, new = note_of(old_texts), note_of(new_texts)
            if old is not None and new is not None and old.until != new.until:
                found.append(Extension(group, user, new, old))
    return tuple(found)


def _member_changes(target_groups: set[str], live_groups: dict[str, list[str]],
                    proposed_groups: dict[str, list[str]], live_notes: NoteReader | None,
                    proposed_notes: NoteReader) -> tuple[MemberChange, ...]:
    """Who enters and leaves each group (``live_groups`` and ``proposed_groups``: `_group_lists` of each side);
    a target group member's tailjit comment tells a grant or revocation."""
    moves: list[tuple[str, list[str], list[str]]] = []  # (group, logins entering, logins leaving)
    for group in sorted(set(live_groups) | set(proposed_groups)):
        before = live_groups.get(group, [])
        after = proposed_groups.get(group, [])
        moves.append((group, sorted(set(after) - set(before)), sorted(set(before) - set(after))))
    managed = [(group, entering, leaving) for group, entering, leaving in moves if group in target_groups]
    granted = proposed_notes.notes([(g, user) for g, entering, _ in managed for user in entering])
    revoked = {} if live_notes is None else live_notes.notes(
        [(g, user) for g, _, leaving in managed for user in leaving])
    changes: list[MemberChange] = []
    for group, entering, leaving in moves:
        for user in entering:
            note = granted.get((group, user))
            changes.append(MemberChange(group, user, ChangeKind.ADD if note is None else ChangeKind.GRANT, note))
        for user in leaving:
            note = revoked.get((group, user))
            changes.append(MemberChange(group, user, ChangeKind.REMOVE if note is None else ChangeKind.REVOKE, note))
    return tuple(changes)


def _group_lists(data: JSONValue) -> dict[str, list[str]]:
    groups = data.get("groups") if isinstance(data, dict) else None
    if not isinstance(groups, dict):
        return {}
    return {name: [m for m in members if isinstance(m, str)]
            for name, members in groups.items() if isinstance(members, list)}


def json_patch(src: JSONValue, dst: JSONValue) -> tuple[dict[str, JSONValue], ...]:
    """``jsonpatch.make_patch(src, dst)``, without walking the object members both sides have alike.

    jsonpatch descends into every member two objects share, equal or not, and
    serializes each array item on the way: most of a plan's time on a large
    policy whose only change is a few group members. A member whose JSON is
    the same on both sides gives no operation, so it is left out of both
    first, and the patch is the same: jsonpatch visits shared members in
    ``src``'s order and added ones in ``dst``'s, as it did before.
    """
    import jsonpatch  # imported when a patch is asked for (plan --json, the pull request comment)

    return tuple(jsonpatch.make_patch(*_without_equal_members(src, dst)).patch)


def _without_equal_members(src: JSONValue, dst: JSONValue) -> tuple[JSONValue, JSONValue]:
    if not isinstance(src, dict) or not isinstance(dst, dict):
        return src, dst
    kept_src: dict[str, JSONValue] = {}
    kept_dst: dict[str, JSONValue] = {}
    for key, value in src.items():
        if key not in dst:
            kept_src[key] = value
        elif value is dst[key]:  # one object on both sides (the live data shares what is outside the groups)
            continue
        elif value != dst[key] or _json_text(value) != _json_text(dst[key]):  # unequal data: unequal JSON
            kept_src[key], kept_dst[key] = _without_equal_members(value, dst[key])
    for key, value in dst.items():
        if key not in src:
            kept_dst[key] = value
    return kept_src, kept_dst


def _json_text(value: JSONValue) -> str:
    """Canonical JSON: equal exactly when jsonpatch finds nothing to change (1, 1.0 and true all differ)."""
    return json.dumps(value, sort_keys=True)


def _without_target_groups(data: JSONValue, target_groups: set[str]) -> JSONValue:
    if not isinstance(data, dict) or not isinstance(data.get("groups"), dict):
        return data
    trimmed = dict(data)
    trimmed["groups"] = {k: v for k, v in data["groups"].items() if k not in target_groups}
    return trimmed


def _count_permanent(live: hujson.Value | None, groups: dict[str, list[str]], target_groups: set[str]) -> int:
    """Members of the live policy's groups (``groups``: `_group_lists` of its data; ``live``: its tree, or one
    of its groups) that tailjit did not add (those carry no member note)."""
    total = sum(len(members) for members in groups.values())
    return total if live is None else total - count_noted(live, sorted(target_groups))


def _count_entries(data: JSONValue) -> int:
    if not isinstance(data, dict):
        return 0
    return sum(len(v) if isinstance(v, list | dict) else 1 for v in data.values())


def _entry_of(pointer: str) -> tuple[str, ...]:
    """``/acls/3/dst/0`` → ``("acls", "3")``: the policy entry an operation touches."""
    parts = pointer.split("/")[1:3]
    return tuple(p.replace("~1", "/").replace("~0", "~") for p in parts)


def unified_diff(old: bytes, new: bytes, old_name: str, new_name: str) -> str:
    lines = linediff.unified_diff(old.decode("utf-8", "replace").splitlines(keepends=True),
                                  new.decode("utf-8", "replace").splitlines(keepends=True), old_name, new_name)
    return "".join(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n" for line in lines)
