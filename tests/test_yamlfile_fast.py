"""Grant files of the simple ``key: value`` shape are read without PyYAML's composer; they must read exactly as it reads them."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciler.repo import yamlfile

GRANT = """\
# Investigate the incident
user: alice@example.com
target: prod

reason: Investigate INC-1234 (replica lag, 12:30 UTC) # why
ticket: 'INC-1234'
duration: 4h  # trailing blanks
expires: "2026-11-25T02:00:00Z"
start:
"""

_atoms = st.sampled_from(["x", "alice@example.com", "4h", "2026-11-25T02:00:00Z", "~", "null", "yes", " ", ":",
                          ": ", "#", " #c", "'", '"', "-", "---", "[", "]", "{", "}", ",", "&a", "*a", "!", "|",
                          ">", "%", "@", "`", "?", "\\", "a b", "C#", "http://x", "12:30", "''", '""', "\t", "é"])
_lines = st.one_of(
    st.builds(lambda key, sep, value: key + sep + "".join(value),
              st.sampled_from(["user", "target", "reason", "a", "on", "_k"]),
              st.sampled_from([":", ": ", ":  "]), st.lists(_atoms, max_size=4)),
    st.builds(lambda indent, text: " " * indent + "#" + "".join(text), st.integers(0, 2), st.lists(_atoms, max_size=3)),
    st.just(""),
)


def read(text: str) -> tuple[str, object]:
    try:
        return "ok", yamlfile.load(text.encode())
    except yamlfile.YAMLFileError as e:
        return "error", (e.message, e.line)


def read_with_composer(text: str, monkeypatch: pytest.MonkeyPatch) -> tuple[str, object]:
    with monkeypatch.context() as m:
        m.setattr(yamlfile, "_simple_lines", lambda text: None)
        return read(text)


def test_a_grant_file_is_read_directly_and_as_the_composer_reads_it(monkeypatch: pytest.MonkeyPatch) -> None:
    assert yamlfile._simple_lines(GRANT) is not None
    assert read(GRANT) == read_with_composer(GRANT, monkeypatch)
    assert read(GRANT + "user: bob@example.com\n") == ("error", ("key 'user' appears twice", 10))


@pytest.mark.parametrize("text", ["user: alice\n\tindented: x\n", "reason: Ünïcode\n", "reason: db: down\n",
                                  "a: 'it''s'\n", 'a: "\\u263a"\n', "a:\n  - b\n", "- a\n", "a: b\n  c\n",
                                  "a: 'multi\nline'\n", 'a: "multi\nline"\n'])
def test_anything_else_goes_through_the_composer(text: str) -> None:
    assert yamlfile._simple_lines(text) is None


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lines=st.lists(_lines, min_size=1, max_size=5), end=st.sampled_from(["", "\n"]))
def test_both_readers_agree(lines: list[str], end: str, monkeypatch: pytest.MonkeyPatch) -> None:
    text = "\n".join(lines) + end
    assert read(text) == read_with_composer(text, monkeypatch)
