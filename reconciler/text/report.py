"""Plans and grant statuses as text for people and JSON for scripts. Pure formatters."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from reconciler.core.durations import format_duration, format_time
from reconciler.core.grants import GrantStatus
from reconciler.core.plan import CHANGE_KINDS, ChangeKind, Plan
from reconciler.core.posture import LockResult
from reconciler.errors import LocatedError
from reconciler.text.compact import compact_diff

_SIGNS = {ChangeKind.GRANT: "+", ChangeKind.ADD: "+", ChangeKind.REVOKE: "-", ChangeKind.REMOVE: "-"}


def plan_summary(plan: Plan) -> str:
    """``2 to grant, 1 to revoke, 0 permanent members changed, 3 other entries changed.``"""
    if not plan.has_changes and plan.drift:
        return "No access changes; the tailnet keeps the edits made outside git shown above."
    if not plan.has_changes:
        return "No changes: the tailnet matches the repository."
    permanent = len(plan.changes_of(ChangeKind.ADD)) + len(plan.changes_of(ChangeKind.REMOVE))
    return (f"{len(plan.changes_of(ChangeKind.GRANT))} to grant, {len(plan.changes_of(ChangeKind.REVOKE))} to revoke, "
            f"{permanent} permanent members changed, {plan.changed_entries} other entries changed.")


def format_plan(plan: Plan, where: str, at: datetime) -> str:
    lines = [f"Plan for {where} at {format_time(at)}" + (" (new policy file)" if plan.created else "")]
    if plan.adopted:
        lines += ["", "Adopting: the live policy has no tailjit header, but it is what git renders; apply only",
                  "adds the header."]
    if plan.drift and plan.unmanaged:
        lines += ["", "Not managed by tailjit yet: the live policy has no tailjit header and differs from what git",
                  "renders. Run tailjit import to take it into the base policy (then review and merge), or",
                  "apply --force to replace it. What the tailnet has that git does not:", "",
                  plan.drift_diff.rstrip("\n")]
    elif plan.drift:
        lines += ["", "Drift: the live policy was edited outside git. Apply keeps that edit and changes only",
                  "the target groups' members; put the edit into the base policy (or apply --force to",
                  "overwrite it). What the tailnet has that git does not:", "", plan.drift_diff.rstrip("\n")]
    changes = sorted(plan.member_changes, key=lambda c: (CHANGE_KINDS.index(c.kind), c.group, c.user))
    if changes:
        lines.append("")
        width = max(len(c.group) for c in changes)
        for change in changes:
            detail = f"  ({change.detail})" if change.detail else ""
            lines.append(f"  {_SIGNS[change.kind]} {change.kind:<7} {change.group:<{width}}  {change.user}{detail}")
    if plan.other_changes:
        lines += ["", f"  ~ {plan.changed_entries} other policy entries change (see the diff below)"]
    diff = _shown_diff(plan.diff)
    if diff:
        lines += ["", diff.rstrip("\n")]
    lines += ["", plan_summary(plan)]
    return "\n".join(lines) + "\n"


def format_lock(result: LockResult, *, dry_run: bool) -> str:
    """The posture attribute changes of a run, one line per device ("" when there are none)."""
    if not result.changes:
        return ""
    done = set(result.done)
    lines = ["", "Posture attributes (lock: posture):"]
    for change in result.changes:
        failed = "" if dry_run or change in done else "  (FAILED)"
        lines.append(f"  {change}{failed}")
    verb = "would change" if dry_run else "changed"
    lines.append(f"{len(result.changes) if dry_run else len(done)} posture attribute(s) {verb}.")
    return "\n".join(lines) + "\n"


def _shown_diff(diff: str) -> str:
    """The plan's diff as a person reads it: the file names, then each change with three lines around it,
    without tailjit's digest header line (it changes on every write and says nothing to a person)."""
    if not diff:
        return ""
    names = [line for line in diff.split("\n", 2)[:2] if line.startswith(("---", "+++"))]
    body = compact_diff(diff, context=3)
    return "\n".join(names) + "\n" + body if body else ""


def status_rows(statuses: Sequence[GrantStatus], now: datetime) -> list[dict[str, Any]]:
    rows = []
    for s in sorted(statuses, key=lambda s: (s.state.value, s.grant.target, s.grant.user, s.grant.path)):
        left = s.time_left(now)
        rows.append({
            "state": s.state.value,
            "target": s.grant.target,
            "user": s.grant.user,
            "start": format_time(s.start) if s.start else None,
            "end": format_time(s.end) if s.end else None,
            "left": format_duration(left) if left is not None else None,
            "left_seconds": int(left.total_seconds()) if left is not None else None,
            "reason": s.grant.reason,
            "ticket": s.grant.ticket,
            "file": s.grant.path,
            "problem": s.problem,
        })
    return rows


def problem_rows(errors: Sequence[LocatedError], grants_folder: str) -> list[dict[str, Any]]:
    """One ``invalid`` row per file whose problems kept it from being read as a grant (bad YAML, unknown
    target, a folder named ``x.yaml`` …), with every problem; ``grants_folder`` is where targets' folders are."""
    by_file: dict[str, list[LocatedError]] = {}
    for error in errors:
        by_file.setdefault(error.path or "?", []).append(error)
    rows = []
    for path, found in sorted(by_file.items()):
        below = path.removeprefix(grants_folder.rstrip("/") + "/").split("/")
        first = found[0]
        rows.append({
            "state": "invalid", "target": below[0] if len(below) == 2 else None, "user": None,
            "start": None, "end": None, "left": None, "left_seconds": None, "reason": None, "ticket": None,
            "file": path,
            "problem": (f"line {first.line}: " if first.line else "") + first.message
                       + (f" (and {len(found) - 1} more)" if len(found) > 1 else ""),
            "problems": [{"line": e.line, "message": e.message, "hint": e.hint} for e in found],
        })
    return rows


def format_table(rows: Sequence[dict[str, Any]], columns: Sequence[tuple[str, str]], *, width: int | None = None,
                 paint: Callable[[str, str], str] | None = None) -> str:
    """An aligned table; ``columns`` are ``(key, heading)``.

    With ``width``, the widest columns are narrowed (their cells cut with ``…``) until a row fits, but no
    column below `MIN_COLUMN`. ``paint(key, cell)`` may style a cell once it is padded.
    """
    if not rows:
        return ""
    cells = [[h for _, h in columns]] + [[str(r.get(k) if r.get(k) is not None else "-") for k, _ in columns]
                                         for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(columns))]
    if width is not None:
        widths = fit_widths(widths, width)
    keys = [k for k, _ in columns]
    lines = []
    for number, row in enumerate(cells):
        shown = [_cut(c, w).ljust(w) for c, w in zip(row, widths, strict=True)]
        if paint is not None and number > 0:
            shown = [paint(k, c) for k, c in zip(keys, shown, strict=True)]
        lines.append("  ".join(shown).rstrip())
    return "\n".join(lines) + "\n"


#: A column is never narrowed below this many characters.
MIN_COLUMN = 5


def fit_widths(widths: Sequence[int], total: int) -> list[int]:
    """``widths`` narrowed, widest first, so that the columns and their two-space gaps fit in ``total``."""
    fitted = list(widths)
    floors = [min(w, MIN_COLUMN) for w in widths]
    excess = sum(fitted) + 2 * (len(fitted) - 1) - total
    while excess > 0:
        shrinkable = [i for i, w in enumerate(fitted) if w > floors[i]]
        if not shrinkable:
            break
        widest = max(shrinkable, key=lambda i: fitted[i])
        others = max((fitted[i] for i in shrinkable if i != widest), default=floors[widest])
        step = min(excess, fitted[widest] - max(others, floors[widest]) or 1)
        fitted[widest] -= step
        excess -= step
    return fitted


def _cut(cell: str, width: int) -> str:
    return cell if len(cell) <= width else cell[:max(width - 1, 0)] + "…"


STATUS_COLUMNS = (("state", "STATE"), ("target", "TARGET"), ("user", "USER"), ("start", "START"),
                  ("end", "END"), ("left", "LEFT"), ("file", "FILE"), ("problem", "PROBLEM"))
