"""reconciler.hujson against the reference library's own vectors, the policy corpus and hand cases.

The vectors are in the repository (tests/data/hujson/, see its NOTICE); the corpus is
not, and its tests skip without it, or fail when CI=true (tests/support/corpus.py).
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from reconciler import hujson
from reconciler.hujson import Array, HuJSONError, Literal, Object, Value
from tests.support import corpus

VECTOR_DIR = Path(__file__).parent / "data" / "hujson"
CORPUS_DIR = corpus.POLICIES


def _load(name: str) -> list[dict[str, Any]]:
    vectors: list[dict[str, Any]] = json.loads((VECTOR_DIR / name).read_text(encoding="utf-8"))
    return vectors


VECTORS = [pytest.param(v, id=f"{v['name']}:{v['kind']}") for v in _load("vectors.json")]
FIND_VECTORS = [pytest.param(v, id=v["name"]) for v in _load("find_vectors.json")]


def test_vectors_are_all_there() -> None:
    assert (len(VECTORS), len(FIND_VECTORS)) == (151, 16)


def _raw(vector: dict[str, Any], key: str) -> bytes | None:
    """The exact bytes of a vector field (base64 when the text is not valid UTF-8)."""
    if vector.get(f"{key}_base64") is not None:
        return base64.b64decode(vector[f"{key}_base64"])
    text = vector.get(key)
    return None if text is None else text.encode("utf-8", "surrogateescape")


def _structure(v: Value) -> str:
    """Every field of the tree, to check that nothing at all changed."""
    return repr(v)


@pytest.mark.parametrize("vector", VECTORS)
def test_reference_vector(vector: dict[str, Any]) -> None:
    data, want, kind = _raw(vector, "input"), _raw(vector, "expected"), vector["kind"]
    assert data is not None
    if kind == "parse_ok":
        value = hujson.parse(data)
        assert value.pack() == data
        assert value.is_standard() is vector["is_standard"]
    elif kind == "parse_error":
        with pytest.raises(HuJSONError) as info:
            hujson.parse(data)
        assert str(info.value) == vector["error"]
        for transform in (hujson.format, hujson.standardize, hujson.minimize):
            with pytest.raises(HuJSONError):
                transform(data)
    elif kind in ("standardize", "minimize", "format"):
        got = getattr(hujson, kind)(data)
        assert got == want
        if kind != "format":
            assert hujson.parse(got).is_standard()
    else:
        assert kind == "patch"
        value = hujson.parse(data)
        before = _structure(value)
        patch = vector["patch"].encode("utf-8", "surrogateescape")
        if want is None:
            with pytest.raises(HuJSONError) as info:
                value.patch(patch)
            assert str(info.value) == vector["error"]
            assert value.pack() == data
            assert _structure(value) == before
        else:
            value.patch(patch)
            assert value.pack() == want


@pytest.mark.parametrize("vector", FIND_VECTORS)
def test_reference_find_vector(vector: dict[str, Any]) -> None:
    value = hujson.parse(vector["input"])
    value.minimize()
    found = value.find(vector["pointer"])
    assert (None if found is None else found.pack().decode()) == vector["expected"]


def _already_formatted() -> set[str]:
    """Files SOURCES.md marks as byte-identical to the reference's Format output."""
    sources = CORPUS_DIR / "SOURCES.md"
    if not sources.exists():
        return set()
    names = set()
    for line in sources.read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.split("|")]
        if len(cells) > 9 and cells[1].endswith(".hujson") and cells[8] == "y":
            names.add(cells[1])
    return names


ALREADY_FORMATTED = _already_formatted()


@pytest.mark.parametrize("path", corpus.files(CORPUS_DIR))
def test_corpus_policy(path: Path) -> None:
    data = corpus.require(path).read_bytes()
    value = hujson.parse(data)
    assert value.pack() == data
    data_py = value.to_python()
    assert json.loads(hujson.standardize(data)) == data_py
    minimized = hujson.minimize(data)
    assert json.loads(minimized) == data_py
    assert hujson.parse(minimized).is_standard()
    formatted = hujson.format(data)
    assert hujson.format(formatted) == formatted
    assert hujson.parse(formatted).to_python() == data_py
    if path.name in ALREADY_FORMATTED:
        assert formatted == data


def test_corpus_has_formatted_files() -> None:
    corpus.require(CORPUS_DIR / "SOURCES.md")
    assert len(ALREADY_FORMATTED) >= 20


@pytest.mark.parametrize("path", corpus.files(CORPUS_DIR / "invalid"))
def test_corpus_invalid_policy(path: Path) -> None:
    data = corpus.require(path).read_bytes()
    with pytest.raises(HuJSONError) as info:
        hujson.parse(data)
    assert info.value.line is not None and info.value.line > 1
    assert str(info.value).startswith(f"hujson: line {info.value.line}, column {info.value.column}: ")


@pytest.mark.parametrize(("data", "line", "column", "what"), [
    (b'{\n  "a": 1,\n  "b": @\n}', 3, 8, "invalid character '@' at start of value"),
    (b'{\r\n\t"a": [1, 2,, 3]\r\n}', 2, 13, "invalid character ',' at start of value"),
    (b"/* one\ntwo */ {\n// three\n\"k\" \"v\"}", 4, 5, "invalid character '\"' after object name"),
    (b'["\xc3\xa9", tru]', 1, 8, "invalid literal: tru"),
    (b"[1,\n2\n", 3, 1, "parsing array after value: unexpected EOF"),
    (b'{"a": "b\n"}', 1, 7, 'invalid literal: "b\n"'),
    (b"\xef\xbb\xbf{}", 1, 1, "invalid character '\\ufeff' at start of value"),
    (b"{'a': 1}", 1, 2, "invalid character '\\'' at start of value"),
    (b'{"a": NaN}', 1, 7, "invalid literal: NaN"),
    (b"[1] /* x \xff */", 1, 5, "invalid UTF-8 in comment"),
    (b"[1 /* open", 1, 4, "parsing comment: unexpected EOF"),
    (b"{1: 2}", 1, 2, "invalid character '1' at start of object name"),
    (b'{[1, 2]: 3}', 1, 2, "invalid character '[' at start of object name"),
    (b'{[1, }: 3}', 1, 6, "invalid character '}' at start of value"),
    (b"", 1, 1, "parsing value: unexpected EOF"),
])
def test_error_position(data: bytes, line: int, column: int, what: str) -> None:
    with pytest.raises(HuJSONError) as info:
        hujson.parse(data)
    err = info.value
    assert isinstance(err, ValueError)
    assert (err.line, err.column) == (line, column)
    assert str(err) == f"hujson: line {line}, column {column}: {what}"
    assert err.offset is not None and data.count(b"\n", 0, err.offset) == line - 1


def test_accepts_what_the_reference_accepts() -> None:
    # Go's encoding/json (v1) does not check UTF-8 inside strings, and names may repeat.
    assert hujson.parse(b'"\xff"').pack() == b'"\xff"'
    assert hujson.parse(b'{"a": 1, "a": 2}').to_python() == {"a": 2}
    assert hujson.parse('"é"').to_python() == "é"


def test_tree_shape() -> None:
    value = hujson.parse(b'["a", // c1\n "b", // c2\n]')
    arr = value.value
    assert isinstance(arr, Array)
    a, b = arr.elements
    assert (a.before, a.after) == (b"", b"")
    assert (b.before, b.after) == (b" // c1\n ", b"")  # after is not None: trailing comma
    assert arr.after == b" // c2\n"
    assert (value.before, value.after) == (b"", b"")

    value = hujson.parse(b' { "k" : 1 } ')
    obj = value.value
    assert isinstance(obj, Object)
    (member,) = obj.members
    assert (member.name.before, member.name.after) == (b" ", b" ")
    assert isinstance(member.name.value, Literal) and member.name.value.raw == b'"k"'
    assert (member.value.before, member.value.after) == (b" ", None)  # no trailing comma
    assert obj.after == b" "
    assert (value.before, value.after) == (b" ", b" ")


def test_is_standard() -> None:
    assert hujson.parse(b' {"a": [1, 2]} ').is_standard()
    assert not hujson.parse(b'{"a": [1, 2,]}').is_standard()
    assert not hujson.parse(b'{"a": 1} // c\n').is_standard()


def test_patch_failure_leaves_value_unchanged() -> None:
    data = b'{\n\t// who\n\t"groups": {"group:a": ["x@example.com",],},\n\t"acls": [],\n}\n'
    value = hujson.parse(data)
    groups = value.find("/groups")
    before = _structure(value)
    patch = b"""[
        {"op": "add", "path": "/groups/group:b", "value": ["y@example.com"]},
        {"op": "remove", "path": "/acls"},
        {"op": "test", "path": "/groups/group:a/0", "value": "nobody@example.com"},
    ]"""
    with pytest.raises(HuJSONError, match=r'^hujson: patch operation 2: values differ at "/groups/group:a/0"$'):
        value.patch(patch)
    assert value.pack() == data
    assert _structure(value) == before
    assert groups is not None and value.find("/groups") is groups

    value.patch(patch.replace(b"nobody@", b"x@"))  # the same patch, passing its test
    assert value.to_python() == {"groups": {"group:a": ["x@example.com"], "group:b": ["y@example.com"]}}
    assert value.find("/groups") is groups  # patched in place


def test_patch_carries_comments() -> None:
    value = hujson.parse(b'{\n\t"a": 1,\n}\n')
    value.patch(b'[{"op": "add", "path": "/b",\n\t// why b\n\t"value": 2, // two\n}]')
    value.format()
    assert value.pack() == b'{\n\t"a": 1,\n\t// why b\n\t"b": 2, // two\n}\n'


def test_patch_errors_have_no_position() -> None:
    value = hujson.parse(b"{}")
    with pytest.raises(HuJSONError) as info:
        value.patch('[{"op": "remove", "path": "/x"}]')
    assert (info.value.line, info.value.column, info.value.offset) == (None, None, None)
    with pytest.raises(HuJSONError) as info:
        value.patch("[{")
    assert (info.value.line, info.value.column) == (1, 3)


def test_find() -> None:
    value = hujson.parse(b'{"a": [10, {"b/c": 1, "d~e": 2}], "": 3, "\\u0066": 4}')
    assert value.find("") is value
    found = value.find("/a/1/b~1c")
    assert found is not None and found.pack() == b" 1"
    found = value.find("/a/1/d~0e")
    assert found is not None and found.pack() == b" 2"
    found = value.find("/")
    assert found is not None and found.to_python() == 3
    found = value.find("/f")
    assert found is not None and found.to_python() == 4
    for missing in ("/a/2", "/a/-", "/a/x", "/a/00", "a", "/a/0/0", "/zz"):
        assert value.find(missing) is None


def test_to_python() -> None:
    data = b'{"s": "a\\u00e9\\n\\ud83d\\ude00", "i": -12, "f": 1.5e2, "t": true, "n": null, "l": [false, {}]}'
    assert hujson.parse(data).to_python() == json.loads(data)
    big = b"123456789012345678901234567890"
    assert hujson.parse(big).to_python() == int(big)
    assert hujson.parse(b'"\xffa"').to_python() == "\ufffda"  # invalid UTF-8 decodes like Go's


def test_clone_is_deep() -> None:
    value = hujson.parse(b'/* c */ {"a": [1, {"b": 2}], // x\n}')
    copy = value.clone()
    assert copy.pack() == value.pack()
    assert _structure(copy) == _structure(value)
    copy.patch(b'[{"op": "replace", "path": "/a/1/b", "value": 3}]')
    copy.format()
    assert value.to_python() == {"a": [1, {"b": 2}]}
    assert copy.to_python() == {"a": [1, {"b": 3}]}


def test_object_get() -> None:
    value = hujson.parse(b'{"a": 1, "\\u0062": 2, "a": 3}')
    obj = value.value
    assert isinstance(obj, Object)
    first = obj.get("a")
    assert first is obj.members[0]
    member = obj.get("b")
    assert member is not None and member.value.to_python() == 2
    assert obj.get("c") is None


@pytest.mark.parametrize(("python", "raw"), [
    ("tag:prod", b'"tag:prod"'),
    ('quote " and \\ and é and \n', b'"quote \\" and \\\\ and \xc3\xa9 and \\n"'),
    (42, b"42"),
    (-1.5, b"-1.5"),
    (True, b"true"),
    (False, b"false"),
    (None, b"null"),
])
def test_literal_from_python(python: Any, raw: bytes) -> None:
    lit = Literal.from_python(python)
    assert lit.raw == raw
    assert lit.to_python() == python
    assert lit.is_string() is isinstance(python, str)


def test_literal_from_python_rejects_non_json() -> None:
    with pytest.raises(ValueError):
        Literal.from_python(float("nan"))
    with pytest.raises(TypeError):
        Literal.from_python([1])  # type: ignore[arg-type]


def test_str_input_and_module_functions() -> None:
    text = '{"b": 1, /* c */ "a": [1,2,],}'
    assert hujson.parse(text).pack() == text.encode()
    assert hujson.standardize(text) == b'{"b": 1,' + b" " * 9 + b'"a": [1,2 ] }'
    assert hujson.minimize(text) == b'{"b":1,"a":[1,2]}'
    assert hujson.format(text) == b'{"b": 1, /* c */ "a": [1, 2]}\n'


def test_format_expands_long_lines_with_tabs() -> None:
    members = ", ".join(f'"member{i}": "value number {i}"' for i in range(4))
    formatted = hujson.format("{" + members + "}")
    lines = formatted.decode().splitlines()
    assert lines[0] == "{" and lines[-1] == "}"
    assert all(line.startswith("\t") for line in lines[1:-1])
    assert lines[1] == '\t"member0": "value number 0",'


def test_format_normalizes_line_endings() -> None:
    assert hujson.format(b'{\r\n\t"a": 1, // x\r\n}\r\n') == b'{\n\t"a": 1, // x\n}\n'
