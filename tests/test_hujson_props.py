"""Property tests for reconciler.hujson: generated HuJSON, random bytes and deep nesting."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciler import hujson
from reconciler.hujson import HuJSONError

FAST = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])

_text = st.text(st.characters(codec="utf-8"), max_size=6)
_whitespace = st.text(" \t\r\n", min_size=1, max_size=3)
_line_comment = st.text(st.characters(codec="utf-8", exclude_characters="\n"), max_size=6).map(
    lambda s: "//" + s + "\n")
_block_comment = _text.filter(lambda s: "*/" not in s).map(lambda s: "/*" + s + "*/")
extra = st.lists(st.one_of(_whitespace, _line_comment, _block_comment), max_size=3).map("".join)


def _escaped(s: str) -> str:
    """A JSON string literal with every escape form: short escapes, \\uXXXX, escaped slash."""
    return json.dumps(s, ensure_ascii=True).replace("/", "\\/")


strings = st.one_of(
    st.text(max_size=8).map(lambda s: json.dumps(s, ensure_ascii=False)),
    st.text(max_size=8).map(_escaped),
    st.just('"\\ud800 lone surrogate"'),
)
numbers = st.one_of(
    st.integers(-(10**30), 10**30).map(str),
    st.floats(allow_nan=False, allow_infinity=False).map(repr).map(lambda r: r.replace("e+", "E")),
    st.sampled_from(["0", "-0", "0.5e-3", "1E400", "-12.25e+02"]),
)
scalars = st.one_of(strings, numbers, st.sampled_from(["true", "false", "null"]))


def _array(items: list[tuple[str, str, str]], after: str, trailing: bool) -> str:
    body = ",".join(b + v + a for b, v, a in items)
    return "[" + body + ("," if trailing and items else "") + after + "]"


def _object(items: list[tuple[str, str, str, str, str, str]], after: str, trailing: bool) -> str:
    body = ",".join(nb + n + na + ":" + vb + v + va for nb, n, na, vb, v, va in items)
    return "{" + body + ("," if trailing and items else "") + after + "}"


def _containers(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    arrays = st.builds(_array, st.lists(st.tuples(extra, children, extra), max_size=4), extra, st.booleans())
    members = st.tuples(extra, strings, extra, extra, children, extra)
    objects = st.builds(_object, st.lists(members, max_size=4), extra, st.booleans())
    return arrays | objects


values = st.recursive(scalars, _containers, max_leaves=20)
documents = st.builds(lambda b, v, a: b + v + a, extra, values, extra)


@FAST
@given(documents)
def test_round_trip_and_standard_forms(text: str) -> None:
    data = text.encode("utf-8")
    value = hujson.parse(data)
    assert value.pack() == data
    data_py = value.to_python()
    standardized = hujson.standardize(data)
    assert len(standardized) == len(data)
    assert standardized.count(b"\n") == data.count(b"\n")
    assert _same(json.loads(standardized), data_py)
    assert hujson.parse(standardized).is_standard()
    assert _same(json.loads(hujson.minimize(data)), data_py)
    assert _same(value.clone().to_python(), data_py)


def _same(a: Any, b: Any, *, go_strings: bool = False) -> bool:
    """Equality that also tells 1 from 1.0 and True from 1 (json.dumps writes them differently).

    With ``go_strings``, lone surrogates count as U+FFFD: format rewrites escaped strings
    the way Go decodes them.
    """
    def dump(x: Any) -> str:
        if go_strings:
            x = json.loads(re.sub("[\ud800-\udfff]", "\ufffd", json.dumps(x, ensure_ascii=False)))
        return json.dumps(x, sort_keys=True)
    return dump(a) == dump(b)


@FAST
@given(documents)
def test_format_is_idempotent_and_keeps_data(text: str) -> None:
    formatted = hujson.format(text)
    assert formatted.endswith(b"\n")
    assert hujson.format(formatted) == formatted
    assert _same(hujson.parse(formatted).to_python(), hujson.parse(text).to_python(), go_strings=True)
    if hujson.parse(text).is_standard():
        assert hujson.parse(formatted).is_standard()


@FAST
@given(documents)
def test_patch_round_trip(text: str) -> None:
    value = hujson.parse(text)
    data_py = value.to_python()
    minimized = hujson.minimize(text)
    if data_py is not None and "Infinity" not in json.dumps(data_py):  # Go's test: null and 1e400 never match
        value.patch(b'[{"op": "test", "path": "", "value": ' + minimized + b"}]")
    value.patch(b'[{"op": "add", "path": "", "value": [' + minimized + b"]},"
                b' {"op": "copy", "from": "/0", "path": "/-"}, {"op": "remove", "path": "/0"}]')
    assert _same(value.to_python(), [data_py])


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=40))
def test_random_bytes_fail_cleanly(data: bytes) -> None:
    try:
        value = hujson.parse(data)
    except HuJSONError as err:
        assert err.line is not None and err.column is not None and err.offset is not None
        assert 0 <= err.offset <= len(data)
    else:
        assert value.pack() == data


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet='{}[],:"\\/*\n tfn01-.e', max_size=30))
def test_json_like_text_fails_cleanly(text: str) -> None:
    try:
        value = hujson.parse(text)
    except HuJSONError as err:
        assert str(err).startswith(f"hujson: line {err.line}, column {err.column}: ")
    else:
        assert value.pack() == text.encode()


@pytest.mark.slow
@pytest.mark.parametrize("data", [
    b"[" * 10_000 + b"]" * 10_000,
    b'{"a":' * 10_000 + b"null" + b"}" * 10_000,
    b"[" * 10_000,
    b"[{" * 5_000,
])
def test_deep_nesting_never_overflows_the_stack(data: bytes) -> None:
    try:
        value = hujson.parse(data)
    except HuJSONError as err:
        assert err.offset == len(data)
        return
    assert value.pack() == data
    assert value.clone().pack() == data
    assert value.to_python() is not None
    assert value.is_standard()
    assert hujson.format(hujson.format(data)) == hujson.format(data)
    assert hujson.minimize(data) == data
    assert hujson.standardize(data) == data
    assert value.find("/0/0/0") is not None or value.find("/a/a/a") is not None
    value.patch(b'[{"op": "test", "path": "", "value": ' + data + b"}]")
