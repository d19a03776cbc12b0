"""The approvals verdict on values (no GitHub): who may approve when a target names nobody, and the edges."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from reconciler.core.config import Config
from reconciler.github.approvals import ChangedFile, PullRequest, Review, decide
from reconciler.repo.config import load_config

NOW = datetime(2026, 11, 24, 12, tzinfo=UTC)
HEAD = "a" * 40
GRANT = b"user: alice@example.com\ntarget: {target}\nreason: INC-1\nduration: 1h\n"


def config(tmp_path: Path, extra: str = "") -> Config:
    path = tmp_path / "policy" / "tailjit.yaml"
    path.parent.mkdir(parents=True)
    path.write_text(f"""\
targets:
  open: {{group: "group:open", max_duration: 8h}}
  owned: {{group: "group:owned", max_duration: 8h, approvers: [dana@example.com]}}
identities:
  github:dana: dana@example.com
  github:sam: sam@example.com
{extra}""")
    return load_config(path)


def pull(target: str, *reviews: Review) -> PullRequest:
    grant = ChangedFile(f"policy/grants/{target}/alice.yaml", "added", GRANT.replace(b"{target}", target.encode()))
    return PullRequest(7, "bob", HEAD, (), (grant,), reviews, (HEAD,), None)


def test_a_target_without_approvers_or_owners_takes_any_reviewer(tmp_path: Path) -> None:
    verdict = decide(pull("open", Review("sam", "APPROVED", HEAD)), config(tmp_path), NOW, {})
    assert verdict.satisfied
    assert verdict.targets[0].approvers == ()


def test_without_approvers_the_owners_approve(tmp_path: Path) -> None:
    cfg = config(tmp_path, 'owners: ["@dana"]\n')
    assert not decide(pull("open", Review("sam", "APPROVED", HEAD)), cfg, NOW, {}).satisfied
    assert decide(pull("open", Review("dana", "APPROVED", HEAD)), cfg, NOW, {}).satisfied


def test_email_approvers_count_nobody_and_never_mean_anyone(tmp_path: Path) -> None:
    verdict = decide(pull("owned", Review("dana", "APPROVED", HEAD)), config(tmp_path), NOW, {})
    assert not verdict.satisfied
    [reviewer] = verdict.targets[0].reviewers
    assert reviewer.why == "is not one of owned's approvers (dana@example.com)"
    assert verdict.targets[0].notes == ("approvers written as email addresses (dana@example.com) count nobody: "
                                        "tailjit matches reviewers to @user and @org/team only",)


def test_reviewer_logins_ignore_case_and_pending_reviews_count_for_nothing(tmp_path: Path) -> None:
    cfg = config(tmp_path, 'owners: ["@Dana"]\n')
    reviews = (Review("DANA", "APPROVED", HEAD), Review("dana", "PENDING", HEAD), Review("dana", "COMMENTED", HEAD))
    verdict = decide(pull("open", *reviews), cfg, NOW, {})
    assert verdict.satisfied
    assert [(r.login, r.counted) for r in verdict.targets[0].reviewers] == [("DANA", True)]


def test_a_grantee_on_github_is_known_without_an_identity(tmp_path: Path) -> None:
    grant = ChangedFile("policy/grants/open/x.yaml", "added", b"user: zed@github\ntarget: open\nreason: x\nduration: 1h\n")
    pr = PullRequest(7, "bob", HEAD, (), (grant,), (Review("zed", "APPROVED", HEAD),), (HEAD,), None)
    [reviewer] = decide(pr, config(tmp_path), NOW, {}).targets[0].reviewers
    assert (reviewer.counted, reviewer.why) == (False, "is the grantee (zed@github)")


def test_a_moved_grant_file_is_a_new_grant_and_its_old_path_a_removal(tmp_path: Path) -> None:
    moved = ChangedFile("policy/grants/open/new.yaml", "renamed", GRANT.replace(b"{target}", b"open"),
                        previous="policy/grants/owned/old.yaml")
    pr = PullRequest(7, "bob", HEAD, (), (moved,), (), (HEAD,), None)
    verdict = decide(pr, config(tmp_path), NOW, {})
    assert verdict.removed == ("policy/grants/owned/old.yaml",)
    assert [t.target for t in verdict.targets] == ["open"] and not verdict.satisfied
