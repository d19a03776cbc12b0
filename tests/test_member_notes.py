"""Member notes read back from a live policy, and the extensions a plan finds by comparing them.

An extension is a member of a target group on both sides whose grant's end moves: only its note
changes, so the member changes do not show it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from reconciler.core.config import Target
from reconciler.core.grants import Grant, GrantStatus, State
from reconciler.core.plan import make_plan
from reconciler.core.policy import MemberNote
from reconciler.core.render import render

START = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
PROD = {"prod": Target("prod", "group:prod", timedelta(hours=8))}
BASE = b'{"groups": {"group:prod": ["dana@example.com"]}}\n'


def active(user: str, hours: int, name: str | None = None) -> GrantStatus:
    file = name or f"{user.split('@')[0]}.yaml"
    grant = Grant(f"policy/grants/prod/{file}", user, "prod", "INC-1")
    return GrantStatus(grant, State.ACTIVE, START, START + timedelta(hours=hours))


def moves(live: bytes, desired: bytes) -> list[tuple[str, str, str]]:
    plan = make_plan(live, desired, PROD)
    return [(e.user, str(e.previous), str(e.note)) for e in plan.extensions]


def test_an_edited_end_is_an_extension_though_only_the_time_in_the_note_differs() -> None:
    others = [active(f"u{i}@example.com", 2) for i in range(30)]
    live = render(BASE, PROD, [*others, active("alice@example.com", 4)])
    desired = render(BASE, PROD, [*others, active("alice@example.com", 6)])
    plan = make_plan(live, desired, PROD)
    assert plan.member_changes == () and plan.has_changes
    assert moves(live, desired) == [("alice@example.com", "prod/alice.yaml until 2026-11-24T14:00:00Z",
                                     "prod/alice.yaml until 2026-11-24T16:00:00Z")]


def test_a_renamed_grant_file_with_the_same_end_is_no_extension() -> None:
    live = render(BASE, PROD, [active("alice@example.com", 4)])
    desired = render(BASE, PROD, [active("alice@example.com", 4, name="alice-again.yaml")])
    plan = make_plan(live, desired, PROD)
    assert plan.has_changes and plan.member_changes == () and plan.extensions == ()


def test_a_note_written_another_way_with_the_same_end_is_no_extension() -> None:
    # Hand-edited: a block comment and an offset instead of Z. The texts differ; the end does not.
    live = (b'{"groups": {"group:prod": ["dana@example.com", '
            b'"alice@example.com" /* tailjit: prod/alice.yaml until 2026-11-24T16:00:00+02:00 */]}}\n')
    desired = render(BASE, PROD, [active("alice@example.com", 4)])
    assert moves(live, desired) == []


def test_an_old_note_that_is_malformed_gives_no_extension() -> None:
    live = (b'{"groups": {"group:prod": [\n"dana@example.com",\n'
            b'"alice@example.com", // tailjit: prod/alice.yaml until someday\n]}}\n')
    desired = render(BASE, PROD, [active("alice@example.com", 4)])
    plan = make_plan(live, desired, PROD)
    assert plan.member_changes == () and plan.extensions == ()


def test_a_login_listed_twice_is_read_at_its_last_place_with_a_valid_note() -> None:
    live = (b'{"groups": {"group:prod": [\n"dana@example.com",\n'
            b'"alice@example.com", // tailjit: prod/alice.yaml until 2026-11-24T12:00:00Z\n'
            b'"alice@example.com", // tailjit: prod/alice.yaml until 2026-11-24T14:00:00Z\n'
            b'"alice@example.com", // tailjit: prod/alice.yaml until someday\n]}}\n')
    desired = render(BASE, PROD, [active("alice@example.com", 6)])
    assert moves(live, desired) == [("alice@example.com", "prod/alice.yaml until 2026-11-24T14:00:00Z",
                                     "prod/alice.yaml until 2026-11-24T16:00:00Z")]


Z = "+00:00"


@pytest.mark.parametrize(("text", "read"), [
    ("prod/a.yaml until 2026-11-24T14:00:00Z", ("prod/a.yaml", "2026-11-24T14:00:00" + Z)),
    (" \tprod/a.yaml until 2026-11-24T14:00:00Z  ", ("prod/a.yaml", "2026-11-24T14:00:00" + Z)),
    ("prod/a.yaml until 2000-01-01T00:00:00Z", ("prod/a.yaml", "2000-01-01T00:00:00" + Z)),
    ("prod/a.yaml until 2100-12-31T23:59:59Z", ("prod/a.yaml", "2100-12-31T23:59:59" + Z)),
    # not as tailjit writes it, still a time with a zone
    ("prod/a.yaml until 2026-11-24T14:00:00+02:00", ("prod/a.yaml", "2026-11-24T12:00:00" + Z)),
    ("prod/a.yaml until 2026-11-24 14:00:00Z", ("prod/a.yaml", "2026-11-24T14:00:00" + Z)),
    ("prod/a.yaml until 2026-11-24T14:00:00.5Z", ("prod/a.yaml", "2026-11-24T14:00:00.500000" + Z)),
    ("prod/é.yaml until 2026-11-24T14:00:00Z", ("prod/é.yaml", "2026-11-24T14:00:00" + Z)),
    # not notes
    ("prod/a.yaml until 2026-02-30T00:00:00Z", None),
    ("prod/a.yaml until 2026-00-10T14:00:00Z", None),
    ("prod/a.yaml until 2026-11-24T24:00:00Z", None),
    ("prod/a.yaml until 2026-11-24T14:00:60Z", None),
    ("prod/a.yaml until 1999-12-31T23:59:59Z", None),
    ("prod/a.yaml until 2101-01-01T00:00:00Z", None),
    ("prod/a.yaml until 2026-11-24T14:00:00", None),
    ("prod/a.yaml until ２０２６-11-24T14:00:00Z", None),
    ("prod/a.yaml  until 2026-11-24T14:00:00Z", None),
    ("my\u00a0file.yaml until 2026-11-24T14:00:00Z", None),
    ("x until y until 2026-11-24T14:00:00Z", None),
    ("prod/a.yaml until 2026-11-24T14:00:00Z until 2026-11-24T15:00:00Z", None),
])
def test_a_member_note_is_read_as_a_grant_and_a_utc_end_or_not_at_all(text: str,
                                                                      read: tuple[str, str] | None) -> None:
    note = MemberNote.parse(text)
    assert (None if note is None else (note.grant, note.until.isoformat())) == read
    assert note is None or note.until.tzinfo is UTC
