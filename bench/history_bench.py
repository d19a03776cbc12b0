"""Merge times and audit over one-pull-request-per-grant histories; the tailjit process itself.

History part — for each size, a real repository where every grant is its own pull request (a branch
commit and a merge commit, `git_bench.build_merged`), packed by ``git repack`` as a clone is:

* cold: ``merge_times`` with no record in ``.tailjit/`` (the full first-parent walk);
* warm: one more pull request merged since the record was written (a scheduled run's usual case);
* the baseline, in the same run: ``git rev-list --first-parent --count HEAD`` over the same history;
* ``tailjit audit`` over 10,000 grants merged and pruned, in full and with ``--since`` the last day.

Process part — the real ``tailjit`` program started cold (``python -m reconciler``): ``apply`` at
10,000 grants (1 MiB base) and 100,000 grants (10 MiB base), and ``--help`` against ``python -c pass``.
The package is byte-compiled first, as pip leaves an installed tool.
"""

from __future__ import annotations

import compileall
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import git_bench
import pygit2
import reconcile_bench
from generate import generate
from measure import ROOT, python_child, run_child

from reconciler.core.grants import Grant
from reconciler.git import audit, cache
from reconciler.git.history import merge_times
from reconciler.repo.config import load_config

SHM = Path("/dev/shm")
#: 50,000 pull requests 17 minutes apart take three years: start early enough that none is in the future.
START = datetime(2020, 1, 1, tzinfo=UTC)


def best(repeats: int, fn: Callable[[], Any]) -> tuple[float, Any]:
    """The fastest of ``repeats`` runs (the machine is shared: the minimum is the least disturbed) and a result."""
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return min(times), result


def rev_list_seconds(root: Path, repeats: int) -> tuple[float, int]:
    git = shutil.which("git")
    if git is None:
        raise RuntimeError("the history benchmark compares with git rev-list: install git")
    seconds, out = best(repeats, lambda: subprocess.run([git, "-C", str(root), "rev-list", "--first-parent",
                                                        "--count", "HEAD"], check=True, capture_output=True,
                                                       text=True).stdout)
    return seconds, int(out)


def history_size(grants: int, workdir: Path, repeats: int, label: str) -> dict[str, Any]:
    """Cold and warm merge times over ``grants`` one-merge pull requests."""
    with tempfile.TemporaryDirectory(dir=SHM if SHM.is_dir() else None) as scratch:
        started = time.perf_counter()
        b, births = git_bench.build_merged(Path(scratch) / "repo", grants, start=START)
        built = time.perf_counter() - started
        root = workdir / f"history-{grants}"
        shutil.copytree(Path(scratch) / "repo", root, symlinks=True)
    state = root / ".tailjit"
    wanted = [Grant(path=p.removeprefix("policy/"), user="x@example.com", target=p.split("/")[-2], reason="r")
              for p in births]
    now = datetime.now(UTC)
    config_root = root / "policy"

    def cold() -> Any:
        shutil.rmtree(state, ignore_errors=True)
        return merge_times(config_root, wanted, now=now, state=state)

    cold_seconds, found = best(repeats if grants <= 10_000 else 1, cold)
    if dict(found) != {p.removeprefix("policy/"): t for p, t in births.items()}:
        raise AssertionError("merge_times disagrees with the history the builder made")
    walked = found.stats
    git_seconds, first_parent = rev_list_seconds(root, repeats)
    total_commits = int(subprocess.run(["git", "-C", str(root), "rev-list", "--count", "HEAD"], check=True,
                                       capture_output=True, text=True).stdout)
    # Warm: the record of the tip, then one more request merged, as the next scheduled run finds it.
    cold()
    record = (state / cache.NAME).read_bytes()
    repo = pygit2.Repository(str(root))
    b.repo = repo
    b.tips.clear()
    last = max(births.values())
    path = git_bench.merge_one(b, grants, last + timedelta(minutes=17))
    b.checkout()
    wanted.append(Grant(path=path.removeprefix("policy/"), user="x@example.com", target=path.split("/")[-2],
                        reason="r"))

    def warm() -> Any:
        (state / cache.NAME).write_bytes(record)
        return merge_times(config_root, wanted, now=now, state=state)

    warm_seconds, again = best(repeats, warm)
    if not again.stats.resumed or len(again) != grants + 1:
        raise AssertionError("the warm run did not resume from the record")
    shutil.rmtree(root)
    return {"label": label, "grants": grants, "commits": total_commits, "first_parent": first_parent,
            "build_seconds": built, "cold": cold_seconds, "warm": warm_seconds, "rev_list": git_seconds,
            "cold_over_rev_list": cold_seconds / git_seconds, "walked": walked.commits, "trees": walked.trees,
            "warm_walked": again.stats.commits, "record_bytes": len(record)}


def audit_part(grants: int, workdir: Path, repeats: int) -> dict[str, Any]:
    """``audit`` over ``grants`` requests merged and pruned (a prune commit after every 100 merges)."""
    with tempfile.TemporaryDirectory(dir=SHM if SHM.is_dir() else None) as scratch:
        _, births = git_bench.build_merged(Path(scratch) / "repo", grants, prune_every=100, start=START)
        root = workdir / "audit"
        shutil.copytree(Path(scratch) / "repo", root, symlinks=True)
    config = load_config(root / "policy" / "tailjit.yaml")
    full_seconds, records = best(repeats, lambda: audit.history(config))
    removed = sum(1 for r in records if r.removed_at is not None)
    last_day = max(r.merged_at for r in records if r.merged_at is not None) - timedelta(days=1)
    since_seconds, recent = best(repeats, lambda: audit.since(audit.history(config, last_day), last_day))
    if recent != audit.since(records, last_day):
        raise AssertionError("audit --since disagrees with the full audit filtered")
    cli = python_child(Path(__file__), "audit-cli", str(root / "policy" / "tailjit.yaml"))
    shutil.rmtree(root)
    return {"grants": len(records), "removed": removed, "live": len(births), "full": full_seconds,
            "since": since_seconds, "since_records": len(recent), "cli": cli.check("tailjit audit").seconds}


def run_history(sizes: list[int], workdir: Path, repeats: int, audit_grants: int) -> dict[str, Any]:
    rows = [history_size(n, workdir, repeats, f"{n:,} pull requests") for n in sizes]
    return {"sizes": rows, "audit": audit_part(audit_grants, workdir, repeats)}


def run_process(grants: list[tuple[int, int]], workdir: Path, repeats: int,
                baseline: Path | None = None) -> dict[str, Any]:
    """``tailjit apply`` as a new process at each (grants, base policy bytes), and ``--help``. With
    ``baseline`` (another checkout of tailjit), its ``apply`` runs on the same files, alternately with this
    one's, so that the ratio of the two holds however loaded the machine is."""
    for tree in (ROOT, *([baseline] if baseline is not None else [])):
        # As pip leaves an installed tool: every module compiled (an environment with PYTHONDONTWRITEBYTECODE
        # would otherwise compile them all again in every process).
        compileall.compile_dir(tree / "reconciler", quiet=1)
    applies = []
    for n, size in grants:
        made = reconcile_bench.formatted(generate(workdir / f"process-{n}", grants=n, policy_bytes=size))
        live = made.root / "tailnet.hujson"
        previous = made.root / "previous.hujson"
        python_child(reconcile_bench.SCRIPT, "prepare", str(made.config), str(previous)).check(f"prepare N={n}")
        times, before = [], []
        for _ in range(repeats):
            live.write_bytes(previous.read_bytes())
            times.append(reconcile_bench._cli_apply(made.config, live).seconds)
            if baseline is not None:
                live.write_bytes(previous.read_bytes())
                before.append(reconcile_bench._cli_apply(made.config, live, tree=baseline).seconds)
        row = {"grants": n, "policy_bytes": made.policy_bytes, "apply": min(times),
               "apply_median": statistics.median(times)}
        if before:
            row |= {"baseline": min(before), "over_baseline": min(times) / min(before)}
        applies.append(row)
        shutil.rmtree(made.root)
    env = {"PYTHONPATH": str(ROOT)}
    passes = [run_child([sys.executable, "-c", "pass"], env=env).seconds for _ in range(max(5, repeats))]
    helps = [run_child([sys.executable, "-m", "reconciler", "--help"], env=env, cwd=ROOT).check("--help").seconds
             for _ in range(max(5, repeats))]
    return {"applies": applies, "python_pass": min(passes), "help": min(helps), "help_over_pass":
            min(helps) / min(passes)}


def _audit_cli(config: str) -> None:
    """The real command, in this child process: ``tailjit audit --format json`` (output discarded)."""
    from reconciler.cli.main import main

    sys.stdout = open("/dev/null", "w")  # noqa: SIM115 - the child exits right after
    sys.exit(main(["--config", config, "audit", "--format", "json"]))


if __name__ == "__main__":
    if sys.argv[1:2] == ["audit-cli"]:
        _audit_cli(sys.argv[2])
