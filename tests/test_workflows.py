"""The GitHub workflows keep their safety rules: least privilege, pinned actions, one writer, no credential for forks."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

WORKFLOWS = Path(__file__).resolve().parents[1] / ".github" / "workflows"
FILES = sorted(WORKFLOWS.glob("*.yml"))
WRITER_GROUP = "tailjit-tailnet"
#: ``owner/repo[/path]@<full commit SHA> # v1.2.3``: a tag can be moved, a commit cannot.
PINNED = re.compile(r"uses: [\w.-]+/[\w.-]+(?:/[\w./-]+)?@[0-9a-f]{40} # v\d+\.\d+\.\d+$")
#: Every permission a job may ask for, and why it would.
ALLOWED = {"contents": {"read", "write"}, "pull-requests": {"read", "write"}, "id-token": {"write"},
           "issues": {"write"}}
SAME_REPO = "github.event.pull_request.head.repo.full_name == github.repository"
#: Jobs that talk to the tailnet are skipped, not failed, until their identity is configured.
CONFIGURED = {"TS_PLAN_CLIENT_ID": "vars.TS_PLAN_CLIENT_ID != ''", "TS_APPLY_CLIENT_ID": "vars.TS_APPLY_CLIENT_ID != ''"}


def load(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text())
    assert isinstance(data, dict), path
    # YAML 1.1 reads the key `on` as the boolean True.
    data["on"] = data.pop(True, data.get("on"))
    return data


def workflow(name: str) -> dict[str, Any]:
    return load(WORKFLOWS / f"{name}.yml")


def jobs(path: Path) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = load(path)["jobs"]
    return found


def steps(job: dict[str, Any]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = job.get("steps", [])
    return found


def step_env(job: dict[str, Any]) -> dict[str, str]:
    merged: dict[str, str] = {}
    for step in steps(job):
        merged.update(step.get("env") or {})
    return merged


def runs(job: dict[str, Any]) -> str:
    return "\n".join(str(step.get("run", "")) for step in steps(job))


def uses_workload_identity(job: dict[str, Any]) -> bool:
    env = step_env(job)
    return "TS_OAUTH_CLIENT_ID" in env and not {"TS_OAUTH_CLIENT_SECRET", "TS_API_KEY"} & set(env)


def test_the_four_workflows_exist() -> None:
    assert {"apply.yml", "approvals.yml", "plan.yml", "reconcile.yml"} <= {p.name for p in FILES}


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_permissions_are_granted_per_job_and_only_what_it_needs(path: Path) -> None:
    assert load(path)["permissions"] == {}, "nothing by default: each job asks for what it needs"
    for name, job in jobs(path).items():
        permissions = job.get("permissions")
        assert isinstance(permissions, dict), f"{path.name}: job {name} must state its permissions"
        for scope, level in permissions.items():
            assert level in ALLOWED.get(scope, set()), f"{path.name}: job {name} asks for {scope}: {level}"
        wants_id_token = permissions.get("id-token") == "write"
        assert wants_id_token == uses_workload_identity(job), \
            f"{path.name}: job {name}: id-token: write exactly where workload identity is used"
        if permissions.get("contents") == "write":
            assert "prune --commit --push" in runs(job), f"{path.name}: job {name} writes to the repo needlessly"
        if permissions.get("pull-requests") == "write":
            assert "--pr " in runs(job), f"{path.name}: job {name} writes to pull requests needlessly"
        if permissions.get("issues") == "write":
            assert " apply" in runs(job) and step_env(job).get("GITHUB_TOKEN") == "${{ github.token }}", \
                f"{path.name}: job {name}: only apply opens (break-glass review) issues"


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_every_action_is_pinned_to_a_commit_with_its_version_in_a_comment(path: Path) -> None:
    lines = [line.strip().removeprefix("- ") for line in path.read_text().splitlines()
             if line.strip().removeprefix("- ").startswith("uses:")]
    assert lines, f"{path.name} uses no action?"
    for line in lines:
        assert PINNED.fullmatch(line), f"{path.name}: not pinned to a full commit SHA with a version: {line}"


def test_one_action_commit_per_action_across_workflows() -> None:
    pins: dict[str, set[str]] = {}
    for path in FILES:
        for action, sha in re.findall(r"uses: ([\w./-]+)@([0-9a-f]{40})", path.read_text()):
            pins.setdefault(action, set()).add(sha)
    assert {action: len(shas) for action, shas in pins.items()} == dict.fromkeys(pins, 1)


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_checkouts_leave_no_token_behind(path: Path) -> None:
    for name, job in jobs(path).items():
        for step in steps(job):
            if str(step.get("uses", "")).startswith("actions/checkout@"):
                assert step["with"]["persist-credentials"] is False, f"{path.name}: job {name}"
                assert step["with"]["fetch-depth"] == 0, f"{path.name}: job {name}: merge times need history"


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_tailjit_comes_from_this_repository(path: Path) -> None:
    for name, job in jobs(path).items():
        if "tailjit " in runs(job):
            assert "python -m pip install --quiet .\n" in runs(job) + "\n", f"{path.name}: job {name}"
            assert any(str(s.get("uses", "")).startswith("actions/setup-python@") for s in steps(job))


def test_apply_and_reconcile_share_one_writer_group_and_never_cancel_a_run() -> None:
    for name in ("apply", "reconcile"):
        assert workflow(name)["concurrency"] == {"group": WRITER_GROUP, "cancel-in-progress": False}, name
    assert workflow("plan")["concurrency"]["group"] != WRITER_GROUP, "readers never queue behind writers"


def test_pull_requests_never_run_with_write_access_to_the_tailnet() -> None:
    for path in FILES:
        assert "pull_request_target" not in load(path)["on"], f"{path.name} runs with the base repo's secrets"
    plan = workflow("plan")
    assert set(plan["on"]) == {"pull_request"}
    assert plan["on"]["pull_request"]["paths"] == ["policy/**"]
    validate, comment = plan["jobs"]["validate"], plan["jobs"]["plan"]
    assert "if" not in validate and validate["permissions"] == {"contents": "read"}, "forks get validate only"
    assert step_env(validate) == {}, "validate needs no credential"
    assert runs(validate).splitlines()[-2:] == ["tailjit validate", "tailjit codeowners --check"]
    assert comment["if"] == f"{SAME_REPO} && {CONFIGURED['TS_PLAN_CLIENT_ID']}", "no credential for a fork's code"
    assert step_env(comment)["TS_OAUTH_CLIENT_ID"] == "${{ vars.TS_PLAN_CLIENT_ID }}", "the read-only identity"
    assert 'tailjit --backend tailscale plan --pr "$PR_NUMBER"' in runs(comment)
    assert "secrets." not in (WORKFLOWS / "plan.yml").read_text()


def test_a_push_to_main_applies() -> None:
    apply = workflow("apply")
    assert apply["on"] == {"push": {"branches": ["main"]}}
    job = apply["jobs"]["apply"]
    assert job["if"].startswith(CONFIGURED["TS_APPLY_CLIENT_ID"])
    assert runs(job).endswith("tailjit --backend tailscale apply")
    assert step_env(job)["TS_OAUTH_CLIENT_ID"] == "${{ vars.TS_APPLY_CLIENT_ID }}"


def test_the_schedule_revokes_then_prunes() -> None:
    reconcile = workflow("reconcile")
    assert reconcile["on"]["schedule"] == [{"cron": "*/5 * * * *"}]
    assert "workflow_dispatch" in reconcile["on"]
    apply, prune = reconcile["jobs"]["apply"], reconcile["jobs"]["prune"]
    assert 'tailjit --backend tailscale apply "$@"' in runs(apply)
    assert apply["if"].startswith(CONFIGURED["TS_APPLY_CLIENT_ID"])
    assert prune["needs"] == "apply"
    assert runs(prune).endswith("tailjit prune --commit --push")
    assert "id-token" not in prune["permissions"] and "TS_OAUTH_CLIENT_ID" not in step_env(prune), \
        "pruning is git only: no tailnet credential"
    assert prune["environment"] == "prune", "the pushing App's key is kept in an environment limited to main"


@pytest.mark.parametrize(("name", "job"), [("apply", "apply"), ("reconcile", "apply")])
def test_merge_times_are_kept_between_runs_keyed_by_branch_and_commit(name: str, job: str) -> None:
    found = workflow(name)["jobs"][job]
    names = [s.get("name", s.get("uses", "")) for s in steps(found)]
    (cached,) = [s for s in steps(found) if str(s.get("uses", "")).startswith("actions/cache@")]
    assert cached["with"] == {
        "path": ".tailjit/merge-times.json",
        "key": "tailjit-merge-times-${{ github.ref_name }}-${{ github.sha }}",
        "restore-keys": "tailjit-merge-times-${{ github.ref_name }}-",
    }
    first_tailjit = next(i for i, s in enumerate(steps(found)) if "tailjit " in str(s.get("run", "")))
    assert names.index(cached["name"]) < first_tailjit, "restored before tailjit reads merge times"
    checkout = next(i for i, s in enumerate(steps(found)) if str(s.get("uses", "")).startswith("actions/checkout@"))
    assert steps(found)[checkout]["with"]["fetch-depth"] == 0


def test_approvals_run_on_every_push_label_and_review_with_the_base_branchs_rules() -> None:
    approvals = workflow("approvals")
    assert set(approvals["on"]) == {"pull_request", "pull_request_review"}
    assert "paths" not in approvals["on"]["pull_request"], "a required check must run on every pull request"
    assert {"synchronize", "labeled", "unlabeled"} <= set(approvals["on"]["pull_request"]["types"])
    assert {"submitted", "dismissed"} <= set(approvals["on"]["pull_request_review"]["types"])
    job = approvals["jobs"]["approvals"]
    assert job["name"] == "approvals", "the name branch protection requires"
    assert job["permissions"] == {"contents": "read", "pull-requests": "read"}
    checkout = next(s for s in steps(job) if str(s.get("uses", "")).startswith("actions/checkout@"))
    assert checkout["with"]["ref"] == "${{ github.event.pull_request.base.sha }}", "rules from the base branch"
    assert runs(job).endswith('tailjit approvals --pr "$PR_NUMBER"')
    assert step_env(job)["GITHUB_TOKEN"] == "${{ steps.app.outputs.token || github.token }}"
    app = next(s for s in steps(job) if s.get("id") == "app")
    assert SAME_REPO in app["if"], "no App key for a fork's pull request"
    assert {k: v for k, v in app["with"].items() if k.startswith("permission-")} == {
        "permission-members": "read", "permission-pull-requests": "read", "permission-contents": "read"}
    assert "id-token" not in job["permissions"], "no tailnet credential"
