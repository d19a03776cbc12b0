"""The plan as a pull-request comment: who gets what until when, whose approval, the few lines that change."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

from reconciler.core.plan import make_plan, unified_diff
from reconciler.repo.workspace import Workspace, open_workspace
from reconciler.text.comment import MARKER, MAX_CHARS, plan_comment
from reconciler.text.compact import compact_diff
from tests.support.access import AccessRepo

NOON = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
EARLY = datetime(2026, 11, 24, 6, 0, tzinfo=UTC)

ALICE = """\
user: alice@example.com
target: prod
reason: Investigate INC-1234
ticket: INC-1234
start: 2026-11-24T10:00:00Z
duration: 4h
"""


def comment(repo: AccessRepo, at: datetime = NOON, live_at: datetime | None = EARLY,
            live: bytes | None = None, commit: str | None = None) -> tuple[str, Workspace]:
    """The comment for the repository at ``at``, against a tailnet that tailjit last wrote at ``live_at``."""
    ws = open_workspace(repo.config)
    if live is None:
        live = ws.render(live_at) if live_at is not None else b""
    the_plan = make_plan(live, ws.render(at), ws.config.targets)
    return plan_comment(the_plan.data, ws.statuses(at), ws.config.targets, where="tailscale:example.com", at=at,
                        problems=ws.problems(at), commit=commit), ws


def table_rows(body: str) -> list[list[str]]:
    """The access table's rows, split on unescaped pipes, as GitHub splits them."""
    rows = [line for line in body.splitlines() if line.startswith("| ") and not line.startswith("| |")]
    return [[cell.strip() for cell in re.split(r"(?<!\\)\|", row)[1:-1]] for row in rows]


def test_a_grant_says_who_what_until_when_why_and_whose_approval(repo: AccessRepo) -> None:
    repo.grant("prod", "alice.yaml", ALICE)
    body, _ = comment(repo, commit="0123456789abcdef0123")
    assert body.startswith(MARKER + "\n### tailjit plan: 1 to grant, 0 to revoke\n")
    assert table_rows(body) == [["➕ grant", "`alice@example.com`", "**prod** `group:prod`", "2026-11-24T14:00:00Z",
                                 "@acme/sre", "Investigate INC-1234"]]
    assert "**Approval needed from:** @acme/sre" in body
    assert "Planned against `tailscale:example.com` at 2026-11-24T12:00:00Z for 0123456789ab." in body


def test_the_policy_change_is_the_changed_line_with_one_line_of_context(repo: AccessRepo) -> None:
    repo.grant("prod", "alice.yaml", ALICE)
    body, _ = comment(repo)
    block = body.split("```diff\n", 1)[1].split("```", 1)[0]
    assert block == (
        '@@ -8,2 +8,3 @@ "group:prod": [\n'
        ' \t\t\t"dana@example.com", // lead\n'
        '+\t\t\t"alice@example.com", // tailjit: prod/alice.yaml until 2026-11-24T14:00:00Z\n'
        " \t\t],\n"
    )
    assert "tailjit:digest" not in body, "the digest header is noise to a reviewer"
    assert "Policy change (1 line)" in body


def test_a_duration_grant_counts_from_the_merge(repo: AccessRepo) -> None:
    repo.grant("prod", "alice.yaml", ALICE.replace("start: 2026-11-24T10:00:00Z\n", ""))
    ws = open_workspace(repo.config)
    merged = Workspace(ws.config, ws.base, ws.loaded, {"policy/grants/prod/alice.yaml": NOON})
    the_plan = make_plan(ws.render(EARLY), merged.render(NOON), ws.config.targets)
    body = plan_comment(the_plan.data, merged.statuses(NOON), ws.config.targets, where="t", at=NOON)
    assert table_rows(body)[0][3] == "4h from merge (ends ≈ 2026-11-24T16:00:00Z)"


def test_revocations_say_why_the_access_goes(repo: AccessRepo) -> None:
    repo.grant("prod", "alice.yaml", ALICE)
    repo.grant("staging", "bob.yaml", "user: bob@example.com\ntarget: staging\nreason: load test\n"
                                      "start: 2026-11-24T11:00:00Z\nexpires: 2026-11-24T13:00:00Z\n")
    live = open_workspace(repo.config).render(NOON)
    (repo.root / "policy/grants/prod/alice.yaml").unlink()
    body, _ = comment(repo, at=datetime(2026, 11, 24, 13, 30, tzinfo=UTC), live=live)
    assert body.splitlines()[1] == "### tailjit plan: 0 to grant, 2 to revoke"
    assert [row[:4] for row in table_rows(body)] == [
        ["➖ revoke", "`alice@example.com`", "**prod** `group:prod`", "grant file removed"],
        ["➖ revoke", "`bob@example.com`", "**staging** `group:staging`", "expired 2026-11-24T13:00:00Z"],
    ]
    assert table_rows(body)[1][4] == "", "revoking needs nobody's approval"


def test_scheduled_grants_are_listed_with_their_window_and_approvers(repo: AccessRepo) -> None:
    repo.grant("staging", "bob.yaml", "user: bob@example.com\ntarget: staging\nreason: load test\n"
                                      "start: 2026-11-25T09:00:00Z\nduration: 2d\n")
    body, _ = comment(repo)
    assert body.splitlines()[1] == "### tailjit plan: no change to the tailnet"
    assert table_rows(body) == [["⏳ pending", "`bob@example.com`", "**staging** `group:staging`",
                                 "2026-11-25T09:00:00Z → 2026-11-27T09:00:00Z", "any reviewer", "load test"]]
    assert "```diff" not in body


def test_text_from_a_grant_file_cannot_inject_markup_or_mentions(repo: AccessRepo) -> None:
    repo.grant("prod", "alice.yaml", ALICE.replace(
        "reason: Investigate INC-1234",
        "reason: \"x | y <img src=x onerror=alert(1)> [link](http://evil) @acme/everyone `z`\""))
    body, _ = comment(repo)
    rows = table_rows(body)
    assert len(rows) == 1 and len(rows[0]) == 6, "a pipe in the reason must not add a table cell"
    why = rows[0][5]
    assert "<img" not in body and "[link](" not in body
    assert "@acme/everyone" not in body.replace("@\u2060", "@ "), "no @-mention from a grant file"
    assert why.startswith("x \\| y &lt;img src=x onerror=alert(1)&gt; \\[link\\](http://evil) @\u2060acme/everyone")


def test_problems_are_listed_with_path_and_line(repo: AccessRepo) -> None:
    repo.grant("prod", "alice.yaml", ALICE.replace("duration: 4h", "duration: 12h"))
    repo.grant("prod", "bad.yaml", "user: '*'\ntarget: prod\nreason: x\nexpires: 2026-11-24T13:00:00Z\n")
    body, _ = comment(repo)
    assert "**2 problem(s)**" in body
    assert "> - `policy/grants/prod/alice.yaml:6`: duration 12h is longer than target 'prod' allows (8h)" in body
    assert "> - `policy/grants/prod/bad.yaml:1`: 'user' must be one Tailscale login" in body


def test_drift_is_flagged_and_its_diff_folded(repo: AccessRepo) -> None:
    ws = open_workspace(repo.config)
    edited = ws.render(EARLY).replace(b'"tagOwners": {"tag:prod": ["group:sre"]}',
                                      b'"tagOwners": {"tag:prod": ["group:sre", "group:prod"]}')
    repo.grant("prod", "alice.yaml", ALICE)
    body, _ = comment(repo, live=edited)
    assert "> **Drift:** the live policy was edited outside git." in body
    drift = body.split("<details><summary>What the tailnet has that git does not", 1)[1].split("</details>", 1)[0]
    assert '+\t"tagOwners": {"tag:prod": ["group:sre", "group:prod"]},' in drift


def test_a_long_change_is_folded_and_a_huge_one_left_out(repo: AccessRepo) -> None:
    for i in range(20):
        repo.grant("staging", f"u{i:02}.yaml", f"user: u{i:02}@example.com\ntarget: staging\nreason: r\n"
                                                f"start: 2026-11-24T11:00:00Z\nexpires: 2026-11-24T18:00:00Z\n")
    body, _ = comment(repo)
    assert "<details><summary>Policy change (23 lines)</summary>" in body, "20 members, the group's 2 lines, 1 gone"
    for i in range(400):
        repo.grant("staging", f"v{i:03}.yaml", f"user: v{i:03}-{'x' * 40}@example.com\ntarget: staging\n"
                                                f"reason: {'why ' * 100}\nstart: 2026-11-24T11:00:00Z\nexpires: 2026-11-24T18:00:00Z\n")
    body, _ = comment(repo)
    assert len(body) <= MAX_CHARS
    assert "The policy change is too large to show here" in body


def test_a_fence_in_the_policy_cannot_close_the_diff_block(repo: AccessRepo) -> None:
    policy = repo.root / "policy" / "policy.hujson"
    policy.write_text(policy.read_text().replace('"dana@example.com", // lead', '"dana@example.com", // ``` lead'))
    repo.grant("prod", "alice.yaml", ALICE)
    body, _ = comment(repo)
    assert "````diff\n" in body and "\n````\n" in body


def _check_hunks(compact: str, old: list[str], new: list[str]) -> int:
    """Every hunk's numbers point at the lines it shows, in both texts. Returns the hunk count."""
    hunks = 0
    lines = compact.splitlines()
    i = 0
    while i < len(lines):
        m = re.match(r"@@ -(\d+),(\d+) \+(\d+),(\d+) @@", lines[i])
        assert m, lines[i]
        o, oc, n, nc = (int(x) for x in m.groups())
        i += 1
        shown_old: list[str] = []
        shown_new: list[str] = []
        while i < len(lines) and not lines[i].startswith("@@"):
            tag, text = lines[i][0], lines[i][1:]
            if tag in " -":
                shown_old.append(text)
            if tag in " +":
                shown_new.append(text)
            i += 1
        assert shown_old == old[o - 1:o - 1 + oc] if oc else True
        assert shown_new == new[n - 1:n - 1 + nc] if nc else True
        hunks += 1
    return hunks


def test_compact_diff_hunk_numbers_point_at_the_right_lines() -> None:
    old = [f"line {i}" for i in range(1, 41)]
    new = list(old)
    new[4] = "changed 5"
    new.insert(20, "inserted after 20")
    del new[35]
    new.append("appended")
    compact = compact_diff(unified_diff(("\n".join(old) + "\n").encode(), ("\n".join(new) + "\n").encode(),
                                        "a", "b"))
    assert _check_hunks(compact, old, new) == 4
    assert "line 1\n" not in compact and "line 10" not in compact


def test_compact_diff_of_only_the_digest_header_is_empty() -> None:
    old = b"// tailjit:digest sha256:" + b"a" * 64 + b"\n{}\n"
    new = b"// tailjit:digest sha256:" + b"b" * 64 + b"\n{}\n"
    assert compact_diff(unified_diff(old, new, "live", "desired")) == ""


def test_comment_data_is_what_plan_json_prints(repo: AccessRepo) -> None:
    """The comment reads only `Plan.data`: the same JSON scripts get from plan --json."""
    repo.grant("prod", "alice.yaml", ALICE)
    ws = open_workspace(repo.config)
    data: dict[str, Any] = make_plan(ws.render(EARLY), ws.render(NOON), ws.config.targets).data
    round_tripped = json.loads(json.dumps(data))
    assert plan_comment(round_tripped, ws.statuses(NOON), ws.config.targets, where="w", at=NOON) == \
        plan_comment(data, ws.statuses(NOON), ws.config.targets, where="w", at=NOON)
