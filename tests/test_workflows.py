"""The workflows keep their safety rules: least privilege, pinned actions, one writer, no credential for pull-request code.

Two sets: the access repository's workflows, shipped as templates in the package (``tailjit init`` writes
them), and this repository's own CI and release workflows. Both, and ``action.yml``, must also pass
``actionlint`` and ``zizmor --persona=pedantic`` (`test_linters_report_nothing`).
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from reconciler import __version__
from reconciler.repo.scaffold import TEMPLATE_PIN, render_workflow, workflow_templates
from tests.support.linters import linter

ROOT = Path(__file__).resolve().parents[1]
OWN = ROOT / ".github" / "workflows"
TEMPLATES = ROOT / "reconciler" / "templates" / "workflows"
ACTION = "example/tailjit@" + "ab" * 20
RENDERED = {name: render_workflow(text, ACTION) for name, text in workflow_templates().items()}
WRITER_GROUP = "tailjit-tailnet"
#: ``owner/repo[/path]@<full commit SHA> # v1.2.3``: a tag can be moved, a commit cannot.
PINNED = re.compile(r"uses: [\w.-]+/[\w.-]+(?:/[\w./-]+)?@[0-9a-f]{40} # v\d+\.\d+\.\d+$")
#: Every permission a job may ask for, and why it would.
ALLOWED = {"contents": {"read", "write"}, "pull-requests": {"read", "write"}, "id-token": {"write"},
           "issues": {"write"}}
SAME_REPO = "github.event.pull_request.head.repo.full_name == github.repository"
#: Jobs that talk to the tailnet are skipped, not failed, until their identity is configured.
CONFIGURED = {"TS_PLAN_CLIENT_ID": "vars.TS_PLAN_CLIENT_ID != ''", "TS_APPLY_CLIENT_ID": "vars.TS_APPLY_CLIENT_ID != ''"}


def parse(text: str) -> dict[str, Any]:
    data = yaml.safe_load(text)
    assert isinstance(data, dict)
    # YAML 1.1 reads the key `on` as the boolean True.
    data["on"] = data.pop(True, data.get("on"))
    return data


def workflow(name: str) -> dict[str, Any]:
    return parse(RENDERED[f"{name}.yml"])


def jobs(name: str) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = parse(RENDERED[name])["jobs"]
    return found


def steps(job: dict[str, Any]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = job.get("steps", [])
    return found


def is_tailjit(step: dict[str, Any]) -> bool:
    return str(step.get("uses", "")).startswith(ACTION.split("@")[0] + "@")


def step_env(job: dict[str, Any]) -> dict[str, str]:
    merged: dict[str, str] = {}
    for step in steps(job):
        merged.update(step.get("env") or {})
    return merged


def runs(job: dict[str, Any]) -> str:
    """What the job runs: its ``run:`` scripts, and each tailjit action step as ``tailjit <command>``."""
    return "\n".join(f"tailjit {step['with']['command']}" if is_tailjit(step) else str(step.get("run", ""))
                     for step in steps(job))


def uses_workload_identity(job: dict[str, Any]) -> bool:
    env = step_env(job)
    return "TS_OAUTH_CLIENT_ID" in env and not {"TS_OAUTH_CLIENT_SECRET", "TS_API_KEY"} & set(env)


def test_the_access_repository_workflows_are_shipped_as_templates() -> None:
    assert set(RENDERED) == {"apply.yml", "approvals.yml", "plan.yml", "plan-comment.yml", "reconcile.yml"}
    assert {p.name for p in TEMPLATES.glob("*.yml")} == set(RENDERED)
    assert {p.name for p in OWN.glob("*.yml")} == {"ci.yml", "release.yml"}, "this repository's own workflows"


@pytest.mark.parametrize("name", sorted(RENDERED))
def test_permissions_are_granted_per_job_and_only_what_it_needs(name: str) -> None:
    assert parse(RENDERED[name])["permissions"] == {}, "nothing by default: each job asks for what it needs"
    for job_name, job in jobs(name).items():
        permissions = job.get("permissions")
        assert isinstance(permissions, dict), f"{name}: job {job_name} must state its permissions"
        for scope, level in permissions.items():
            assert level in ALLOWED.get(scope, set()), f"{name}: job {job_name} asks for {scope}: {level}"
        wants_id_token = permissions.get("id-token") == "write"
        assert wants_id_token == uses_workload_identity(job), \
            f"{name}: job {job_name}: id-token: write exactly where workload identity is used"
        if permissions.get("contents") == "write":
            assert "prune --commit --push" in runs(job), f"{name}: job {job_name} writes to the repo needlessly"
        if permissions.get("pull-requests") == "write":
            assert "--pr " in runs(job), f"{name}: job {job_name} writes to pull requests needlessly"
        if permissions.get("issues") == "write":
            assert " apply" in runs(job) and step_env(job).get("GITHUB_TOKEN", "").startswith("${{ github.token }}"), \
                f"{name}: job {job_name}: only apply opens (break-glass review) issues"


@pytest.mark.parametrize("name", sorted(RENDERED))
def test_every_action_is_pinned_to_a_commit_with_its_version_in_a_comment(name: str) -> None:
    lines = [line.strip().removeprefix("- ") for line in RENDERED[name].splitlines()
             if line.strip().removeprefix("- ").startswith("uses:")]
    assert lines, f"{name} uses no action?"
    for line in lines:
        assert PINNED.fullmatch(line), f"{name}: not pinned to a full commit SHA with a version: {line}"
    assert f"uses: {ACTION} # v{__version__}" in RENDERED[name], "the tailjit action, pinned as init was told"


def test_the_templates_name_the_tailjit_action_only_through_the_placeholder_init_replaces() -> None:
    for path in TEMPLATES.glob("*.yml"):
        text = path.read_text()
        tailjit_lines = [line.strip() for line in text.splitlines() if "tailjit@" in line and "uses:" in line]
        assert tailjit_lines and all(line.endswith(TEMPLATE_PIN) for line in tailjit_lines), path.name


def test_one_action_commit_per_action_everywhere() -> None:
    texts = [*RENDERED.values(), *(p.read_text() for p in OWN.glob("*.yml")), (ROOT / "action.yml").read_text()]
    pins: dict[str, set[str]] = {}
    for text in texts:
        for action, sha in re.findall(r"uses: ([\w./-]+)@([0-9a-f]{40})", text):
            pins.setdefault(action, set()).add(sha)
    assert {action: len(shas) for action, shas in pins.items()} == dict.fromkeys(pins, 1)


@pytest.mark.parametrize("name", sorted(RENDERED))
def test_checkouts_leave_no_token_behind_and_fetch_the_history(name: str) -> None:
    for job_name, job in jobs(name).items():
        for step in steps(job):
            if str(step.get("uses", "")).startswith("actions/checkout@"):
                assert step["with"]["persist-credentials"] is False, f"{name}: job {job_name}"
                assert step["with"]["fetch-depth"] == 0, f"{name}: job {job_name}: merge times need history"


@pytest.mark.parametrize("name", sorted(RENDERED))
def test_tailjit_comes_from_the_pinned_action(name: str) -> None:
    """Not `pip install .`: an access repository holds only its policy, and the tool is pinned by commit."""
    text = RENDERED[name]
    assert "pip install" not in text and "setup-python" not in text
    for job_name, job in jobs(name).items():
        seen_action = False
        for step in steps(job):
            seen_action = seen_action or is_tailjit(step)
            if "run" in step and "tailjit" in step["run"].lower():
                assert seen_action, f"{name}: job {job_name} runs tailjit before the action installed it"
                assert '"$TAILJIT"' in step["run"] and "steps." in step["env"]["TAILJIT"], \
                    f"{name}: job {job_name}: a run step calls the action's installed executable"


def test_apply_and_reconcile_share_one_writer_group_and_never_cancel_a_run() -> None:
    for name in ("apply", "reconcile"):
        assert workflow(name)["concurrency"] == {"group": WRITER_GROUP, "cancel-in-progress": False}, name
    for name in ("plan", "plan-comment"):
        assert workflow(name)["concurrency"]["group"] != WRITER_GROUP, "readers never queue behind writers"


def test_the_job_that_runs_pull_request_files_gets_no_credential() -> None:
    for text in RENDERED.values():
        assert "pull_request_target" not in parse(text)["on"]
    plan = workflow("plan")
    assert set(plan["on"]) == {"pull_request"}
    assert plan["on"]["pull_request"]["paths"] == ["policy/**"]
    assert set(plan["jobs"]) == {"validate"}
    validate = plan["jobs"]["validate"]
    assert "if" not in validate and validate["permissions"] == {"contents": "read"}, "forks get validate too"
    assert step_env(validate) == {}, "validate needs no credential"
    assert runs(validate).splitlines()[-2:] == [
        "tailjit validate --changed-since ${{ github.event.pull_request.base.sha }}", "tailjit codeowners --check"]
    assert "secrets." not in RENDERED["plan.yml"] and "vars." not in RENDERED["plan.yml"]


def test_the_credentialed_plan_runs_the_default_branch_and_reads_the_pull_request_as_data() -> None:
    comment = workflow("plan-comment")
    assert comment["on"] == {"workflow_run": {"workflows": ["plan"], "types": ["completed"]}}
    job = comment["jobs"]["plan"]
    condition = " ".join(job["if"].split())
    assert "github.event.workflow_run.pull_requests[0] != null" in condition, "branches of this repository only"
    assert "github.event.workflow_run.event == 'pull_request'" in condition
    assert CONFIGURED["TS_PLAN_CLIENT_ID"] in condition
    default, data = (s for s in steps(job) if str(s.get("uses", "")).startswith("actions/checkout@"))
    assert "ref" not in default["with"] and "path" not in default["with"], "the default branch, at the root"
    assert data["with"]["path"] == "pull-request"
    assert data["with"]["ref"] == "refs/pull/${{ github.event.workflow_run.pull_requests[0].number }}/merge"
    command = " ".join(runs(job).split())
    assert command == ("tailjit --config pull-request/policy/tailjit.yaml --connection-config policy/tailjit.yaml "
                       "--backend tailscale plan --pr ${{ github.event.workflow_run.pull_requests[0].number }}")
    assert step_env(job)["TS_OAUTH_CLIENT_ID"] == "${{ vars.TS_PLAN_CLIENT_ID }}", "the read-only identity"
    assert step_env(job)["TS_AUDIENCE"] == "${{ vars.TS_PLAN_AUDIENCE }}", "the read-only identity's audience"
    assert not any("run" in s for s in steps(job)), "nothing from the pull request is executed"


def test_a_push_to_main_applies() -> None:
    apply = workflow("apply")
    assert apply["on"] == {"push": {"branches": ["main"]}}
    job = apply["jobs"]["apply"]
    assert job["if"].startswith(CONFIGURED["TS_APPLY_CLIENT_ID"])
    assert runs(job).endswith("tailjit --backend tailscale apply")
    assert step_env(job)["TS_OAUTH_CLIENT_ID"] == "${{ vars.TS_APPLY_CLIENT_ID }}"
    assert step_env(job)["TS_AUDIENCE"] == "${{ vars.TS_APPLY_AUDIENCE }}"


def test_the_schedule_revokes_then_prunes_and_break_glass_needs_its_environment() -> None:
    reconcile = workflow("reconcile")
    assert reconcile["on"]["schedule"] == [{"cron": "*/5 * * * *"}]
    assert reconcile["on"]["workflow_dispatch"]["inputs"]["force"]["type"] == "boolean"
    apply, force, prune = (reconcile["jobs"][n] for n in ("apply", "force", "prune"))
    assert runs(apply).endswith("tailjit --backend tailscale apply")
    assert "--force" not in runs(apply) and "environment" not in apply
    assert apply["if"] == f"{CONFIGURED['TS_APPLY_CLIENT_ID']} && inputs.force != true"
    assert force["if"] == f"{CONFIGURED['TS_APPLY_CLIENT_ID']} && inputs.force == true"
    assert force["environment"] == "break-glass", "a forced reconcile waits for the environment's reviewers"
    assert runs(force).endswith("tailjit --backend tailscale apply --force")
    assert prune["needs"] == "apply"
    assert runs(prune).endswith("tailjit prune --commit --push")
    assert "id-token" not in prune["permissions"] and "TS_OAUTH_CLIENT_ID" not in step_env(prune), \
        "pruning is git only: no tailnet credential"
    assert prune["environment"] == "prune", "the pushing App's key is kept in an environment limited to main"


def test_the_tools_own_ci_builds_tests_and_runs_the_action() -> None:
    ci = parse((OWN / "ci.yml").read_text())
    assert ci["permissions"] == {}
    check = ci["jobs"]["check"]
    assert check["permissions"] == {"contents": "read"}
    assert [s.get("run") for s in steps(check)][-1] == ".ci/run"
    ci_run = (ROOT / ".ci" / "run").read_text()
    for tool in ("ruff check", "mypy", "actionlint", "zizmor", "python -m build", "twine check", "pytest"):
        assert tool in ci_run, tool
    action_steps = [s for s in steps(ci["jobs"]["action"]) if str(s.get("uses", "")).startswith("./")]
    assert [s["with"]["command"].split()[0] for s in action_steps] == ["validate", "apply"]


def test_release_publishes_with_trusted_publishing_from_a_tag_only() -> None:
    release = parse((OWN / "release.yml").read_text())
    assert release["on"] == {"push": {"tags": ["v*"]}}
    build, publish = release["jobs"]["build"], release["jobs"]["publish"]
    assert build["permissions"] == {"contents": "read"}
    script = "\n".join(str(s.get("run", "")) for s in steps(build))
    assert 'if [ "$TAG" != "v$version" ]' in script, "the tag must name the package's version"
    assert "twine check --strict dist/*" in script and "python .ci/check_dist.py dist" in script
    assert publish["permissions"] == {"id-token": "write"} and publish["needs"] == "build"
    assert publish["environment"]["name"] == "pypi"
    assert str(steps(publish)[-1]["uses"]).startswith("pypa/gh-action-pypi-publish@")
    assert "password" not in str(steps(publish)[-1].get("with", {})), "no stored token"


def test_the_action_installs_from_its_own_checkout_and_runs_one_command() -> None:
    action = yaml.safe_load((ROOT / "action.yml").read_text())
    assert action["runs"]["using"] == "composite"
    assert action["inputs"]["command"]["required"] is True
    install, run = action["runs"]["steps"][1:]
    assert install["env"]["ACTION_PATH"] == "${{ github.action_path }}"
    assert 'pip install --quiet --disable-pip-version-check "$ACTION_PATH"' in install["run"]
    assert "${{" not in install["run"] + run["run"], "inputs reach the scripts through env only"
    assert "GITHUB_PATH" not in install["run"] and "GITHUB_ENV" not in install["run"]
    assert run["env"]["TAILJIT_COMMAND"] == "${{ inputs.command }}"
    assert action["outputs"]["tailjit"]["value"] == "${{ steps.install.outputs.tailjit }}"


def test_linters_report_nothing(tmp_path: Path) -> None:
    """actionlint and zizmor (pedantic, offline) on this repository's workflows, the action, the templates as
    shipped and the workflows as init renders them."""
    actionlint_path, zizmor_path = linter("actionlint"), linter("zizmor")
    rendered = tmp_path / ".github" / "workflows"
    rendered.mkdir(parents=True)
    for name, text in RENDERED.items():
        (rendered / name).write_text(text)
    files = [*sorted(OWN.glob("*.yml")), *sorted(TEMPLATES.glob("*.yml")), *sorted(rendered.glob("*.yml"))]
    lint = subprocess.run([actionlint_path, *map(str, files)], capture_output=True, text=True, cwd=ROOT)
    assert lint.returncode == 0, lint.stdout + lint.stderr
    zizmor = subprocess.run([zizmor_path, "--offline", "--persona=pedantic", "--no-progress",
                             str(ROOT / "action.yml"), *map(str, files)], capture_output=True, text=True, cwd=ROOT)
    assert zizmor.returncode == 0, zizmor.stdout + zizmor.stderr
    assert "No findings to report" in zizmor.stdout


@pytest.mark.parametrize(("name", "job"), [("apply", "apply"), ("reconcile", "apply"), ("reconcile", "force")])
def test_merge_times_are_kept_between_runs_keyed_by_branch_and_commit(name: str, job: str) -> None:
    found = steps(workflow(name)["jobs"][job])
    (cached,) = [s for s in found if str(s.get("uses", "")).startswith("actions/cache@")]
    assert cached["with"] == {
        "path": ".tailjit/merge-times.json",
        "key": "tailjit-merge-times-${{ github.ref_name }}-${{ github.sha }}",
        "restore-keys": "tailjit-merge-times-${{ github.ref_name }}-",
    }
    first_tailjit = next(i for i, s in enumerate(found) if is_tailjit(s))
    assert found.index(cached) < first_tailjit, "restored before tailjit reads merge times"
    checkout = next(i for i, s in enumerate(found) if str(s.get("uses", "")).startswith("actions/checkout@"))
    assert checkout < found.index(cached) and found[checkout]["with"]["fetch-depth"] == 0


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
    assert runs(job).endswith("tailjit approvals --pr ${{ github.event.pull_request.number }}")
    assert step_env(job)["GITHUB_TOKEN"] == "${{ steps.app.outputs.token || github.token }}"
    app = next(s for s in steps(job) if s.get("id") == "app")
    assert SAME_REPO in app["if"], "no App key for a fork's pull request"
    assert {k: v for k, v in app["with"].items() if k.startswith("permission-")} == {
        "permission-members": "read", "permission-pull-requests": "read", "permission-contents": "read"}
    assert "id-token" not in job["permissions"], "no tailnet credential"
