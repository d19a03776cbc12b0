"""The plan's JSON Patch skips members both sides have alike; it must be the patch jsonpatch gives for the whole."""

from __future__ import annotations

import copy
from typing import Any

import jsonpatch
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.core.plan import json_patch

_scalars = st.one_of(st.none(), st.booleans(), st.integers(-2, 2), st.sampled_from([1.0, 0.5]),
                     st.sampled_from(["a", "b", "group:x", "alice@example.com"]))
_json = st.recursive(_scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4),
    st.dictionaries(st.sampled_from(["groups", "acls", "a", "b", "c", "group:x"]), inner, max_size=4)),
    max_leaves=25)


@st.composite
def _pairs(draw: st.DrawFn) -> tuple[Any, Any]:
    """A document and a copy with a few members changed, added or removed, at any depth."""
    src = draw(st.dictionaries(st.sampled_from(["groups", "acls", "ssh", "hosts", "tests"]), _json, max_size=5))
    dst = copy.deepcopy(src)
    for _ in range(draw(st.integers(0, 3))):
        node = dst
        while isinstance(node, dict) and node and draw(st.booleans()):
            key = draw(st.sampled_from(sorted(node)))
            if not isinstance(node[key], dict):
                break
            node = node[key]
        if isinstance(node, dict):
            key = draw(st.sampled_from(["a", "b", "groups", "acls", "x"]))
            if key in node and draw(st.booleans()):
                del node[key]
            else:
                node[key] = draw(_json)
    return src, dst


@pytest.mark.slow
@settings(max_examples=400, deadline=None)
@given(_pairs())
def test_the_patch_is_the_one_jsonpatch_makes_of_the_whole(pair: tuple[Any, Any]) -> None:
    src, dst = pair
    assert list(json_patch(src, dst)) == jsonpatch.make_patch(src, dst).patch


def test_numbers_and_booleans_that_python_calls_equal_still_change() -> None:
    src = {"a": {"n": 1, "m": [1, 0]}, "b": ["x"]}
    dst = {"a": {"n": 1.0, "m": [True, False]}, "b": ["x"]}
    assert list(json_patch(src, dst)) == jsonpatch.make_patch(src, dst).patch
    assert json_patch(src, dst)


def test_member_order_of_both_sides_is_kept() -> None:
    src = {"c": 1, "a": {"y": [1], "x": 2}, "b": 3}
    dst = {"b": 3, "d": 4, "a": {"x": 2, "y": [1, 2]}, "c": 0}
    assert list(json_patch(src, dst)) == jsonpatch.make_patch(src, dst).patch
