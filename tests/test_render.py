from __future__ import annotations

from datetime import timedelta

import pytest

from reconciler import hujson
from reconciler.core.config import Target
from reconciler.core.grants import Grant, GrantStatus, State
from reconciler.core.policy import HEADER_PREFIX, body_digest, split_header
from reconciler.core.render import render
from reconciler.errors import PolicyError
from tests.support import corpus
from tests.support.access import BASE_POLICY
from tests.support.policies import CORPUS_FILES, NOW, TARGETS, active, with_target_group


def body(text: bytes) -> bytes:
    digest, rest = split_header(text)
    assert digest == body_digest(rest), "the header carries the digest of the rest"
    return rest


def test_no_active_grant_gives_the_base_plus_one_header_line() -> None:
    desired = render(BASE_POLICY.encode(), TARGETS, [])
    assert desired.startswith(b"// Test tailnet.\n" + HEADER_PREFIX), "after the base's own first comment line"
    assert desired.count(b"\n") == BASE_POLICY.count("\n") + 1
    assert body(desired) == BASE_POLICY.encode()


def test_grant_is_appended_in_the_arrays_style_with_a_comment() -> None:
    desired = render(BASE_POLICY.encode(), TARGETS, [active("alice@example.com")])
    expected = BASE_POLICY.replace(
        '\t\t\t"dana@example.com", // lead\n\t\t],',
        '\t\t\t"dana@example.com", // lead\n'
        '\t\t\t"alice@example.com", // tailjit: prod/alice.yaml until 2026-11-24T14:00:00Z\n\t\t],')
    assert body(desired).decode() == expected


def test_empty_array_becomes_one_member_per_line() -> None:
    desired = render(BASE_POLICY.encode(), TARGETS, [active("bob@example.com", "staging"),
                                                     active("amy@example.com", "staging")])
    assert ('\t\t"group:staging": [\n'
            '\t\t\t"amy@example.com", // tailjit: staging/amy.yaml until 2026-11-24T14:00:00Z\n'
            '\t\t\t"bob@example.com", // tailjit: staging/bob.yaml until 2026-11-24T14:00:00Z\n'
            '\t\t],\n') in body(desired).decode()


def test_inline_array_with_spaces_is_expanded_with_the_files_indent() -> None:
    base = b'{\n  "groups": {\n    "group:prod": ["dana@example.com", "erin@example.com"]\n  }\n}\n'
    desired = body(render(base, {"prod": TARGETS["prod"]}, [active("alice@example.com")])).decode()
    assert desired == ('{\n  "groups": {\n    "group:prod": [\n      "dana@example.com",\n'
                       '      "erin@example.com",\n'
                       '      "alice@example.com", // tailjit: prod/alice.yaml until 2026-11-24T14:00:00Z\n'
                       '    ]\n  }\n}\n')


def test_inline_array_holding_comments_stays_inline() -> None:
    base = b'{"groups": {"group:prod": ["dana@example.com" /* lead */]}}'
    desired = body(render(base, {"prod": TARGETS["prod"]}, [active("alice@example.com")]))
    assert desired == (b'{"groups": {"group:prod": ["dana@example.com" /* lead */, "alice@example.com"'
                       b' /* tailjit: prod/alice.yaml until 2026-11-24T14:00:00Z */]}}')
    assert hujson.parse(desired).to_python() == {"groups": {"group:prod": ["dana@example.com", "alice@example.com"]}}


def test_closing_bracket_on_the_last_members_line() -> None:
    base = b'{\n\t"groups": {\n\t\t"group:prod": [\n\t\t\t"dana@example.com"]\n\t}\n}\n'
    desired = body(render(base, {"prod": TARGETS["prod"]}, [active("alice@example.com")]))
    assert hujson.parse(desired).to_python()["groups"]["group:prod"] == ["dana@example.com", "alice@example.com"]
    assert b"// tailjit: prod/alice.yaml" in desired


def test_permanent_member_and_duplicate_grants_are_added_once() -> None:
    statuses = [active("dana@example.com"), active("alice@example.com", name="a1", hours=1),
                active("alice@example.com", name="a2", hours=3)]
    desired = body(render(BASE_POLICY.encode(), TARGETS, statuses))
    members = hujson.parse(desired).to_python()["groups"]["group:prod"]
    assert members == ["dana@example.com", "alice@example.com"]
    assert b"prod/a2.yaml until 2026-11-24T15:00:00Z" in desired, "the comment names the latest expiry"


def test_only_active_grants_render() -> None:
    pending = active("pat@example.com")
    pending = GrantStatus(pending.grant, State.PENDING, pending.start, pending.end)
    desired = render(BASE_POLICY.encode(), TARGETS, [pending])
    assert body(desired) == BASE_POLICY.encode()


def test_rendering_is_deterministic_and_idempotent() -> None:
    once = render(BASE_POLICY.encode(), TARGETS, [active("alice@example.com")])
    assert render(BASE_POLICY.encode(), TARGETS, [active("alice@example.com")]) == once
    assert render(once, TARGETS, [active("alice@example.com")]) == once, "a rendered text renders to itself"


@pytest.mark.parametrize(("base", "expected"), [
    (b'{"acls": []}', 'the policy has no "groups" object'),
    (b'{"groups": {}}', "manages group:prod, which \"groups\" does not define"),
    (b'{"groups": {"group:prod": "dana@example.com"}}', "group:prod must be an array of logins"),
    (b'{"groups": {"group:prod": [1]}}', "group:prod must be an array of logins"),
    (b'{"groups": {\n"group:prod": [,]}}', "policy/policy.hujson:2:"),
    (b"[]", "a policy file is a JSON object"),
])
def test_base_policy_errors(base: bytes, expected: str) -> None:
    with pytest.raises(PolicyError) as info:
        render(base, {"prod": TARGETS["prod"]}, [])
    assert expected in str(info.value)


@pytest.mark.parametrize("path", CORPUS_FILES)
def test_corpus_policies_keep_every_byte_outside_the_target_group(path) -> None:  # type: ignore[no-untyped-def]
    corpus.require(path)
    base, group = with_target_group(path.read_bytes())
    targets = {"t": Target("t", group, timedelta(hours=8))}
    grant = Grant(path="policy/grants/t/zed.yaml", user="zed@example.com", target="t", reason="r",
                  expires=NOW + timedelta(hours=1))
    desired = body(render(base, targets, [GrantStatus(grant, State.ACTIVE, NOW, NOW + timedelta(hours=1))]))
    rendered = hujson.parse(desired)
    original = hujson.parse(base)
    assert rendered.to_python()["groups"][group] == [*original.to_python()["groups"][group], "zed@example.com"]
    # put the base's array back: what remains must be the base, byte for byte
    top = rendered.value
    assert isinstance(top, hujson.Object)
    groups_member = top.get("groups")
    assert groups_member is not None and isinstance(groups_member.value.value, hujson.Object)
    member = groups_member.value.value.get(group)
    original_top = original.value
    assert member is not None and isinstance(original_top, hujson.Object)
    original_groups = original_top.get("groups")
    assert original_groups is not None and isinstance(original_groups.value.value, hujson.Object)
    original_member = original_groups.value.value.get(group)
    assert original_member is not None
    member.value = original_member.value
    # and the padding before the one-line groups' values: realigned only when the base aligned them as
    # hujson format does (then the run of aligned members was broken by the array that grew)
    realigned = 0
    for mine, theirs in zip(groups_member.value.value.members, original_groups.value.value.members, strict=True):
        if mine.value.before != theirs.value.before:
            assert not mine.value.before.strip(b" ") and not theirs.value.before.strip(b" \t")
            mine.value.before, realigned = theirs.value.before, realigned + 1
    assert rendered.pack() == base
    if realigned:  # only a base whose groups hujson format would leave as they are is realigned
        copy = original_groups.value.clone()
        assert isinstance(copy.value, hujson.Object)
        for m in copy.value.members:
            m.value.before = b" " if m.value.before and not m.value.before.strip(b" \t") else m.value.before
        hujson.align(copy)
        assert copy.pack() == original_groups.value.pack()


@pytest.mark.parametrize("users", [["alice@example.com"], ["alice@example.com", "bob@example.com"]])
def test_a_canonical_base_renders_canonical_text(users: list[str]) -> None:
    base = hujson.format(b"""{
\t"groups": {
\t\t"group:sre": ["dana@example.com"],
\t\t"group:prod": [],
\t\t"group:a-long-team-name": ["erin@example.com"],
\t\t"group:staging": ["fay@example.com"],
\t},
\t"acls": [{"action": "accept", "src": ["group:prod"], "dst": ["tag:prod:22"]}],
}
""")
    assert b'"group:sre":              [' in base, "the base aligns its one-line groups"
    desired = body(render(base, TARGETS, [active(u) for u in users] + [active("gus@example.com", "staging")]))
    assert hujson.format(desired) == desired
