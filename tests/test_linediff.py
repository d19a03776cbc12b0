"""The unified diff behind plans: a valid ``diff -u`` of any two texts, the same as difflib's on policy edits."""

from __future__ import annotations

import difflib
import re
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.core import linediff
from reconciler.core.config import Target
from reconciler.core.grants import Grant, GrantStatus, State
from reconciler.core.render import render
from tests.support import corpus
from tests.support.policies import CORPUS_FILES, NOW, with_target_group

_HUNK = re.compile(r"@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@\n")


def apply_diff(old: list[str], diff: list[str]) -> list[str]:
    """``old`` with a unified diff applied, checking every hunk's header and context on the way."""
    if not diff:
        return old
    assert diff[:2] == ["--- a\n", "+++ b\n"]
    out: list[str] = []
    at = 0  # next line of old not yet copied
    i = 2
    while i < len(diff):
        m = _HUNK.fullmatch(diff[i])
        assert m, diff[i]
        old_start, old_len = int(m[1]), int(m[2] or 1)
        new_len = int(m[4] or 1)
        first = old_start - 1 if old_len else old_start  # an empty side names the line before
        assert first >= at
        out += old[at:first]
        at = first
        i += 1
        seen_old = seen_new = 0
        while i < len(diff) and not diff[i].startswith("@@"):
            tag, line = diff[i][0], diff[i][1:]
            if tag in " -":
                assert old[at] == line
                at += 1
                seen_old += 1
            if tag in " +":
                out.append(line)
                seen_new += 1
            i += 1
        assert (seen_old, seen_new) == (old_len, new_len)
    return out + old[at:]


lines = st.lists(st.sampled_from(["a\n", "b\n", "c\n", "x\n", "],\n", "{\n", "unique-1\n", "unique-2\n", "end"]),
                 max_size=40)


@settings(max_examples=400, deadline=None)
@given(lines, lines)
def test_any_two_texts_give_a_diff_that_turns_one_into_the_other(old: list[str], new: list[str]) -> None:
    old = [line if line.endswith("\n") else line + "\n" for line in old]
    new = [line if line.endswith("\n") else line + "\n" for line in new]
    diff = list(linediff.unified_diff(old, new, "a", "b"))
    assert apply_diff(old, diff) == new
    assert (diff == []) == (old == new)
    for hunk in hunks(diff):  # as diff -u: at most three lines of context before and after the changes
        tags = "".join(line[0] for line in hunk)
        assert len(tags) - len(tags.lstrip(" ")) <= 3 and len(tags) - len(tags.rstrip(" ")) <= 3
        assert tags.strip(" ")


def hunks(diff: list[str]) -> list[list[str]]:
    found: list[list[str]] = []
    for line in diff[2:]:
        if line.startswith("@@"):
            found.append([])
        else:
            found[-1].append(line)
    return found


def test_opcodes_cover_both_texts_in_order() -> None:
    old, new = list("abcdefg"), list("abXdeYg")
    codes = linediff.opcodes(old, new)
    assert codes == [("equal", 0, 2, 0, 2), ("replace", 2, 3, 2, 3), ("equal", 3, 5, 3, 5),
                     ("replace", 5, 6, 5, 6), ("equal", 6, 7, 6, 7)]


@pytest.mark.parametrize("path", CORPUS_FILES)
def test_a_grant_and_a_revocation_diff_as_difflib_diffs_them(path: Path) -> None:
    corpus.require(path)
    base, group = with_target_group(path.read_bytes())
    targets = {"t": Target("t", group, timedelta(hours=8))}

    def rendered(*users: str) -> list[str]:
        statuses = [GrantStatus(Grant(path=f"policy/grants/t/{u}.yaml", user=f"{u}@example.com", target="t",
                                      reason="r", expires=NOW + timedelta(hours=1)),
                                State.ACTIVE, NOW, NOW + timedelta(hours=1)) for u in users]
        return render(base, targets, statuses).decode().splitlines(keepends=True)

    before, after = rendered("zed", "amy"), rendered("amy", "bob")
    assert list(linediff.unified_diff(before, after, "a", "b")) == list(
        difflib.unified_diff(before, after, "a", "b", n=3))
