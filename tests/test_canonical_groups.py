"""A writing run formats only ``groups`` when the rest of the policy is as tailjit last wrote it.

Where the live policy is the rendered one outside the value of ``groups`` (`groups_of_same`), only that value is
formatted, and only it is parsed in the live policy: the text written and the plan must be exactly what formatting
and parsing everything give, for every real policy of the corpus, falling back to that wherever it cannot tell.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from reconciler import hujson
from reconciler.core.config import Target
from reconciler.core.grants import GrantStatus
from reconciler.core.plan import make_plan
from reconciler.core.policy import Policy, canonical_policy, groups_of_same, split_header
from reconciler.core.render import render_policy
from reconciler.hujson.format import _format_any_extra, _format_extra
from tests.support import corpus
from tests.support.policies import CORPUS_FILES, active, with_target_group


def targets_for(group: str) -> dict[str, Target]:
    return {"prod": Target("prod", group, timedelta(hours=8))}


def grants(*users: str) -> list[GrantStatus]:
    return [active(u, "prod") for u in users]


def written(base: bytes, targets: dict[str, Target], statuses: list[GrantStatus]) -> Policy:
    """What tailjit writes for ``statuses``: the render, formatted whole."""
    return canonical_policy(render_policy(base, targets, statuses))


def both_ways(base: bytes, targets: dict[str, Target], statuses: list[GrantStatus],
              live: Policy) -> tuple[bytes, bytes, bool]:
    """The text formatted whole, the text as a plan against ``live`` makes it, and whether only groups were."""
    whole = canonical_policy(render_policy(base, targets, statuses)).text
    rendered = render_policy(base, targets, statuses)
    shortcut = groups_of_same(live, rendered) is not None
    plan = make_plan(live, rendered, targets)
    full = make_plan(Policy(live.text), Policy(rendered.text), targets)  # no shortcut: everything parsed
    assert plan.data == full.data and plan.live_data == full.live_data
    return whole, plan.proposed, shortcut


@pytest.mark.parametrize("path", CORPUS_FILES)
def test_render_puts_the_groups_between_the_base_policys_own_bytes(path: Path) -> None:
    """Render packs only the groups and takes the text around them from the base: the same as packing all."""
    base, group = with_target_group(corpus.require(path).read_bytes())
    for statuses in (grants(), grants("alice@example.com", "bob@example.com")):
        rendered = render_policy(base, targets_for(group), statuses)
        assert rendered.tree.pack() == rendered.text
        if rendered.groups_at is not None:
            start, end = rendered.groups_at
            body = split_header(rendered.text)[1]
            assert body[start:end] == hujson.Value(rendered.tree.value.get("groups").value.value).pack()


@pytest.mark.parametrize("path", CORPUS_FILES)
def test_every_real_policy_gives_the_same_text_formatting_groups_only(path: Path) -> None:
    base, group = with_target_group(hujson.format(corpus.require(path).read_bytes()))
    base = hujson.format(base)  # canonical, as `tailjit fmt` leaves it
    targets = targets_for(group)
    live = written(base, targets, grants("alice@example.com", "bob@example.com"))
    for statuses in (grants("bob@example.com", "carol@example.com"), grants(), grants("dave@example.com")):
        whole, shortcut_text, _ = both_ways(base, targets, statuses, live)
        assert shortcut_text == whole
        assert hujson.format(split_header(whole)[1]) == split_header(whole)[1]


BASE = hujson.format(b"""// GitOps lock: edit in git
{
\t"tagOwners": {"tag:prod": ["group:sre"]},
\t"groups": {
\t\t"group:sre": ["dana@example.com"],
\t\t"group:prod": [],
\t\t"group:a-long-team-name": ["erin@example.com"],
\t},
\t"acls": [{"action": "accept", "src": ["group:prod"], "dst": ["tag:prod:22"]}],
}
""")
TARGETS = targets_for("group:prod")


def test_a_scheduled_run_formats_only_groups_and_writes_what_formatting_all_would() -> None:
    live = written(BASE, TARGETS, grants("alice@example.com"))
    whole, text, shortcut = both_ways(BASE, TARGETS, grants("bob@example.com", "carol@example.com"), live)
    assert shortcut and text == whole
    found = groups_of_same(live, render_policy(BASE, TARGETS, grants("bob@example.com")))
    assert found is not None and found.to_python() == live.data["groups"]


@pytest.mark.parametrize("edit", [
    (b'\n\t"acls": [', b' "x": {},\n\t"acls": ['),        # a member more after groups
    (b'\n\t"acls": [', b'\n\t"x": 1,\n\t"acls": ['),    # ... on a line of its own
    (b'\n\t"acls": [', b' /* c */\n\t"acls": ['),        # a comment after the comma
])
def test_a_live_policy_that_differs_around_groups_is_parsed_whole(edit: tuple[bytes, bytes]) -> None:
    live = written(BASE, TARGETS, grants("alice@example.com"))
    edited = Policy(live.text.replace(*edit))
    assert edited.text != live.text
    assert groups_of_same(edited, render_policy(BASE, TARGETS, grants("bob@example.com"))) is None


@pytest.mark.parametrize("edit", [
    (b'"tag:prod": ["group:sre"]', b'"tag:prod":   ["group:sre"]'),  # the base is no longer canonical
    (b'"acls": [', b'"acls": [ // a new comment\n'),                   # the base changed outside groups
])
def test_a_base_changed_outside_groups_is_formatted_whole(edit: tuple[bytes, bytes]) -> None:
    live = written(BASE, TARGETS, grants("alice@example.com"))
    base = BASE.replace(*edit)
    assert base != BASE
    whole, text, shortcut = both_ways(base, TARGETS, grants("bob@example.com"), live)
    assert not shortcut and text == whole


@pytest.mark.parametrize("base", [
    # groups is the last member (a trailing comma after it)
    hujson.format(b'{\n\t"acls": [],\n\t"groups": {\n\t\t"group:prod": [],\n\t\t"group:x": ["a@b.c"],\n\t},\n}\n'),
    # groups on one line in the base: it spans lines only once someone is granted
    hujson.format(b'{\n\t"acls": [],\n\t"groups": {"group:prod": []},\n\t"hosts": {"a": "100.64.0.1"},\n}\n'),
    # a policy on one line
    hujson.format(b'{"groups": {"group:prod": []}, "hosts": {"a": "100.64.0.1"}}'),
    # standard JSON groups, no comment anywhere
    hujson.format(b'{\n\t"groups": {\n\t\t"group:prod": ["x@y.z"],\n\t},\n}\n'),
])
def test_unusual_layouts_give_the_same_text_either_way(base: bytes) -> None:
    for before, after in [((), ("a@b.c",)), (("a@b.c",), ()), (("a@b.c",), ("b@b.c", "c@b.c"))]:
        live = written(base, TARGETS, grants(*before))
        whole, text, _ = both_ways(base, TARGETS, grants(*after), live)
        assert text == whole


def test_a_live_policy_with_two_groups_or_none_is_formatted_whole() -> None:
    live = written(BASE, TARGETS, grants("alice@example.com"))
    twice = Policy(live.text.replace(b'\t"acls": [', b'\t"groups": {},\n\t"acls": ['))
    broken = Policy(live.text + b"{")
    for bad in (twice, broken):
        assert groups_of_same(bad, render_policy(BASE, TARGETS, grants("bob@example.com"))) is None


@pytest.mark.parametrize("extra", [
    b"\n",
    b"\n\t\t\t",
    b"\n\t \t",  # not the plain shape: the general path
    b" // tailjit: prod/a.yaml until 2026-11-24T14:00:00Z\n\t\t\t",
    b" // trailing spaces   \n\t",
    b" //\n",
    b" // \xc2\xa0non-breaking space at the end\xc2\xa0\n\t\t",
    b" // a /* block */ inside\n\t\t\t\t",
])
def test_a_common_extra_is_formatted_as_the_general_path_does(extra: bytes) -> None:
    for depth in range(4):
        for flags in range(64):
            names = ("leading_newline", "trailing_newline", "trim_leading", "trim_trailing", "unindent_last",
                     "space_if_empty")
            kwargs = {name: bool(flags >> i & 1) for i, name in enumerate(names)}
            if kwargs["unindent_last"] and depth == 0:
                continue
            assert _format_extra(extra, depth, **kwargs) == _format_any_extra(extra, depth, **kwargs)


def test_a_shallow_align_lines_up_only_the_objects_own_members() -> None:
    text = b'{\n\t"a": 1,\n\t"bbb": {\n\t\t"c": 1,\n\t\t"ddd": 2,\n\t},\n\t"ee": 3,\n\t"f": 4,\n}\n'
    shallow, deep = hujson.parse(text), hujson.parse(text)
    hujson.align(shallow, deep=False)
    hujson.align(deep)
    assert shallow.pack() == b'{\n\t"a": 1,\n\t"bbb": {\n\t\t"c": 1,\n\t\t"ddd": 2,\n\t},\n\t"ee": 3,\n\t"f":  4,\n}\n'
    assert deep.pack() == b'{\n\t"a": 1,\n\t"bbb": {\n\t\t"c":   1,\n\t\t"ddd": 2,\n\t},\n\t"ee": 3,\n\t"f":  4,\n}\n'
