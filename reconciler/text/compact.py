"""Unified diffs cut down to the lines that change, for pull-request comments. Pure.

A reviewer of an access request wants to see the one member line a grant
adds, not the policy file. `compact_diff` keeps each change with one line of
context, drops tailjit's digest header (it changes on every write and says
nothing to a person), and labels every hunk with the nearest enclosing
opening line above it, such as ``"group:prod": [``, so the reader knows
where in the policy the change sits without the rest of the file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from reconciler.core.policy import HEADER_PREFIX

_HUNK = re.compile(r"@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")
_HEADER = HEADER_PREFIX.decode()
_NO_NEWLINE = "\\"


@dataclass(frozen=True)
class _Line:
    tag: str        # " ", "-", "+"
    text: str       # without the tag and the newline
    old: int        # line number in the old text (of this line, or of the next old line for "+")
    new: int
    no_newline: bool = False


def compact_diff(diff: str, context: int = 1) -> str:
    """``diff`` (unified, as `plan.unified_diff` writes it) with ``context`` lines around each change.

    Returns ``""`` when nothing but the digest header changes.
    """
    out: list[str] = []
    for lines in _hunks(diff):
        changed = [i for i, line in enumerate(lines) if line.tag != " " and not line.text.startswith(_HEADER)]
        for first, last in _spans(changed, context, len(lines)):
            kept = [line for line in lines[first:last + 1]
                    if line.tag == " " or not line.text.startswith(_HEADER)]
            out.append(_header(kept, _label(lines[:first + 1])))
            for line in kept:
                out.append(line.tag + line.text)
                if line.no_newline:
                    out.append(_NO_NEWLINE + " No newline at end of file")
    return "\n".join(out) + "\n" if out else ""


def changed_line_count(diff: str) -> int:
    """How many ``+``/``-`` lines a (compacted) diff has."""
    return sum(1 for line in diff.splitlines()
               if line[:1] in ("+", "-") and not line.startswith(("+++", "---")))


def _hunks(diff: str) -> list[list[_Line]]:
    hunks: list[list[_Line]] = []
    old = new = 0
    for raw in diff.splitlines():
        match = _HUNK.match(raw)
        if match:
            # A side with no lines names the line *before* the change ("-5,0"): count from the next one.
            old = int(match.group(1)) + (match.group(2) == "0")
            new = int(match.group(3)) + (match.group(4) == "0")
            hunks.append([])
            continue
        if not hunks:  # the file names before the first hunk
            continue
        if raw.startswith(_NO_NEWLINE):
            if hunks[-1]:
                last = hunks[-1][-1]
                hunks[-1][-1] = _Line(last.tag, last.text, last.old, last.new, no_newline=True)
            continue
        tag, text = (raw[:1] or " "), raw[1:]
        hunks[-1].append(_Line(tag, text, old, new))
        if tag != "+":
            old += 1
        if tag != "-":
            new += 1
    return hunks


def _spans(changed: list[int], context: int, size: int) -> list[tuple[int, int]]:
    """Index ranges covering each change ±``context``, merged when they touch."""
    spans: list[tuple[int, int]] = []
    for i in changed:
        first, last = max(0, i - context), min(size - 1, i + context)
        if spans and first <= spans[-1][1] + 1:
            spans[-1] = (spans[-1][0], max(spans[-1][1], last))
        else:
            spans.append((first, last))
    return spans


def _header(kept: list[_Line], label: str) -> str:
    olds = [line for line in kept if line.tag != "+"]
    news = [line for line in kept if line.tag != "-"]
    old_start = olds[0].old if olds else kept[0].old - 1
    new_start = news[0].new if news else kept[0].new - 1
    head = f"@@ -{old_start},{len(olds)} +{new_start},{len(news)} @@"
    return head + (f" {label}" if label else "")


def _label(before: list[_Line]) -> str:
    """The nearest line at or above the span that opens a block (ends with ``[`` or ``{``), trimmed."""
    for line in reversed(before):
        if line.tag == "+":
            continue
        code = line.text.split("//", 1)[0].rstrip()
        if code.endswith(("[", "{")) and code.strip() not in ("[", "{"):
            return code.strip()
    return ""
