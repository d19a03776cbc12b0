"""The plan as Markdown for a pull-request comment and the job summary. Pure: values in, text out.

Built from `Plan.data` (what ``plan --json`` prints) and the grant statuses,
so the comment says what a reviewer decides on: who gets which target, until
when, why, and whose approval that target needs; then the policy change as
the few lines that change (`difftext.compact_diff`), never the whole file.
Anything a grant file or a pull request controls (reasons, tickets) is
escaped, so a grant cannot inject Markdown, HTML or @-mentions into the
comment.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from reconciler.core.config import Target
from reconciler.core.durations import format_duration, format_time
from reconciler.core.grants import GrantStatus, State, awaits_merge
from reconciler.core.plan import CHANGE_KINDS
from reconciler.errors import GrantError
from reconciler.text.compact import changed_line_count, compact_diff

#: The first line of the sticky comment: how it is found again on the next push.
MARKER = "<!-- tailjit:plan -->"
#: A diff longer than this many lines is folded into <details> (as Atlantis does).
FOLD_LINES = 12
#: GitHub refuses comments over 65,536 characters; stay well below.
MAX_CHARS = 60_000
MAX_DIFF_LINES = 300
MAX_PROBLEMS = 30
#: Posture attribute rows shown before the rest is cut.
MAX_ATTRIBUTE_ROWS = 100

_ICONS = {"grant": "➕ grant", "revoke": "➖ revoke", "add": "➕ add", "remove": "➖ remove", "pending": "⏳ pending",
          "extend": "🔁 extend"}
#: Rows whose target's approvers decide: access given, or kept longer.
_APPROVED = ("grant", "extend", "pending")
_ESCAPE = re.compile(r"([\\`*_\[\]#|~])")


@dataclass(frozen=True)
class Row:
    """One line of the access table."""

    kind: str
    user: str
    group: str
    target: Target | None
    until: str
    why: str = ""


def plan_comment(data: Mapping[str, Any], statuses: Sequence[GrantStatus], targets: Mapping[str, Target], *,
                 where: str, at: datetime, problems: Sequence[GrantError] = (), commit: str | None = None,
                 warnings: Sequence[str] = ()) -> str:
    """The sticky comment's body (starting with `MARKER`); also the job summary of ``plan``.

    ``warnings`` are notes for the reviewer that change nothing (a credential about to expire, say).
    """
    rows = access_rows(data, statuses, targets)
    for show_diff in (True, False):
        body = _compose(data, rows, problems, where=where, at=at, commit=commit, show_diff=show_diff,
                        warnings=warnings)
        if len(body) <= MAX_CHARS:
            return body
    return _compose(data, rows[:50], problems[:5], where=where, at=at, commit=commit, show_diff=False,
                    cut_rows=len(rows) - 50, warnings=warnings[:5])


def title(data: Mapping[str, Any]) -> str:
    counts = data.get("counts", {})
    attributes = len(data.get("attribute_changes") or ())
    marked = f"{attributes} posture attribute(s) to change"
    if not data.get("changes"):
        return marked if attributes else "no change to the tailnet"
    parts = [f"{counts.get('grant', 0)} to grant", f"{counts.get('revoke', 0)} to revoke"]
    if counts.get("extend"):
        parts.insert(1, f"{counts['extend']} to extend")
    permanent = counts.get("add", 0) + counts.get("remove", 0)
    if permanent:
        parts.append(f"{permanent} permanent member(s) changed")
    if counts.get("other"):
        parts.append(f"{counts['other']} other policy entries changed")
    if attributes:
        parts.append(marked)
    return ", ".join(parts)


def access_rows(data: Mapping[str, Any], statuses: Sequence[GrantStatus],
                targets: Mapping[str, Target]) -> list[Row]:
    """Member changes of the plan, explained by the grant files behind them, then grants still to come."""
    by_group = {t.group: t for t in targets.values()}
    by_name = {s.grant.name: s for s in statuses}
    by_user: dict[tuple[str, str], GrantStatus] = {}  # (user, target name) -> the first such grant
    for s in statuses:
        by_user.setdefault((s.grant.user, s.grant.target), s)
    rows: list[Row] = []
    for change in data.get("member_changes", []):
        group, user, kind = change["group"], change["user"], change["kind"]
        grant, until = change.get("grant"), change.get("until")
        target = by_group.get(group)
        status = by_name.get(grant) if grant else None
        if status is None and kind in ("grant", "revoke") and target is not None:
            status = by_user.get((user, target.name))
        rows.append(Row(kind, user, group, target, _until(kind, status, until), _why(status)))
    rows.sort(key=lambda r: (CHANGE_KINDS.index(r.kind), r.group, r.user))
    for moved in data.get("extensions", []):  # still a member, but the end moves: reviewed like a grant
        group, user = moved["group"], moved["user"]
        target = by_group.get(group)
        status = by_name.get(moved["grant"]) or (by_user.get((user, target.name)) if target else None)
        rows.append(Row("extend", user, group, target, f"{moved['previous_until']} → {moved['until']}",
                        _why(status)))
    for status in statuses:
        if status.state is State.PENDING or (status.state is State.UNKNOWN and awaits_merge(status.problem)):
            target = targets.get(status.grant.target)
            rows.append(Row("pending", status.grant.user, target.group if target else "", target,
                            _window(status), _why(status)))
    return rows


def _until(kind: str, status: GrantStatus | None, until: str | None) -> str:
    if kind == "add":
        return "permanent (base policy)"
    if kind == "remove":
        return "permanent member removed"
    if kind == "grant":
        if status is None:
            return until or "?"
        return _window(status)
    if status is None:
        return "grant file removed"
    if status.state is State.EXPIRED and status.end is not None:
        return f"expired {format_time(status.end)}"
    return f"grant now {status.state.value}"


def _window(status: GrantStatus) -> str:
    grant = status.grant
    if grant.start is None and grant.duration is not None:
        if status.end is None:  # not merged yet: the clock starts at the merge
            return f"{format_duration(grant.duration)} from merge"
        return f"{format_duration(grant.duration)} from merge (ends ≈ {format_time(status.end)})"
    end = format_time(status.end) if status.end else "?"
    if status.state is State.PENDING and status.start is not None:
        return f"{format_time(status.start)} → {end}"
    return end


def _why(status: GrantStatus | None) -> str:
    if status is None:
        return ""
    reason = status.grant.reason
    if status.grant.ticket and status.grant.ticket not in reason:
        reason += f" ({status.grant.ticket})"
    return reason


def _compose(data: Mapping[str, Any], rows: Sequence[Row], problems: Sequence[GrantError], *, where: str,
             at: datetime, commit: str | None, show_diff: bool, cut_rows: int = 0,
             warnings: Sequence[str] = ()) -> str:
    out = [MARKER, f"### tailjit plan: {title(data)}", ""]
    if rows:
        out += _table(rows)
        if cut_rows > 0:
            out.append(f"… and {cut_rows} more (see `tailjit plan`).")
        out.append("")
        approvers = _approvers(rows)
        if approvers:
            out += [f"**Approval needed from:** {approvers} (CODEOWNERS of the grant folders).", ""]
    out += _attributes(data.get("attribute_changes") or ())
    if data.get("drift") and data.get("unmanaged"):
        out += ["> [!WARNING]",
                "> **Not managed by tailjit yet:** the live policy has no tailjit header and differs from the base",
                "> policy. Run `tailjit import` and merge the result so that git starts from what is live, or",
                "> apply with `--force` to replace it.", ""]
        if show_diff:
            out += _diff_block("What the tailnet has that git does not", data.get("drift_diff", ""), fold=True)
    elif data.get("drift"):
        out += ["> [!WARNING]",
                "> **Drift:** the live policy was edited outside git. Apply keeps that edit and changes only the",
                "> target groups' members; put the edit into the base policy, or apply with `--force` to "
                "overwrite it.", ""]
        if show_diff:
            out += _diff_block("What the tailnet has that git does not", data.get("drift_diff", ""), fold=True)
    if show_diff and data.get("diff"):
        out += _diff_block("Policy change", data["diff"], fold=False)
    elif data.get("diff"):
        out += ["The policy change is too large to show here: run `tailjit plan` or see the job summary.", ""]
    if problems:
        out += ["> [!CAUTION]", f"> **{len(problems)} problem(s)**: these files grant nothing, and the validate "
                "check fails until they are fixed:"]
        out += [f"> - `{_code(p.path)}{'' if p.line is None else f':{p.line}'}`: {_text(p.message)}"
                for p in problems[:MAX_PROBLEMS]]
        if len(problems) > MAX_PROBLEMS:
            out.append(f"> - … and {len(problems) - MAX_PROBLEMS} more (run `tailjit validate`)")
        out.append("")
    for warning in warnings:
        out += [f"> [!NOTE]\n> {_text(warning)}", ""]
    stamp = f"Planned against `{_code(where)}` at {format_time(at)}" + (f" for {_code(commit[:12])}" if commit else "")
    out.append(f"<sub>{stamp}. Updated on every push. Merging runs `tailjit apply`; each grant is revoked when it "
               f"expires.</sub>")
    return "\n".join(out) + "\n"


def _attributes(changes: Sequence[Mapping[str, Any]]) -> list[str]:
    """The posture attribute changes (``lock: posture`` targets), one row per device."""
    if not changes:
        return []
    lines = ["**Posture attributes** (`lock: posture`; Tailscale ends access at the expiry even if tailjit stops):",
             "", "| | device | user | attribute | expiry |", "|---|---|---|---|---|"]
    for change in changes[:MAX_ATTRIBUTE_ROWS]:
        sign = "+" if change.get("action") == "set" else "−"
        lines.append(f"| {sign} | {_text(str(change.get('device')))} | {_text(str(change.get('user')))} | "
                     f"`{_code(str(change.get('attribute')))}` | {change.get('expiry') or 'deleted'} |")
    if len(changes) > MAX_ATTRIBUTE_ROWS:
        lines.append(f"… and {len(changes) - MAX_ATTRIBUTE_ROWS} more (see `tailjit plan`).")
    return [*lines, ""]


def _table(rows: Sequence[Row]) -> list[str]:
    lines = ["| | who | target | until | approvers | why |", "|---|---|---|---|---|---|"]
    for row in rows:
        name = row.target.name if row.target else row.group
        where = f"**{_text(name)}** `{_code(row.group)}`" if row.target else f"`{_code(row.group)}`"
        approvers = ", ".join(_text(a, mention=True) for a in row.target.approvers) if (
            row.target and row.kind in _APPROVED) else ""
        if row.target and row.kind in _APPROVED and not approvers:
            approvers = "any reviewer"
        lines.append(f"| {_ICONS.get(row.kind, row.kind)} | `{_code(row.user)}` | {where} | {_text(row.until)} "
                     f"| {approvers} | {_text(row.why)} |")
    return lines


def _approvers(rows: Sequence[Row]) -> str:
    seen: dict[str, None] = {}
    for row in rows:
        if row.target and row.kind in _APPROVED:
            seen.update(dict.fromkeys(row.target.approvers))
    return ", ".join(_text(a, mention=True) for a in seen)


def _diff_block(heading: str, diff: str, *, fold: bool) -> list[str]:
    compact = compact_diff(diff)
    if not compact:
        return []
    lines = compact.splitlines()
    count = changed_line_count(compact)
    shown = [line[:500] for line in lines[:MAX_DIFF_LINES]]
    block = code_block("\n".join(shown)).rstrip("\n").split("\n")
    if len(lines) > MAX_DIFF_LINES:
        block.append(f"… {len(lines) - MAX_DIFF_LINES} more lines: run `tailjit plan` to see them all.")
    summary = f"{heading} ({count} line{'' if count == 1 else 's'})"
    if fold or len(lines) > FOLD_LINES:
        return ["<details><summary>" + summary + "</summary>", "", *block, "", "</details>", ""]
    return [f"**{summary}:**", "", *block, ""]


def code_block(text: str, language: str = "diff") -> str:
    """``text`` fenced so that no run of backticks inside it can close the fence."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{language}\n{text.rstrip(chr(10))}\n{fence}\n"


def _text(value: str, *, mention: bool = False) -> str:
    """Plain text safe in a table cell: one line, Markdown and HTML escaped, no @-mentions unless ``mention``."""
    flat = " ".join(value.split())
    escaped = _ESCAPE.sub(r"\\\1", flat.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;"))
    return escaped if mention else escaped.replace("@", "@\u2060")


def _code(value: str) -> str:
    """Text for inside a `code span`: backticks and line breaks cannot end it early."""
    return " ".join(value.split()).replace("`", "'").replace("|", "\\|")
