from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from reconciler import hujson
from reconciler.core.config import Safety, Target
from reconciler.core.grants import Grant, GrantStatus, State
from reconciler.core.plan import make_plan, member_notes
from reconciler.core.policy import MemberNote, split_header
from reconciler.core.render import render, render_policy
from reconciler.errors import PolicyError, UnsafePlan
from tests.support.access import BASE_POLICY

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
TARGETS = {"prod": Target("prod", "group:prod", timedelta(hours=8)),
           "staging": Target("staging", "group:staging", timedelta(days=7))}
PROD = {"prod": TARGETS["prod"]}
BASE = BASE_POLICY.encode()


def active(user: str, target: str = "prod") -> GrantStatus:
    grant = Grant(path=f"policy/grants/{target}/{user.split('@')[0]}.yaml", user=user, target=target, reason="r",
                  expires=NOW + timedelta(hours=2))
    return GrantStatus(grant, State.ACTIVE, NOW, NOW + timedelta(hours=2))


def test_converged_policy_has_no_changes() -> None:
    desired = render(BASE, TARGETS, [active("alice@example.com")])
    plan = make_plan(desired, desired, TARGETS)
    assert not plan.has_changes
    assert plan.member_changes == () and plan.diff == "" and not plan.drift


def test_new_grant_and_expired_grant() -> None:
    live = render(BASE, TARGETS, [active("alice@example.com"), active("bob@example.com", "staging")])
    desired = render(BASE, TARGETS, [active("carol@example.com")])
    plan = make_plan(live, desired, TARGETS)
    assert [(c.kind, c.group, c.user) for c in plan.member_changes] == [
        ("grant", "group:prod", "carol@example.com"),
        ("revoke", "group:prod", "alice@example.com"),
        ("revoke", "group:staging", "bob@example.com"),
    ]
    assert plan.member_changes[0].detail == "prod/carol.yaml until 2026-11-24T14:00:00Z"
    assert plan.other_changes == () and plan.changed_entries == 0
    assert plan.proposed == desired
    assert '+\t\t\t"carol@example.com", // tailjit: prod/carol.yaml' in plan.diff
    assert {"op": "remove", "path": "/groups/group:staging/0"} in plan.data["patch"]


def test_first_write_to_an_empty_tailnet_is_a_creation() -> None:
    desired = render(BASE, TARGETS, [])
    plan = make_plan(b"", desired, TARGETS)
    assert plan.created and plan.has_changes and not plan.drift and plan.proposed == desired


def test_outside_edit_is_drift_and_kept_while_grants_change() -> None:
    live = render(BASE, TARGETS, [active("alice@example.com")])
    edited = live.replace(b'"tag:prod:22"', b'"tag:prod:22", "tag:db:5432"')  # an admin-console edit
    desired = render(BASE, TARGETS, [active("carol@example.com")])
    plan = make_plan(edited, desired, TARGETS)
    assert plan.drift
    assert b'"tag:db:5432"' in plan.proposed, "the outside edit is kept"
    assert b'"carol@example.com", // tailjit' in plan.proposed and b"alice@example.com" not in plan.proposed
    assert '+\t\t{"action": "accept", "src": ["group:prod"], "dst": ["tag:prod:22", "tag:db:5432"]},' in plan.drift_diff
    assert split_header(plan.proposed)[0] == split_header(desired)[0], "drift stays visible on the next run"
    again = make_plan(plan.proposed, desired, TARGETS)
    assert again.drift and not again.has_changes


def test_drift_resolved_once_git_takes_the_edit_in() -> None:
    live = render(BASE, TARGETS, [])
    edited = live.replace(b'"tag:prod:22"', b'"tag:db:5432"')
    new_base = BASE.replace(b'"tag:prod:22"', b'"tag:db:5432"')
    plan = make_plan(edited, render(new_base, TARGETS, []), TARGETS)
    assert not plan.drift and plan.has_changes  # only the header changes
    added = [line for line in plan.diff.splitlines() if line.startswith("+") and not line.startswith("+++")]
    assert len(added) == 1 and added[0].startswith("+// tailjit:digest")


def test_force_overwrites_drift_with_the_rendered_policy() -> None:
    live = render(BASE, TARGETS, []).replace(b"// prod access", b"// edited in the console")
    desired = render(BASE, TARGETS, [])
    plan = make_plan(live, desired, TARGETS, force=True)
    assert plan.proposed == desired and plan.forced and not plan.drift


def test_outside_member_added_to_a_target_group_is_removed() -> None:
    live = render(BASE, TARGETS, []).replace(b'"group:staging": []', b'"group:staging": ["mallory@example.com"]')
    plan = make_plan(live, render(BASE, TARGETS, []), TARGETS)
    assert [(c.kind, c.user) for c in plan.member_changes] == [("remove", "mallory@example.com")]
    assert b"mallory" not in plan.proposed


def test_unmanaged_policy_without_header_is_drift() -> None:
    other = BASE.replace(b"// prod access", b"// hand-edited")
    plan = make_plan(other, render(BASE, TARGETS, []), TARGETS)
    assert plan.drift


def policy_with(members: int, acls: int) -> bytes:
    group = ", ".join(f'"u{i}@example.com"' for i in range(members))
    rules = ",\n".join(f'{{"action": "accept", "src": ["group:prod"], "dst": ["tag:t{i}:22"]}}' for i in range(acls))
    return f'{{"groups": {{"group:prod": [], "group:eng": [{group}]}}, "acls": [{rules}]}}'.encode()


@pytest.mark.parametrize(("removed", "safe"), [(3, True), (4, False)])
def test_member_removal_limit_at_the_boundary(removed: int, safe: bool) -> None:
    live = render(policy_with(10, 1), PROD, [])
    base = policy_with(10, 1).replace(
        ", ".join(f'"u{i}@example.com"' for i in range(removed)).encode() + b", ", b"")
    plan = make_plan(live, render(base, PROD, []), PROD)
    assert plan.removed_members == removed
    if safe:
        plan.raise_if_unsafe(Safety())
    else:
        with pytest.raises(UnsafePlan, match=f"removes {removed} of 10 permanent group members"):
            plan.raise_if_unsafe(Safety())


def test_limits_do_not_apply_below_min_existing_and_are_configurable() -> None:
    live = render(policy_with(9, 1), PROD, [])
    plan = make_plan(live, render(policy_with(0, 1), PROD, []), PROD)
    plan.raise_if_unsafe(Safety())  # 9 < min_existing
    with pytest.raises(UnsafePlan):
        plan.raise_if_unsafe(Safety(min_existing=5))


def test_revocations_never_count_against_the_limit() -> None:
    many = [active(f"u{i}@example.com") for i in range(20)]
    live = render(policy_with(0, 1), PROD, many)
    plan = make_plan(live, render(policy_with(0, 1), PROD, []), PROD)
    assert len(plan.changes_of("revoke")) == 20
    plan.raise_if_unsafe(Safety(max_removed_members=0.0, min_existing=0))


@pytest.mark.parametrize(("changed", "safe"), [(3, True), (4, False)])
def test_entry_change_limit_at_the_boundary(changed: int, safe: bool) -> None:
    base = policy_with(0, 8)  # 2 groups + 8 acl rules = 10 entries
    live = render(base, PROD, [])
    edited = base
    for i in range(changed):
        edited = edited.replace(f'"tag:t{i}:22"'.encode(), f'"tag:t{i}:443"'.encode())
    plan = make_plan(live, render(edited, PROD, []), PROD)
    assert plan.changed_entries == changed
    if safe:
        plan.raise_if_unsafe(Safety())
    else:
        with pytest.raises(UnsafePlan, match=f"changes {changed} of 10 policy entries"):
            plan.raise_if_unsafe(Safety())


@pytest.mark.parametrize("live_groups, kind, detail", [
    # the member's own line carries the note: after its comma, or the last one's before the bracket
    ('"group:prod": [\n"a@x.com", // tailjit: prod/a.yaml until 2026-11-24T14:00:00Z\n"b@x.com",\n]', "revoke", "prod/a.yaml until 2026-11-24T14:00:00Z"),
    ('"group:prod": [\n"b@x.com",\n"a@x.com" // tailjit: prod/a.yaml until 2026-11-24T14:00:00Z\n]', "revoke", "prod/a.yaml until 2026-11-24T14:00:00Z"),
    # a one-line array: a block comment before the comma
    ('"group:prod": ["a@x.com" /* tailjit: prod/a.yaml until 2026-11-24T14:00:00Z */, "b@x.com"]', "revoke", "prod/a.yaml until 2026-11-24T14:00:00Z"),
    # the note on the next member's line is not this member's
    ('"group:prod": [\n"a@x.com",\n"b@x.com", // tailjit: prod/b.yaml until 2026-11-24T14:00:00Z\n]', "remove", ""),
    # listed twice: the note of either place counts
    ('"group:prod": [\n"a@x.com",\n"b@x.com",\n"a@x.com", // tailjit: prod/a.yaml until 2026-11-24T14:00:00Z\n]', "revoke",
     "prod/a.yaml until 2026-11-24T14:00:00Z"),
])
def test_a_leaving_member_is_a_revocation_when_its_own_line_has_a_tailjit_note(
        live_groups: str, kind: str, detail: str) -> None:
    live = ('{"groups": {' + live_groups + "}}\n").encode()
    desired = render(b'{"groups": {"group:prod": ["b@x.com"]}}\n', PROD, [])
    changes = [(c.kind, c.user, c.detail) for c in make_plan(live, desired, PROD).member_changes]
    assert (kind, "a@x.com", detail) in changes


def test_member_notes_read_the_tree_when_the_data_does_not_line_up_with_it() -> None:
    # "group:prod" named twice: the tree's first array is read, while the data holds the last one
    tree = hujson.parse(b'{"groups": {"group:prod": [\n"z@x.com",\n"a@x.com", // tailjit: prod/a.yaml until 2026-11-24T14:00:00Z\n],\n'
                        b'"group:prod": ["a@x.com", "q@x.com"]}}')  # the same length: only the names tell
    notes = member_notes(tree, tree.to_python(), [("group:prod", "a@x.com"), ("group:prod", "z@x.com")])
    assert {key: str(note) for key, note in notes.items()} == {
        ("group:prod", "a@x.com"): "prod/a.yaml until 2026-11-24T14:00:00Z"}


@pytest.mark.parametrize("note", ["prod/a.yaml until T", "prod/a.yaml", "until 2026-11-24T14:00:00Z",
                                  "prod/a.yaml until 9999-99-99T00:00:00Z", "my file.yaml until 2026-11-24T14:00:00Z"])
def test_a_malformed_member_note_is_not_a_grant_note(note: str) -> None:
    assert MemberNote.parse(note) is None


def test_the_member_note_is_written_and_read_in_one_format() -> None:
    note = MemberNote("prod/alice.yaml", datetime(2026, 11, 24, 14, tzinfo=UTC))
    assert note.comment == "tailjit: prod/alice.yaml until 2026-11-24T14:00:00Z"
    assert MemberNote.parse(str(note)) == note


def test_the_removal_limit_counts_permanent_members_only_whatever_the_active_grants() -> None:
    grants = [active(f"t{i}@example.com") for i in range(20)]
    live = render(policy_with(10, 1), PROD, grants)
    base = policy_with(10, 1).replace(b'"u0@example.com", "u1@example.com", "u2@example.com", "u3@example.com", ',
                                      b"")
    plan = make_plan(live, render(base, PROD, grants), PROD)
    assert plan.existing_members == 10 and plan.removed_members == 4
    with pytest.raises(UnsafePlan, match="removes 4 of 10 permanent group members"):
        plan.raise_if_unsafe(Safety())


@pytest.mark.parametrize(("base", "message", "line"), [
    (b'{\n"groups": {"group:prod": []},\n"acls": [],\n"groups": {"group:prod": ["x@example.com"]}\n}',
     '"groups" is defined twice (lines 2 and 4)', 4),
    (b'{"groups": {\n"group:prod": [],\n"group:eng": [],\n"group:prod": ["x@example.com"],\n}}',
     'group:prod is defined twice in "groups" (lines 2 and 4)', 4),
    (b'{"groups": {\n"group:eng": [],\n"group:eng": [],\n"group:prod": []}}',
     'group:eng is defined twice in "groups" (lines 2 and 3)', 3),
])
def test_a_base_policy_defining_a_group_twice_is_refused_at_both_lines(base: bytes, message: str, line: int) -> None:
    with pytest.raises(PolicyError) as info:
        render(base, PROD, [active("alice@example.com")], path="policy/policy.hujson")
    assert message in info.value.message and info.value.line == line
    assert info.value.path == "policy/policy.hujson"


def test_a_live_group_defined_twice_loses_the_expired_member_in_both_copies() -> None:
    live = (b'{"groups": {\n"group:prod": ["a@x.com", // tailjit: prod/a.yaml until 2026-11-24T11:00:00Z\n],\n'
            b'"group:prod": ["a@x.com", // tailjit: prod/a.yaml until 2026-11-24T11:00:00Z\n]}}\n')
    desired = render(b'{"groups": {"group:prod": []}}\n', PROD, [])
    plan = make_plan(live, desired, PROD)
    assert plan.drift and b"a@x.com" not in plan.proposed


def test_a_rendered_policy_is_planned_from_the_tree_it_was_packed_from() -> None:
    rendered = render_policy(BASE, TARGETS, [active("alice@example.com")])
    plan = make_plan(rendered, rendered, TARGETS)
    assert not plan.has_changes
    assert plan.proposed_policy is rendered  # the rendered tree was read, not a parse of the text
    assert rendered.tree.pack() == rendered.text
