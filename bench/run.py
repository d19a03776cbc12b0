"""tailjit benchmarks at a large company's scale: ``python bench/run.py [--quick]``.

Four parts, each written to ``<out>/<part>.json`` and printed as a table:

1. reconcile — a 1 MiB base policy, 100 targets and N active grant files
   (1,000 / 10,000 / 50,000): load + render + plan + apply against the file
   backend, and the peak memory of each size's own process;
2. converged — ``tailjit apply`` when the tailnet already holds the desired
   policy, against the fake Tailscale API: the requests made and the time;
3. git — merge times of 2,000 grant files in a 10,000-commit history,
   ``tailjit status`` and ``tailjit audit``;
4. hujson — parse, format and patch against ``json.loads``, json5 and json-five.

A full run also draws ``bench/scaling.png`` and writes ``bench/RESULTS.md``.
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
import hujson_bench
import reconcile_bench
from report import Check, checks, markdown, plot

from reconciler import hujson

PARTS = ("reconcile", "converged", "git", "hujson")


@dataclass(frozen=True)
class Sizes:
    grants: tuple[int, ...]
    repeats: int
    policy_bytes: int
    converged_grants: int
    commits: int
    git_grants: int
    quick: bool


FULL = Sizes(grants=(1_000, 10_000, 50_000), repeats=3, policy_bytes=1 << 20, converged_grants=10_000,
             commits=10_000, git_grants=2_000, quick=False)
QUICK = Sizes(grants=(100, 300), repeats=1, policy_bytes=64 << 10, converged_grants=100, commits=300,
              git_grants=50, quick=True)


def run_part(part: str, sizes: Sizes, workdir: Path, log: Callable[[str], None]) -> Any:
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
            found[part] = run_part(part, sizes, Path(tmp), log)
            (args.out / f"{part}.json").write_text(json.dumps({"machine": about, "results": found[part]}, indent=2)
                                                    + "\n")
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
        (BENCH / "RESULTS.md").write_text(text)
    return 0 if all(c.passed is not False for c in verdicts) else 1


if __name__ == "__main__":
    sys.exit(main())
