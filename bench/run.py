"""tailjit benchmarks at a large company's scale: ``python bench/run.py [--quick]``.

Four parts, each written to ``<out>/<part>.json`` and printed as a table:

1. reconcile — a 1 MiB base policy, 100 targets and N active grant files
   (1,000 / 10,000 / 50,000): load + render + plan + apply against the file
   backend, and the peak memory of each size's own process;
2. converged — ``tailjit apply`` when the tailnet already holds the desired
   policy, against the fake Tailscale API: the requests made and the time;
3. git — merge times of 2,000 grant files in a 10,000-commit history,
   ``tailjit status`` and ``tailjit audit``;
4. hujson — parse, format and patch against ``json.loads``, json5 and json-five;
5. history — one pull request per grant (1,000 and 10,000 grants, and 100,000 commits): merge times
   cold and with the record of the previous run, against ``git rev-list --first-parent --count``; audit
   over 10,000 grants merged and pruned;
6. process — the ``tailjit`` program started cold: ``apply`` at 10,000 and 100,000 grants, ``--help``.

A full run also draws ``bench/scaling.png`` and ``bench/history.png`` and writes ``bench/RESULTS.md``;
``--report`` with some ``--parts`` takes the other parts from the JSON an earlier run left in ``--out``.
``--quick`` runs every part at a small size, so CI can keep the benchmarks working;
its timings mean nothing.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from measure import BENCH, ROOT, best_of, machine, python_child

sys.path.insert(0, str(ROOT))  # tests.support: the fake Tailscale API and the git repository builder

import generate
import git_bench
import history_bench
import hujson_bench
import reconcile_bench
from report import Check, checks, markdown, plot, plot_history

from reconciler import hujson

PARTS = ("reconcile", "converged", "git", "hujson", "history", "process")


@dataclass(frozen=True)
class Sizes:
    grants: tuple[int, ...]
    repeats: int
    policy_bytes: int
    converged_grants: int
    commits: int
    git_grants: int
    quick: bool
    #: pull requests of the one-merge-per-grant histories (two commits each)
    history: tuple[int, ...] = (1_000, 10_000, 50_000)
    audit_grants: int = 10_000
    #: (grant files, base policy bytes) of the cold ``tailjit apply`` runs
    process: tuple[tuple[int, int], ...] = ((10_000, 1 << 20), (100_000, 10 << 20))


FULL = Sizes(grants=(1_000, 10_000, 50_000), repeats=3, policy_bytes=1 << 20, converged_grants=10_000,
             commits=10_000, git_grants=2_000, quick=False)
QUICK = Sizes(grants=(100, 300), repeats=1, policy_bytes=64 << 10, converged_grants=100, commits=300,
              git_grants=50, quick=True, history=(100,), audit_grants=200, process=((100, 64 << 10),))


def run_part(part: str, sizes: Sizes, workdir: Path, log: Callable[[str], None],
             baseline_tree: Path | None = None) -> Any:
    if part == "reconcile":
        results = []
        for n in sizes.grants:
            log(f"reconcile: N={n:,}")
            results.append(reconcile_bench.run_size(n, repeats=sizes.repeats, policy_bytes=sizes.policy_bytes,
                                                    workdir=workdir))
        return reconcile_bench.results_data(results)
    if part == "converged":
        log(f"converged: N={sizes.converged_grants:,}")
        result = reconcile_bench.run_converged(sizes.converged_grants, policy_bytes=sizes.policy_bytes,
                                               workdir=workdir)
        return asdict(result)
    if part == "git":
        log(f"git: {sizes.git_grants:,} grant files, {sizes.commits:,} commits")
        return git_bench.run(commits=sizes.commits, grants=sizes.git_grants, workdir=workdir)
    if part == "history":
        log(f"history: {', '.join(f'{n:,}' for n in sizes.history)} pull requests; audit of "
            f"{sizes.audit_grants:,}")
        return history_bench.run_history(list(sizes.history), workdir, sizes.repeats, sizes.audit_grants)
    if part == "process":
        log("process: " + ", ".join(f"{n:,} grants" for n, _ in sizes.process))
        return history_bench.run_process(list(sizes.process), workdir, sizes.repeats, baseline_tree)
    log("hujson")
    return hujson_part(sizes)


def hujson_part(sizes: Sizes) -> dict[str, Any]:
    """The HuJSON engine's own benchmark (a child process: it juggles two packages named json5), plus
    parsing one large policy — the generated base policy — against ``json.loads`` of the same data."""
    python_child(BENCH / "hujson_bench.py").check("bench/hujson_bench.py")
    found: dict[str, Any] = json.loads(hujson_bench.RESULTS.read_text())
    policy = generate.base_policy(generate.target_names(100), generate.users(5000), sizes.policy_bytes,
                                  random.Random(1)).encode()
    standard = json.dumps(hujson.parse(policy).to_python()).encode()
    parse = best_of(5, lambda: hujson.parse(policy))
    loads = best_of(5, lambda: json.loads(standard))
    found["large_policy"] = {"bytes": len(policy), "hujson parse": parse, "json.loads": loads,
                             "ratio": parse / loads}
    return found


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small sizes, for CI: checks the bench still runs")
    parser.add_argument("--out", type=Path, default=BENCH / "results", help="where the JSON results go")
    parser.add_argument("--parts", default=",".join(PARTS), help=f"comma-separated subset of {','.join(PARTS)}")
    parser.add_argument("--report", action="store_true",
                        help="write bench/scaling.png and bench/RESULTS.md (the default for a full run of all parts)")
    parser.add_argument("--baseline", type=Path, metavar="DIR",
                        help="an earlier run's results folder: its reconcile times are shown beside this run's")
    parser.add_argument("--baseline-label", default="the baseline run",
                        help="what the baseline was, for the report (e.g. 'the code before commit abc123')")
    parser.add_argument("--process-baseline", type=Path, metavar="CHECKOUT",
                        help="another checkout of tailjit: the process part runs its apply on the same files, "
                             "alternately, and reports the ratio")
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else FULL
    parts = [p for p in args.parts.split(",") if p]
    unknown = sorted(set(parts) - set(PARTS))
    if unknown:
        parser.error(f"unknown part(s): {', '.join(unknown)}")
    args.out.mkdir(parents=True, exist_ok=True)
    about = {**machine(), "mode": "quick" if sizes.quick else "full"}
    found: dict[str, Any] = {}

    def log(message: str) -> None:
        print(f"… {message}", file=sys.stderr, flush=True)

    with tempfile.TemporaryDirectory(prefix="tailjit-bench-") as tmp:
        for part in parts:
            found[part] = run_part(part, sizes, Path(tmp), log, args.process_baseline)
            (args.out / f"{part}.json").write_text(json.dumps({"machine": about, "results": found[part]}, indent=2)
                                                    + "\n")
    if args.report:  # the parts not run this time, as an earlier run left them
        for part in PARTS:
            earlier = args.out / f"{part}.json"
            if part not in found and earlier.exists():
                found[part] = json.loads(earlier.read_text())["results"]
    found = {part: found[part] for part in PARTS if part in found}
    verdicts: list[Check] = checks(found, quick=sizes.quick)
    summary = {"machine": about, "checks": [c.data for c in verdicts]}
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    baseline = None
    if args.baseline is not None:
        baseline = (args.baseline_label, json.loads((args.baseline / "reconcile.json").read_text())["results"])
    text = markdown(about, found, verdicts, baseline)
    print(text)
    if args.report or (not sizes.quick and set(parts) == set(PARTS)):
        if "reconcile" in found:
            plot(found["reconcile"], BENCH / "scaling.png")
        if "history" in found:
            plot_history(found["history"]["sizes"], BENCH / "history.png")
        (BENCH / "RESULTS.md").write_text(text)
    return 0 if all(c.passed is not False for c in verdicts) else 1


if __name__ == "__main__":
    sys.exit(main())
