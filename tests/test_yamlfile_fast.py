"""Grant files take libyaml's composer when PyYAML has it; they must read exactly as the pure-Python one reads them."""

from __future__ import annotations

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciler import yamlfile

pytestmark = pytest.mark.skipif(not hasattr(yaml, "CSafeLoader"), reason="PyYAML built without libyaml")

GRANT = """\
# Investigate the incident
user: alice@example.com
target: prod
reason: Investigate INC-1234 (replica lag, 12:30 UTC) # why
ticket: 'INC-1234'
duration: 4h
expires: "2026-11-25T02:00:00Z"
"""

_atoms = st.sampled_from(["x", "alice@example.com", "4h", "2026-11-25T02:00:00Z", "~", "null", "yes", " ", ":",
                          ": ", "#", " #c", "'", '"', "-", "---", "[", "]", "{", "}", ",", "&a", "*a", "!", "|",
                          ">", "%", "@", "`", "?", "\\", "a b", "C#", "http://x", "12:30", "''", '""', "\t"])
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


def test_a_grant_file_takes_the_fast_composer() -> None:
    assert yamlfile._loader_for(GRANT) is yaml.CSafeLoader
    assert yamlfile._loader_for("user: alice\n\tindented: x\n") is yaml.SafeLoader
    assert yamlfile._loader_for("reason: Ünïcode\n") is yaml.SafeLoader
    assert yamlfile._loader_for("reason: db: down\n") is yaml.SafeLoader


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lines=st.lists(_lines, min_size=1, max_size=5), end=st.sampled_from(["", "\n"]))
def test_both_composers_read_alike(lines: list[str], end: str, monkeypatch: pytest.MonkeyPatch) -> None:
    text = "\n".join(lines) + end
    fast = read(text)
    with monkeypatch.context() as m:
        m.setattr(yamlfile, "_FAST_LOADER", None)
        assert read(text) == fast
