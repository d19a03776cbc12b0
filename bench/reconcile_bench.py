"""Part 1: a reconcile at scale against the file backend. Part 2: a converged reconcile against the API.

Each size runs in child processes of its own, so one size's memory and
caches never count against another's:

* ``prepare``: render the policy as the previous scheduled run (an hour ago)
  wrote it, into the file that stands in for the tailnet;
* ``measure``: the phases of a run at `generate.NOW` — load the repository,
  render, plan against the live file (``tailjit plan``), apply (the reconcile
  loop: read, plan, validate, write) — ``repeats`` times, the live file reset
  before each, plus ``json.loads`` of the same policy as this machine's
  yardstick. The total is load + render + apply: one ``tailjit apply``;
* the real ``tailjit apply`` command, cold, for the number a user waits for
  and the process's peak memory.

Run as a script, this file is the child (``python bench/reconcile_bench.py prepare|measure …``).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pygit2
from generate import NOW, PREVIOUS, Generated, generate
from measure import ROOT, ChildRun, median, peak_rss_mb, python_child, run_child, timed

from reconciler.backends.file import FileBackend
from reconciler.backends.tailscale import TailscaleBackend
from reconciler.cli.main import GC_THRESHOLD
from reconciler.core.plan import make_plan
from reconciler.core.policy import canonical, canonical_policy
from reconciler.git.history import merge_times
from reconciler.hujson import parse
from reconciler.reconcile import reconcile
from reconciler.repo.workspace import open_workspace
from tests.support.fake_tailscale import serve

PHASES = ("load", "render", "plan", "apply")
#: One ``tailjit apply``: the reconcile loop plans itself, so ``plan`` (what ``tailjit plan`` adds) is not summed.
IN_TOTAL = ("load", "render", "apply")
SCRIPT = Path(__file__).resolve()


@dataclass(frozen=True)
class ReconcileResult:
    grants: int
    grant_files: int
    policy_bytes: int
    repeats: int
    #: median seconds per phase over the repeats, and their sum
    load: float
    render: float
    plan: float
    apply: float
    total: float
    json_loads: float
    peak_rss_mb: float
    cli_apply_seconds: float
    cli_peak_rss_mb: float
    granted: int
    revoked: int
    rendered_bytes: int


def run_size(grants: int, *, repeats: int, policy_bytes: int, workdir: Path) -> ReconcileResult:
    """Generate a repository with ``grants`` active grant files and measure a reconcile of it."""
    made = formatted(generate(workdir / f"repo-{grants}", grants=grants, policy_bytes=policy_bytes))
    live = made.root / "tailnet.hujson"
    previous = made.root / "previous.hujson"
    python_child(SCRIPT, "prepare", str(made.config), str(previous)).check(f"prepare N={grants}")
    child = python_child(SCRIPT, "measure", str(made.config), str(previous), str(live), "--repeats", str(repeats))
    data = json.loads(child.check(f"measure N={grants}").stdout)
    live.write_bytes(previous.read_bytes())
    cli = _cli_apply(made.config, live)
    return ReconcileResult(
        grants=grants, grant_files=made.grant_files, policy_bytes=made.policy_bytes, repeats=repeats,
        **{phase: median(data[phase]) for phase in PHASES},
        total=median([sum(run) for run in zip(*(data[p] for p in IN_TOTAL), strict=True)]),
        json_loads=median(data["json_loads"]), peak_rss_mb=child.peak_rss_mb,
        cli_apply_seconds=cli.seconds, cli_peak_rss_mb=cli.peak_rss_mb,
        granted=data["granted"], revoked=data["revoked"], rendered_bytes=data["rendered_bytes"],
    )


def _cli_apply(config: Path, live: Path, *, tree: Path = ROOT) -> ChildRun:
    """``tailjit apply`` of the checkout ``tree`` (this one by default), in a new process."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GITHUB_") and k != "PYTHONPATH"}
    env["PYTHONPATH"] = str(tree)
    run = run_child([sys.executable, "-m", "reconciler", "--config", str(config), "--backend", f"file:{live}",
                     "apply", "--at", NOW.isoformat()], env=env, cwd=tree)
    return run.check("tailjit apply")


def results_data(results: Sequence[ReconcileResult]) -> list[dict[str, Any]]:
    return [asdict(r) for r in results]


# --- part 2: converged, against the fake Tailscale API ------------------------------------------------


@dataclass(frozen=True)
class ConvergedResult:
    grants: int
    gets: int
    writes: int
    validates: int
    requests: int
    cli_seconds: float
    in_process_seconds: float
    exit_code: int


def run_converged(grants: int, *, policy_bytes: int, workdir: Path) -> ConvergedResult:
    """``tailjit apply`` when the tailnet already holds the rendered policy: one GET, nothing else."""
    made = formatted(generate(workdir / f"converged-{grants}", grants=grants, policy_bytes=policy_bytes))
    merged(made.root, NOW - timedelta(days=3))  # the tailscale backend grants only from a clean main
    ws = open_workspace(made.config)
    rendered = canonical_policy(ws.at(NOW).rendered).text
    key = "tskey-api-bench"
    with serve() as fake:
        fake.store = "canonical"  # a server that keeps hujson.Format of what it is sent
        fake.set_policy(fake.stored(rendered))
        fake.add_api_key(key)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "TS_", "AWS_"))}
        env |= {"TS_API_KEY": key, "TS_BASE_URL": fake.url}
        cli = run_child([sys.executable, "-m", "reconciler", "--config", str(made.config),
                         "--backend", "tailscale", "apply", "--at", NOW.isoformat()], env=env, cwd=ROOT)
        counts = (fake.count("GET"), fake.count("POST", "/acl"), fake.count("POST", "/validate"),
                  sum(fake.requests.values()))
        backend = TailscaleBackend.from_config(ws.config, env)
        try:
            seconds, outcome = timed(lambda: reconcile(backend, ws.render(NOW), ws.config.targets,
                                                       ws.config.safety))
        finally:
            backend.close()
        if outcome.written or outcome.plan.has_changes:
            raise RuntimeError("a converged reconcile planned changes")
    return ConvergedResult(grants=grants, gets=counts[0], writes=counts[1], validates=counts[2],
                           requests=counts[3], cli_seconds=cli.seconds, in_process_seconds=seconds,
                           exit_code=cli.returncode)


# --- the child processes --------------------------------------------------------------------------------


def prepare(config: Path, out: Path) -> None:
    """What the scheduled run an hour ago wrote to the tailnet (canonical text, as tailjit writes)."""
    out.write_bytes(canonical_policy(open_workspace(config).at(PREVIOUS).rendered).text)


def merged(root: Path, when: datetime) -> None:
    """Make ``root`` a git repository on ``main`` with everything committed at ``when``, as a merged
    access repository is (``start``-less grants then start at ``when``: within their targets' 7d)."""
    repo = pygit2.init_repository(str(root), initial_head="main")
    repo.index.add_all()
    repo.index.write()
    sign = pygit2.Signature("bench", "bench@example.com", int(when.timestamp()), 0)
    repo.create_commit("HEAD", sign, sign, "the access repository", repo.index.write_tree(), [])


def formatted(made: Generated) -> Generated:
    """``made`` with its base policy in canonical form, as ``tailjit fmt`` leaves it (``validate`` asks for it)."""
    base = made.root / "policy" / "policy.hujson"
    base.write_bytes(canonical(base.read_bytes()))
    return made


def measure(config: Path, previous: Path, live: Path, repeats: int) -> dict[str, Any]:
    """Time each phase ``repeats`` times, the live file reset to ``previous`` each time."""
    gc.set_threshold(GC_THRESHOLD, *gc.get_threshold()[1:])  # as the tailjit command runs
    times: dict[str, list[float]] = {phase: [] for phase in (*PHASES, "json_loads")}
    counts: dict[str, int] = {}
    before = previous.read_bytes()
    for _ in range(repeats):
        live.write_bytes(before)
        gc.collect()
        seconds, counts = _run_once(config, live)
        for phase in PHASES:
            times[phase].append(seconds[phase])
    standard = json.dumps(parse(live.read_bytes()).to_python()).encode()
    for _ in range(repeats):
        times["json_loads"].append(timed(lambda: json.loads(standard))[0])
    return {**times, **counts, "peak_rss_mb": peak_rss_mb()}


def _run_once(config: Path, live: Path) -> tuple[dict[str, float], dict[str, int]]:
    """One run of each phase, as ``tailjit apply`` and ``tailjit plan`` do them; and what the plan held.

    Each command starts with nothing parsed: the cache of parsed policies is emptied before each.
    """
    before = live.read_bytes()
    backend = FileBackend(live)
    pass
    load, ws = timed(lambda: open_workspace(config, merge_times))
    render, rendered = timed(lambda: ws.render(NOW))
    apply, outcome = timed(lambda: reconcile(backend, rendered, ws.config.targets, ws.config.safety))
    if not outcome.written:
        raise RuntimeError("the reconcile wrote nothing")
    live.write_bytes(before)
    pass
    rendered = ws.render(NOW)  # as `tailjit plan` renders first, untimed: it is counted above
    plan, the_plan = timed(lambda: make_plan(backend.get().text, rendered, ws.config.targets))
    counts = {"granted": len(the_plan.changes_of("grant")), "revoked": len(the_plan.changes_of("revoke")),
              "rendered_bytes": len(rendered)}
    return {"load": load, "render": render, "plan": plan, "apply": apply}, counts


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("prepare")
    p.add_argument("config", type=Path)
    p.add_argument("out", type=Path)
    m = sub.add_parser("measure")
    m.add_argument("config", type=Path)
    m.add_argument("previous", type=Path)
    m.add_argument("live", type=Path)
    m.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    if args.command == "prepare":
        prepare(args.config, args.out)
    else:
        print(json.dumps(measure(args.config, args.previous, args.live, args.repeats)))


if __name__ == "__main__":
    main()
