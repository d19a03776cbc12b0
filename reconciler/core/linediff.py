"""Unified diffs of large texts that are mostly alike. Pure.

`difflib.unified_diff` searches whole texts for their longest common
stretches: 0.1–0.2 s for a 2 MiB policy whose only changes are a few hundred
member lines spread over a hundred groups, a run's biggest cost after
parsing. Here the texts are first tied together at anchors — lines that
appear exactly once in each text, taken in an order both texts share (the
longest increasing run of their positions, as patience diff does) — and
`difflib.SequenceMatcher` compares only the short stretches between anchors.
A policy's member lines carry their grant file's name, so nearly every one
is an anchor. The output is a standard unified diff, as ``diff -u`` writes it.
"""

from __future__ import annotations

import bisect
import difflib
from collections import Counter
from collections.abc import Iterator, Sequence

#: (tag, old start, old end, new start, new end), as `difflib.SequenceMatcher.get_opcodes` gives them.
Opcode = tuple[str, int, int, int, int]


def unified_diff(old: Sequence[str], new: Sequence[str], old_name: str, new_name: str,
                 context: int = 3) -> Iterator[str]:
    """The lines of a unified diff from ``old`` to ``new`` (lines that keep their ends), headers first."""
    started = False
    for hunk in _hunks(opcodes(old, new), context):
        if not started:
            yield f"--- {old_name}\n"
            yield f"+++ {new_name}\n"
            started = True
        first, last = hunk[0], hunk[-1]
        yield f"@@ -{_range(first[1], last[2])} +{_range(first[3], last[4])} @@\n"
        for tag, i1, i2, j1, j2 in hunk:
            if tag == "equal":
                yield from (" " + line for line in old[i1:i2])
                continue
            yield from ("-" + line for line in old[i1:i2])
            yield from ("+" + line for line in new[j1:j2])


def opcodes(old: Sequence[str], new: Sequence[str]) -> list[Opcode]:
    """How to turn ``old`` into ``new``: equal, replace, delete and insert runs covering both, in order."""
    codes: list[Opcode] = []
    i = j = 0
    for a, b, size in matching_blocks(old, new):
        if i < a and j < b:
            codes.append(("replace", i, a, j, b))
        elif i < a:
            codes.append(("delete", i, a, j, b))
        elif j < b:
            codes.append(("insert", i, a, j, b))
        if size:
            codes.append(("equal", a, a + size, b, b + size))
        i, j = a + size, b + size
    return codes


def matching_blocks(old: Sequence[str], new: Sequence[str]) -> list[tuple[int, int, int]]:
    """``(i, j, n)``: ``old[i:i+n] == new[j:j+n]``, increasing in both, adjacent ones joined; then
    ``(len(old), len(new), 0)``."""
    lo, hi = _common_ends(old, new)
    blocks = [(0, 0, lo)]
    middle_old, middle_new = old[lo:len(old) - hi], new[lo:len(new) - hi]
    i = j = 0
    for a, b in (*_anchors(middle_old, middle_new), (len(middle_old), len(middle_new))):
        if i < a and j < b:  # the stretch between two anchors: small, so SequenceMatcher is quick
            matcher = difflib.SequenceMatcher(None, middle_old[i:a], middle_new[j:b], autojunk=False)
            blocks += ((lo + i + x, lo + j + y, n) for x, y, n in matcher.get_matching_blocks() if n)
        if a < len(middle_old):
            blocks.append((lo + a, lo + b, 1))
        i, j = a + 1, b + 1
    blocks.append((len(old) - hi, len(new) - hi, hi))
    joined: list[tuple[int, int, int]] = []
    for a, b, n in blocks:
        if not n:
            continue
        if joined and joined[-1][0] + joined[-1][2] == a and joined[-1][1] + joined[-1][2] == b:
            joined[-1] = (joined[-1][0], joined[-1][1], joined[-1][2] + n)
        else:
            joined.append((a, b, n))
    joined.append((len(old), len(new), 0))
    return joined


def _common_ends(old: Sequence[str], new: Sequence[str]) -> tuple[int, int]:
    """How many lines the texts share at their start, and then at their end.

    Compared a run of lines at a time (a list comparison, in C), the run doubling while the lines agree and
    halving where they do not: a 400,000-line policy's shared tail in milliseconds, not a Python loop.
    """
    old, new = list(old), list(new)
    most = min(len(old), len(new))
    lo, step = 0, 1
    while lo < most:
        step = min(step, most - lo)
        if old[lo:lo + step] == new[lo:lo + step]:
            lo, step = lo + step, step * 2
        elif step == 1:
            break
        else:
            step //= 2
    hi, step = 0, 1
    end_old, end_new = len(old), len(new)
    while hi < most - lo:
        step = min(step, most - lo - hi)
        if old[end_old - hi - step:end_old - hi] == new[end_new - hi - step:end_new - hi]:
            hi, step = hi + step, step * 2
        elif step == 1:
            break
        else:
            step //= 2
    return lo, hi


def _anchors(old: Sequence[str], new: Sequence[str]) -> list[tuple[int, int]]:
    """Lines once in each text, as ``(old index, new index)``: the longest run increasing in both."""
    in_new = _unique_positions(new)
    pairs = [(i, in_new[line]) for line, i in _unique_positions(old).items() if line in in_new]
    pairs.sort()
    ordered = [j for _, j in pairs]
    if ordered == sorted(ordered):  # no line moved (the usual case): every pair is in the run
        return pairs
    # Longest increasing subsequence of the new indexes: tails[k] ends the best run of length k + 1.
    tails: list[int] = []  # new index at the end of each run
    tail_at: list[int] = []  # which pair that is
    back = [-1] * len(pairs)
    for k, (_, j) in enumerate(pairs):
        at = bisect.bisect_left(tails, j)
        if at:
            back[k] = tail_at[at - 1]
        if at == len(tails):
            tails.append(j)
            tail_at.append(k)
        else:
            tails[at], tail_at[at] = j, k
    run: list[tuple[int, int]] = []
    k = tail_at[-1] if tail_at else -1
    while k >= 0:
        run.append(pairs[k])
        k = back[k]
    run.reverse()
    return run


def _unique_positions(lines: Sequence[str]) -> dict[str, int]:
    """Each line that appears once in ``lines``, and where."""
    last = {line: i for i, line in enumerate(lines)}
    if len(last) == len(lines):
        return last
    counts = Counter(lines)
    return {line: i for line, i in last.items() if counts[line] == 1}


def _hunks(codes: list[Opcode], context: int) -> Iterator[list[Opcode]]:
    """The changes with ``context`` equal lines around each; changes closer than twice that share a hunk."""
    hunk: list[Opcode] = []
    for index, (tag, i1, i2, j1, j2) in enumerate(codes):
        if tag != "equal":
            hunk.append((tag, i1, i2, j1, j2))
            continue
        lead = (tag, i1, min(i2, i1 + context), j1, min(j2, j1 + context))  # context after a change
        trail = (tag, max(i1, i2 - context), i2, max(j1, j2 - context), j2)  # context before the next
        is_last = index == len(codes) - 1
        if hunk and (is_last or i2 - i1 > 2 * context):
            hunk.append(lead)
            yield hunk
            hunk = []
            if not is_last:
                hunk.append(trail)
        elif hunk:
            hunk.append((tag, i1, i2, j1, j2))
        elif not is_last:  # the first run, before any change
            hunk.append(trail)
    if hunk and any(code[0] != "equal" for code in hunk):
        yield hunk


def _range(start: int, stop: int) -> str:
    """A hunk's line range as unified diffs write it: 1-based start, and the length unless it is 1."""
    length = stop - start
    if length == 1:
        return str(start + 1)
    return f"{start if length == 0 else start + 1},{length}"
