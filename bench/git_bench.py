"""Merge times, ``tailjit status`` and ``tailjit audit`` on a long history: ``python bench/git_bench.py [--quick]``.

Builds a real repository (pygit2, in memory, at fixed times) whose main has
``commits`` commits and ends with ``grants`` grant files in 100 target
folders: grants added by squash merges and by merge commits of request
branches, later edited, renamed, and pruned in batches, between commits
that touch other files. Then it times, in this process:

* ``merge_times`` — the one first-parent walk that diffs only the commits
  where the grants folder changed (what every tailjit command runs);
* the naive walk it replaced — each commit's tree asked for each file still
  pending — as the baseline, with the ratio between the two;
* ``tailjit status --json`` and ``tailjit audit --format json``.

The merge times found are checked against the times the builder used.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import pygit2  # noqa: E402

from reconciler.cli.main import main as tailjit  # noqa: E402
from reconciler.core.grants import Grant  # noqa: E402
from reconciler.git.history import merge_times  # noqa: E402
from tests.support.gitutil import BOB, BOT, CAROL, GITHUB, RepoBuilder, grant_yaml  # noqa: E402

TARGETS = 100
START = datetime(2025, 1, 1, tzinfo=UTC)
STEP = timedelta(minutes=17)
G = "policy/grants"


@dataclass
class History:
    """What the builder made: commit count, and each live grant's path → the time it was first merged."""

    commits: int = 0
    births: dict[str, datetime] = field(default_factory=dict)
    renamed: set[str] = field(default_factory=set)
    build_seconds: float = 0.0
    pack_seconds: float = 0.0


def config_text() -> str:
    lines = ["tailnet: '-'", "backend: file:tailnet.hujson", "targets:"]
    for t in range(TARGETS):
        lines += [f"  t{t:03}:", f"    group: group:t{t:03}", "    max_duration: 8h",
                  f"    approvers: ['@acme/team-{t:03}']"]
    return "\n".join(lines) + "\n"


def policy_text() -> str:
    groups = ",\n".join(f'\t\t"group:t{t:03}": []' for t in range(TARGETS))
    return "{\n\t\"groups\": {\n" + groups + ",\n\t},\n\t\"acls\": [],\n}\n"


def build(where: Path, commits: int, grants: int, seed: int = 7) -> tuple[RepoBuilder, History]:
    """A working copy whose main has about ``commits`` commits and ``grants`` grant files at its tip."""
    rng = random.Random(seed)
    b = RepoBuilder.init(where)
    made = History()
    started = time.perf_counter()
    when = START

    def commit(changes: dict[str, str | None], **kw: Any) -> None:
        nonlocal when
        when += STEP
        b.commit(changes, when, write_ref=False, **kw)
        made.commits += 1

    commit({"policy/tailjit.yaml": config_text(), "policy/policy.hujson": policy_text()}, author=CAROL)
    adds = grants + grants // 2  # a third of them are pruned again
    added = 0
    doomed: list[str] = []
    while made.commits < commits - 1 or added < adds:
        slot = made.commits
        keep = [p for p in made.births if p not in doomed]
        if added < adds and (slot % 3 == 0 or commits - made.commits <= 2 * (adds - added)):
            target = f"t{added % TARGETS:03}"
            path = f"{G}/{target}/user{added}.yaml"
            text = grant_yaml(f"user{added}@example.com", target, reason=f"Request {added}")
            if added % 4 == 0:  # a request branch, merged with a merge commit
                branch = f"access/{target}/user{added}"
                b.commit({path: text}, when, author=BOB, branch=branch, parents=[b.tip()], write_ref=False)
                when += STEP
                b.merge(branch, when, author=CAROL, committer=GITHUB)
                made.commits += 1
            else:  # a squash merge
                commit({path: text}, author=BOB, committer=GITHUB)
            made.births[path] = when
            if added % 3 == 0:
                doomed.append(path)
            added += 1
        elif slot % 50 == 0 and doomed:
            batch, doomed = doomed[:10], doomed[10:]
            commit(dict.fromkeys(batch))
            for path in batch:
                del made.births[path]
        elif slot % 7 == 0 and keep:
            path = rng.choice(keep)
            commit({path: grant_yaml("someone@example.com", path.split("/")[-2], reason=f"Edited at {slot}")})
        elif slot % 29 == 0 and keep:
            path = rng.choice(keep)
            moved = path.replace(".yaml", f"-moved{slot}.yaml")
            content = b.repo[b.tip()].peel(pygit2.Tree)[path].peel(pygit2.Blob).data
            commit({path: None, moved: content.decode()})
            made.births[moved] = made.births.pop(path)
            made.renamed.add(moved)
        else:
            commit({"README.md": f"commit {slot}\n"})
    if doomed:  # prune the rest, so that the tip has exactly ``grants`` files
        commit(dict.fromkeys(doomed))
        for path in doomed:
            del made.births[path]
    b.checkout()
    made.build_seconds = time.perf_counter() - started
    started = time.perf_counter()
    b.pack()
    made.pack_seconds = time.perf_counter() - started
    return b, made


def build_merged(where: Path, grants: int, *, prune_every: int = 0,
                 start: datetime = START) -> tuple[RepoBuilder, dict[str, datetime]]:
    """One pull request per grant, as a team works: each grant file added on its own branch and merged to main
    by a merge commit (two commits per grant). With ``prune_every``, a prune commit after every that many merges
    deletes the files merged before the previous prune (expired by then), as the scheduled workflow does.

    Returns the builder (HEAD checked out, objects packed by ``git repack`` as a clone's are, or by libgit2
    where git is missing) and each grant still present's merge time."""
    b = RepoBuilder.init(where)
    when = start
    b.commit({"policy/tailjit.yaml": config_text(), "policy/policy.hujson": policy_text()}, when, author=CAROL,
             write_ref=False)
    births: dict[str, datetime] = {}
    since_prune: list[str] = []
    expired: list[str] = []
    for n in range(grants):
        when += 2 * STEP
        path = merge_one(b, n, when - STEP)
        births[path] = when
        since_prune.append(path)
        if prune_every and len(since_prune) == prune_every:
            if expired:
                when += STEP
                b.commit(dict.fromkeys(expired), when, author=BOT, write_ref=False)
                for gone in expired:
                    del births[gone]
            expired, since_prune = since_prune, []
    b.checkout()
    pack(b)
    return b, births


def merge_one(b: RepoBuilder, n: int, when: datetime) -> str:
    """Grant ``n`` requested on a branch at ``when`` and merged (GitHub as committer) one step later: its path."""
    target = f"t{n % TARGETS:03}"
    path = f"{G}/{target}/user{n}.yaml"
    side = b.commit({path: grant_yaml(f"user{n}@example.com", target, reason=f"Request {n}")}, when, author=BOB,
                    branch="request", parents=[b.tip()], write_ref=False)
    tree = b.repo[side].peel(pygit2.Commit).tree_id
    b.tips["main"] = b.repo.create_commit(None, CAROL.sign(when + STEP), GITHUB.sign(when + STEP),
                                          f"Merge pull request #{n + 1} from acme/request", tree, [b.tip(), side])
    return path


def pack(b: RepoBuilder) -> None:
    """Pack the repository as a clone leaves it: by git itself if installed, else by libgit2."""
    git = shutil.which("git")
    if git is None:
        b.pack()
        return
    b.write_refs()
    subprocess.run([git, "-C", b.repo.path, "repack", "-a", "-d", "-f", "-q"], check=True)
    subprocess.run([git, "-C", b.repo.path, "prune-packed"], check=True)
    b.repo = pygit2.Repository(b.repo.path)


def naive_merge_times(root: Path, grants: list[Grant]) -> dict[str, datetime]:
    """The walk merge_times replaced: every pending file looked up in every commit's tree."""
    repo = pygit2.Repository(str(root))
    found: dict[str, datetime] = {}
    commit: pygit2.Commit | None = repo.head.peel(pygit2.Commit)
    pending = {g.path for g in grants}
    while commit is not None and pending:
        parent = commit.parents[0] if commit.parents else None
        for path in list(pending):
            if not _has(commit.tree, path):
                pending.discard(path)
            elif parent is None or not _has(parent.tree, path):
                pending.discard(path)
                found[path] = datetime.fromtimestamp(commit.commit_time, UTC)
        commit = parent
    return found


def _has(tree: pygit2.Tree, path: str) -> bool:
    try:
        tree[path]
    except KeyError:
        return False
    return True


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def quiet_cli(*args: str) -> float:
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        seconds, code = timed(lambda: tailjit(list(args)))
    if code != 0:
        raise RuntimeError(f"tailjit {' '.join(args)} exited {code}")
    return float(seconds)


def run(*, commits: int, grants: int, workdir: Path) -> dict[str, Any]:
    # Build and pack in memory where the machine has a tmpfs (tens of thousands of loose objects are
    # slow on a busy disk), then measure on a copy in ``workdir``: one pack, as a clone leaves it.
    shm = Path("/dev/shm")
    with tempfile.TemporaryDirectory(dir=shm if shm.is_dir() and os.access(shm, os.W_OK) else None) as scratch:
        _, made = build(Path(scratch) / "repo", commits, grants)
        root = workdir / "git-bench"
        shutil.copytree(Path(scratch) / "repo", root, symlinks=True)
    wanted = [Grant(path=p, user="x@example.com", target=p.split("/")[-2], reason="r") for p in made.births]
    walk_seconds, found = timed(lambda: merge_times(root, wanted, now=datetime.now(UTC)))
    if dict(found) != made.births:
        raise AssertionError("merge_times disagrees with the history the builder made")
    naive_seconds, naive = timed(lambda: naive_merge_times(root, wanted))
    if {p: t for p, t in naive.items() if p not in made.renamed} != {
            p: t for p, t in made.births.items() if p not in made.renamed}:
        raise AssertionError("the naive walk disagrees on files never renamed")
    config = str(root / "policy" / "tailjit.yaml")
    status_seconds = quiet_cli("--config", config, "status", "--json")
    audit_seconds = quiet_cli("--config", config, "audit", "--format", "json")
    return {
        "description": (f"A {made.commits:,}-commit main with {len(made.births):,} grant files at its tip in "
                        f"{TARGETS} folders (added by squash and merge commits, edited, renamed, pruned), built in "
                        f"{made.build_seconds:.1f} s and packed in {made.pack_seconds:.1f} s. merge_times walked "
                        f"{found.stats.commits:,} commits and diffed {found.stats.diffs:,}; the naive per-file "
                        f"walk it replaced took {naive_seconds:.2f} s, "
                        f"{naive_seconds / walk_seconds:.1f}× as long (and dates a renamed file from its rename)."),
        "timings": {"merge_times (one walk)": walk_seconds, "tailjit status": status_seconds,
                    "tailjit audit": audit_seconds},
        "baseline": {"naive per-file walk": naive_seconds, "ratio": naive_seconds / walk_seconds},
        "commits": made.commits, "grants": len(made.births), "build_seconds": made.build_seconds,
        "pack_seconds": made.pack_seconds,
        "walked": found.stats.commits, "diffed": found.stats.diffs,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="1,000 commits and 200 grant files")
    parser.add_argument("--commits", type=int, default=None)
    parser.add_argument("--grants", type=int, default=None)
    args = parser.parse_args(argv)
    commits = args.commits or (1_000 if args.quick else 10_000)
    grants = args.grants or (200 if args.quick else 2_000)
    with tempfile.TemporaryDirectory(prefix="tailjit-git-bench-") as tmp:
        result = run(commits=commits, grants=grants, workdir=Path(tmp))
    print(result["description"])
    for name, seconds in result["timings"].items():
        print(f"  {name:<24} {seconds:8.3f} s")
    print(f"  {'naive per-file walk':<24} {result['baseline']['naive per-file walk']:8.3f} s  "
          f"({result['baseline']['ratio']:.1f}× merge_times)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
