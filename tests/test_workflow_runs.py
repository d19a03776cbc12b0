"""The access-repository workflows, run: each job's steps executed in bash with the variables Actions sets, against
the fake Tailscale API, the fake GitHub API and the fake OIDC endpoint, on a real git origin.

The templates are rendered as ``tailjit init`` renders them. Steps that ``uses:`` an action are emulated
(`tests.support.actions_runner`): ``actions/checkout`` clones the bare origin and checks out what GitHub would
(the pull request's merge ref, the pushed commit, the default branch, or ``with: ref``); ``actions/cache`` is a
miss; the tailjit action runs its own ``action.yml`` steps, with Python from setup-python and the install
already present in the runner's temp folder (a wrapper around the tailjit under test).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from reconciler.core.durations import format_time
from reconciler.repo.scaffold import render_workflow, workflow_templates
from tests.support.access import Result
from tests.support.actions_runner import JobState, Runner, git
from tests.support.fake_github import FakeGitHub
from tests.support.fake_github import serve as serve_github
from tests.support.fake_oidc import serve_oidc
from tests.support.fake_tailscale import READ, WRITE, FakeTailscale, serve

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
ACTION = "example/tailjit@" + "cd" * 20
TOKEN = "ghs-runner-token"
RUNNER_TOKEN = "runner-request-token"
PLAN_VARS = {"TS_PLAN_CLIENT_ID": "plan-client", "TS_PLAN_AUDIENCE": "aud-plan"}
APPLY_VARS = {"TS_APPLY_CLIENT_ID": "apply-client", "TS_APPLY_AUDIENCE": "aud-apply"}
GIT_ENV = {"GIT_CONFIG_NOSYSTEM": "1", "GIT_AUTHOR_NAME": "Dana", "GIT_AUTHOR_EMAIL": "dana@example.com",
           "GIT_COMMITTER_NAME": "Dana", "GIT_COMMITTER_EMAIL": "dana@example.com"}


def workflow(name: str) -> str:
    return render_workflow(workflow_templates()[name], ACTION)


@dataclass
class World:
    root: Path
    origin: Path
    seed: Path
    tailnet: FakeTailscale
    attacker: FakeTailscale
    github: FakeGitHub
    oidc_audiences: list[str]
    runner: Runner
    now: datetime

    def git(self, *args: str, cwd: Path | None = None) -> str:
        return git(*args, cwd=cwd or self.seed, env={**GIT_ENV, "HOME": str(self.root / "home")})

    def commit(self, message: str, files: dict[str, str], *, branch: str = "main") -> str:
        if self.git("symbolic-ref", "--short", "HEAD") != branch:
            self.git("checkout", "-q", branch)
        for name, text in files.items():
            path = self.seed / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        self.git("add", "-A")
        self.git("commit", "-q", "-m", message)
        self.git("push", "-q", "origin", f"HEAD:refs/heads/{branch}")
        return self.git("rev-parse", "HEAD")

    def pull_request(self, number: int, branch: str, files: dict[str, str]) -> tuple[str, str]:
        """A branch off main with ``files``, and GitHub's refs for its pull request: head and test merge."""
        self.git("checkout", "-q", "-b", branch, "main")
        head = self.commit(f"Request access ({branch})", files, branch=branch)
        self.git("checkout", "-q", "--detach", "main")
        self.git("merge", "-q", "--no-ff", "-m", f"Merge {head[:12]} into main", branch)
        merge = self.git("rev-parse", "HEAD")
        self.git("push", "-q", "origin", f"{head}:refs/pull/{number}/head", f"{merge}:refs/pull/{number}/merge")
        self.git("checkout", "-q", "main")
        return head, merge

    def main_sha(self) -> str:
        return git("rev-parse", "main", cwd=self.origin)

    def origin_files(self) -> set[str]:
        return set(git("ls-tree", "-r", "--name-only", "main", cwd=self.origin).splitlines())


def grant(user: str, *, expires: datetime | None = None, start: datetime | None = None,
          duration: str | None = None) -> str:
    lines = [f"user: {user}", "target: prod", "reason: INC-42 database migration"]
    if start is not None:
        lines.append(f"start: {format_time(start)}")
    lines.append(f"expires: {format_time(expires)}" if expires is not None else f"duration: {duration}")
    return "\n".join(lines) + "\n"


def _checkout(world_root: Path, origin: Path) -> Callable[[Runner, JobState, dict[str, str], dict[str, str]],
                                                        dict[str, str]]:
    def checkout(runner: Runner, state: JobState, with_: dict[str, str], env: dict[str, str]) -> dict[str, str]:
        dest = state.workspace / with_["path"] if with_.get("path") else state.workspace
        git("clone", "-q", "--no-checkout", str(origin), str(dest), cwd=world_root)
        github = state.context["github"]
        ref = with_.get("ref") or ""
        if not ref and github["event_name"] == "pull_request":
            ref = f"refs/pull/{github['event']['pull_request']['number']}/merge"
        if not ref and github["event_name"] == "push":
            ref = github["sha"]
        if ref.startswith("refs/pull/"):
            git("fetch", "-q", "origin", f"{ref}:{ref}", cwd=dest)
        git("checkout", "-q", "--detach", ref or "origin/main", cwd=dest)
        if not ref or ref == github.get("sha"):
            git("checkout", "-q", "-B", "main", cwd=dest)  # a push or the default branch: on the branch
        return {}
    return checkout


def _setup_python(runner: Runner, state: JobState, with_: dict[str, str], env: dict[str, str]) -> dict[str, str]:
    """Python for the action; the venv it would install tailjit into already holds the tailjit under test."""
    venv_bin = state.temp / "tailjit-venv" / "bin"
    venv_bin.mkdir(parents=True, exist_ok=True)
    tailjit = venv_bin / "tailjit"
    tailjit.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m reconciler "$@"\n')
    tailjit.chmod(0o755)
    return {"python-path": sys.executable, "python-version": "3.12"}


def _no_app(runner: Runner, state: JobState, with_: dict[str, str], env: dict[str, str]) -> dict[str, str]:
    raise AssertionError("the GitHub App token step runs only when its variable is set")


@pytest.fixture
def world(tmp_path: Path, run_cli: Callable[..., Result], monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    home = tmp_path / "home"
    home.mkdir()
    origin = tmp_path / "origin.git"
    seed = tmp_path / "seed"
    env = {**GIT_ENV, "HOME": str(home)}
    git("init", "-q", "--bare", "-b", "main", str(origin), cwd=tmp_path, env=env)
    with serve(b"") as tailnet, serve(b"{}") as attacker, serve_github(token=TOKEN) as github, \
            serve_oidc(RUNNER_TOKEN) as oidc:
        tailnet.add_federated_identity("plan-client", audience="aud-plan", scopes=[READ])
        tailnet.add_federated_identity("apply-client", audience="aud-apply", scopes=[WRITE])
        attacker.add_federated_identity("plan-client", audience="attacker", scopes=[READ])
        assert run_cli("init", str(seed), "--target", "prod=group:prod:8h", "--owner", "@example/sre",
                       "--action", ACTION).code == 0
        config = seed / "policy" / "tailjit.yaml"
        config.write_text(config.read_text().replace("base_url: https://api.tailscale.com",
                                                     f"base_url: {tailnet.url}").replace("# base_url:", "base_url:"))
        tailnet.set_policy((seed / "policy" / "policy.hujson").read_bytes())  # a tailnet always has a policy
        git("init", "-q", "-b", "main", cwd=seed, env=env)
        git("remote", "add", "origin", str(origin), cwd=seed, env=env)
        runner_env = {"PATH": os.environ["PATH"], "HOME": str(home), "LANG": "C.UTF-8",
                      "PYTHONPATH": str(ROOT), "GITHUB_API_URL": github.url, **{k: v for k, v in GIT_ENV.items()
                                                                                 if k == "GIT_CONFIG_NOSYSTEM"}}
        runner = Runner(tmp_path / "runner", runner_env, {
            "actions/checkout@": _checkout(tmp_path, origin),
            "actions/setup-python@": _setup_python,
            "actions/cache@": lambda *_: {},
            "actions/create-github-app-token@": _no_app,
        }, composite={ACTION.split("@")[0] + "@": ROOT / "action.yml"}, oidc=(oidc.request_url, RUNNER_TOKEN))
        runner.root.mkdir()
        world = World(tmp_path, origin, seed, tailnet, attacker, github, oidc.audiences, runner,
                      datetime.now(UTC).replace(microsecond=0))
        world.commit("An access repository from tailjit init", {})
        yield world


def test_the_pull_request_flow_validates_without_a_credential_then_comments_with_mains_settings(world: World) -> None:
    base = world.main_sha()
    attack = (world.seed / "policy" / "tailjit.yaml").read_text().replace(
        f"base_url: {world.tailnet.url}", f"base_url: {world.attacker.url}") + "audience: attacker\n"
    head, _ = world.pull_request(7, "access/prod/alice", {
        "policy/grants/prod/alice.yaml": grant("alice@example.com", duration="4h"),
        "policy/tailjit.yaml": attack})
    event = {"pull_request": {"number": 7, "head": {"sha": head, "ref": "access/prod/alice",
                                                    "repo": {"full_name": "example/access"}}, "base": {"sha": base}}}
    validated = world.runner.run(workflow("plan.yml"), "pull_request", event, ref="refs/pull/7/merge")
    assert validated["validate"].result == "success", validated["validate"].log()
    assert "OK: 1 target(s), 1 grant file(s)" in validated["validate"].log()
    assert sum(world.tailnet.requests.values()) == 0 and world.oidc_audiences == [], "no credential here"

    late = world.now - timedelta(hours=2)
    stale, _ = world.pull_request(9, "access/prod/late", {
        "policy/grants/prod/late.yaml": grant("late@example.com", start=late, expires=late + timedelta(hours=1))})
    held = world.runner.run(workflow("plan.yml"), "pull_request", {**event, "pull_request": {
        **event["pull_request"], "number": 9, "head": {**event["pull_request"]["head"], "sha": stale}}})
    assert held["validate"].result == "failure", "a request that is already over fails the check"
    assert "policy/grants/prod/late.yaml" in held["validate"].log()

    run = {"workflow_run": {"event": "pull_request", "conclusion": "success", "head_sha": head,
                            "head_branch": "access/prod/alice", "pull_requests": [{"number": 7}]}}
    commented = world.runner.run(workflow("plan-comment.yml"), "workflow_run", run, vars=PLAN_VARS,
                                 sha=world.main_sha())
    job = commented["plan"]
    assert job.result == "success", job.log()
    (comment,) = world.github.comments_on(7)
    assert comment.body.startswith("<!-- tailjit:plan -->\n### tailjit plan")
    assert "policy/grants/prod/alice.yaml" not in comment.body, "a request awaiting its merge is not a problem"
    assert "⏳ pending" in comment.body and "`alice@example.com`" in comment.body and "4h from merge" in comment.body
    assert head[:7] in comment.body, "the comment names the pull request's head commit"
    assert "tailjit plan" in job.summary
    assert world.oidc_audiences == ["aud-plan"], "main's audience, never the pull request's"
    assert sum(world.attacker.requests.values()) == 0, "nothing sent to the pull request's base_url"
    assert world.tailnet.count("POST", "/acl") == 0, "the plan writes nothing"

    fork = {"workflow_run": {**run["workflow_run"], "pull_requests": []}}
    skipped = world.runner.run(workflow("plan-comment.yml"), "workflow_run", fork, vars=PLAN_VARS)
    assert skipped["plan"].result == "skipped", "a fork's run lists no pull request: no credentialed job"


def test_the_push_flow_applies_the_merged_grant(world: World) -> None:
    world.pull_request(8, "access/prod/bob", {"policy/grants/prod/bob.yaml": grant("bob@example.com", duration="4h")})
    world.git("merge", "-q", "--no-ff", "-m", "Merge pull request #8", "access/prod/bob")
    world.git("push", "-q", "origin", "main")
    sha = world.main_sha()
    unconfigured = world.runner.run(workflow("apply.yml"), "push", {"after": sha}, sha=sha)
    assert unconfigured["apply"].result == "skipped", "quiet until the identity is configured"
    result = world.runner.run(workflow("apply.yml"), "push", {"after": sha}, vars=APPLY_VARS, sha=sha)
    assert result["apply"].result == "success", result["apply"].log()
    assert b'"bob@example.com", // tailjit: prod/bob.yaml until ' in world.tailnet.policy
    assert world.oidc_audiences == ["aud-apply"]
    assert "bob@example.com" in result["apply"].summary


def _expired_on_main(world: World, extra: dict[str, str]) -> None:
    """carol's grant expired an hour ago, and the live policy still has her (applied while it was active)."""
    start, end = world.now - timedelta(hours=3), world.now - timedelta(hours=1)
    files = {"policy/grants/prod/carol.yaml": grant("carol@example.com", start=start, expires=end),
             "policy/grants/prod/erin.yaml": grant("erin@example.com", start=start,
                                                   expires=world.now + timedelta(hours=2)),
             **extra}
    world.commit("Grants", files)
    live = world.root / "live.hujson"
    from reconciler.cli.main import main

    code = main(["--config", str(world.seed / "policy" / "tailjit.yaml"), "--backend", f"file:{live}", "apply",
                 "--at", format_time(start + timedelta(hours=1))])
    assert code in (0, 1)
    world.tailnet.set_policy(live.read_bytes())
    assert b"carol@example.com" in world.tailnet.policy


@pytest.mark.parametrize("broken", [False, True], ids=["clean", "one-invalid-grant-file-on-main"])
def test_the_schedule_revokes_and_prunes(world: World, broken: bool) -> None:
    extra = {"policy/grants/prod/broken.yaml": "user: [unclosed\n"} if broken else {}
    _expired_on_main(world, extra)
    sha = world.main_sha()
    result = world.runner.run(workflow("reconcile.yml"), "schedule", {"schedule": "*/5 * * * *"},
                              vars=APPLY_VARS, sha=sha)
    apply, prune = result["apply"], result["prune"]
    assert result["force"].result == "skipped"
    assert apply.outputs == {"expired": "1"}, apply.log()
    assert b"carol@example.com" not in world.tailnet.policy, "expired access ended"
    assert b'"erin@example.com", // tailjit: prod/erin.yaml until ' in world.tailnet.policy
    # An invalid grant file grants nothing and turns the run red, but never stops revocation or pruning.
    assert apply.result == ("failure" if broken else "success"), apply.log()
    assert prune.result == "success", prune.log()
    files = world.origin_files()
    assert "policy/grants/prod/carol.yaml" not in files, "pruned on main"
    assert "policy/grants/prod/erin.yaml" in files
    assert ("policy/grants/prod/broken.yaml" in files) is broken, "an invalid file is never pruned"
    assert "Prune" in git("log", "-1", "--format=%s", "main", cwd=world.origin)


def test_break_glass_runs_apply_force_in_its_environment_only_when_asked(world: World) -> None:
    _expired_on_main(world, {})
    world.tailnet.set_policy(world.tailnet.policy.replace(b'"group:prod": [', b'"group:prod": ["mallory@example.com",'))
    sha = world.main_sha()
    dispatch: dict[str, Any] = {"inputs": {"force": True}}
    result = world.runner.run(workflow("reconcile.yml"), "workflow_dispatch", dispatch, vars=APPLY_VARS,
                              inputs={"force": True}, sha=sha)
    assert result["apply"].result == "skipped" and result["prune"].result == "skipped"
    force = result["force"]
    assert force.result == "success", force.log()
    assert force.environment == "break-glass"
    assert b"mallory@example.com" not in world.tailnet.policy and b"carol@example.com" not in world.tailnet.policy
