"""Start-up time of ``tailjit --help``, as a ratio to ``python -c pass`` measured in the same run.

Each command runs ``--runs`` times, interleaved (one of each in turn, so that a busy machine slows all of
them alike), and the median is kept. Also measured: importing rich's console and progress bar, the
library a terminal UI would otherwise bring in, to show what choosing click's own styling saved.

    python bench/startup.py                          # this checkout
    python bench/startup.py --tree /path/to/other    # also another checkout (e.g. before a change)
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def timed(argv: Sequence[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - start


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--tree", action="append", default=[], type=Path,
                        help="another checkout to measure tailjit --help in (repeatable)")
    args = parser.parse_args(argv)
    base = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    commands: dict[str, tuple[list[str], dict[str, str]]] = {
        "python -c pass": ([sys.executable, "-c", "pass"], base),
        f"tailjit --help ({ROOT.name})": ([sys.executable, "-m", "reconciler", "--help"],
                                          {**base, "PYTHONPATH": str(ROOT)}),
    }
    for tree in args.tree:
        commands[f"tailjit --help ({tree.name})"] = ([sys.executable, "-m", "reconciler", "--help"],
                                                     {**base, "PYTHONPATH": str(tree.resolve())})
    commands["import rich.console, rich.progress"] = (
        [sys.executable, "-c", "import rich.console, rich.progress"], base)
    samples: dict[str, list[float]] = {name: [] for name in commands}
    for command, env in commands.values():  # one warm-up each: the first run fills the OS file cache
        timed(command, env)
    for _ in range(args.runs):
        for name, (command, env) in commands.items():
            samples[name].append(timed(command, env))
    baseline = statistics.median(samples["python -c pass"])
    print(f"{'command':<45} {'median':>9} {'ratio':>7}   ({args.runs} runs each, interleaved)")
    for name, times in samples.items():
        median = statistics.median(times)
        print(f"{name:<45} {median * 1000:>7.1f}ms {median / baseline:>6.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
