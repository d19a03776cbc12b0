"""Benchmark reconciler.hujson on the policy corpus against json.loads, json5 and json-five.

Run from the repository root: ``.venv/bin/python bench/hujson_bench.py``.
Every number is the best of several timed passes over the whole corpus (GC off while
timing, as timeit does), all measured in the same run so the ratios compare like
with like. Results go to stdout and to ``bench/results/hujson.json``.

json5 and json-five both install a top-level package named ``json5`` and overwrite
each other's ``parser.py``; whichever is broken in the venv is loaded from an
isolated copy instead when one exists (``pip install --target DIR json5`` /
``json-five``; DIR defaults to ``bench/results/json5-dpranke`` and
``bench/results/json-five``, or set ``HUJSON_BENCH_JSON5`` / ``HUJSON_BENCH_JSON_FIVE``).
"""

from __future__ import annotations

import gc
import importlib
import json
import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from reconciler import hujson  # noqa: E402 - after the path set-up above

CORPUS = ROOT.parent / "shared" / "corpus" / "policies"
RESULTS = ROOT / "bench" / "results" / "hujson.json"
# A tailjit-like edit: add a commented group, check it, take it out again.
PATCH = b"""[
    {"op": "add", "path": "/tailjitBench", "value": {
        // expires 2030-01-01
        "group:oncall": ["alice@example.com", "bob@example.com"],
    }},
    {"op": "test", "path": "/tailjitBench/group:oncall/1", "value": "bob@example.com"},
    {"op": "remove", "path": "/tailjitBench"},
]"""


def best_time(fn: Callable[[Any], object], setup: Callable[[], Any] = lambda: None, budget: float = 1.5,
              least: int = 3, most: int = 60) -> float:
    """Seconds for the fastest of at least ``least`` runs of ``fn(setup())``, repeating while
    within ``budget``; ``setup`` is not timed."""
    times: list[float] = []
    started = time.perf_counter()
    while len(times) < least or (len(times) < most and time.perf_counter() - started < budget):
        prepared = setup()
        gc.collect()
        gc.disable()
        try:
            t0 = time.perf_counter()
            fn(prepared)
            times.append(time.perf_counter() - t0)
        finally:
            gc.enable()
    return min(times)


def _import_isolated(module: str, directory: str) -> ModuleType | None:
    """Import ``module`` (a json5 flavour) from ``directory`` without disturbing sys.modules."""
    if not Path(directory, "json5").is_dir():
        return None
    saved = {k: m for k, m in sys.modules.items() if k == "json5" or k.startswith("json5.")}
    for k in saved:
        del sys.modules[k]
    sys.path.insert(0, directory)
    try:
        return importlib.import_module(module)
    finally:
        sys.path.remove(directory)
        for k in [k for k in sys.modules if k == "json5" or k.startswith("json5.")]:
            del sys.modules[k]
        sys.modules.update(saved)


def json5_round_trip() -> tuple[Callable[[str], str] | None, str]:
    """dpranke's json5: loads then dumps (comments are dropped)."""
    probe = '{a: 1, // c\n "b": [2,],}'
    for source in ("venv", os.environ.get("HUJSON_BENCH_JSON5", str(ROOT / "bench/results/json5-dpranke"))):
        try:
            lib = importlib.import_module("json5.lib") if source == "venv" else _import_isolated("json5.lib", source)
            if lib is None:
                continue
            loads, dumps = lib.loads, lib.dumps
            loads(probe)
        except Exception:  # a clashing install fails in many ways
            continue
        return (lambda text, loads=loads, dumps=dumps: str(dumps(loads(text)))), source
    return None, "json5 unavailable (pip install json5; see the module docstring)"


def json_five_round_trip() -> tuple[Callable[[str], str] | None, str]:
    """json-five with its model loader and dumper: a round trip that keeps comments."""
    probe = '{a: 1, // c\n "b": [2,],}'
    for source in ("venv", os.environ.get("HUJSON_BENCH_JSON_FIVE", str(ROOT / "bench/results/json-five"))):
        loader: ModuleType | None
        dumper: ModuleType | None
        try:
            if source == "venv":
                loader, dumper = importlib.import_module("json5.loader"), importlib.import_module("json5.dumper")
            else:
                loader = _import_isolated("json5.loader", source)
                dumper = _import_isolated("json5.dumper", source)
                if loader is None or dumper is None:
                    continue

            def round_trip(text: str, loader: Any = loader, dumper: Any = dumper) -> str:
                model = loader.loads(text, loader=loader.ModelLoader())
                return str(dumper.dumps(model, dumper=dumper.ModelDumper()))

            if round_trip(probe) != probe:
                continue
        except Exception:  # a clashing install fails in many ways
            continue
        return round_trip, source
    return None, "json-five unavailable (pip install json-five; see the module docstring)"


def main() -> int:
    files = [p.read_bytes() for p in sorted(CORPUS.glob("*.hujson"))]
    if not files:
        print(f"no corpus at {CORPUS}", file=sys.stderr)
        return 1
    texts = [b.decode("utf-8") for b in files]
    standard = [hujson.standardize(b) for b in files]
    parsed = [hujson.parse(b) for b in files]
    size = sum(map(len, files))

    def patch_all(docs: list[hujson.Value]) -> None:
        for value in docs:
            value.patch(PATCH)

    def fresh_copies() -> list[hujson.Value]:
        return [v.clone() for v in parsed]

    seconds: dict[str, float] = {
        "hujson parse+pack": best_time(lambda _: [hujson.parse(b).pack() for b in files]),
        "hujson parse": best_time(lambda _: [hujson.parse(b) for b in files]),
        "hujson format": best_time(lambda _: [hujson.format(b) for b in files]),
        "hujson patch": best_time(patch_all, fresh_copies),
        "json.loads": best_time(lambda _: [json.loads(s) for s in standard]),
    }
    sources: dict[str, str] = {}
    for label, (round_trip, source) in (("json5 round trip", json5_round_trip()),
                                        ("json-five round trip", json_five_round_trip())):
        sources[label] = source
        if round_trip is not None:
            fn = round_trip
            seconds[label] = best_time(lambda _, fn=fn: [fn(t) for t in texts], budget=3.0)  # type: ignore[misc]

    core = seconds["hujson parse+pack"]
    ratios: dict[str, float] = {"parse+pack / json.loads": core / seconds["json.loads"]}
    for label in ("json5 round trip", "json-five round trip"):
        if label in seconds:
            ratios[f"{label} / parse+pack"] = seconds[label] / core

    print(f"corpus: {len(files)} policy files, {size:,} bytes ({CORPUS})")
    print(f"python {platform.python_version()} on {platform.machine()}; best of repeated passes\n")
    print(f"{'':28}{'ms/corpus':>10}{'MB/s':>8}")
    for label, secs in seconds.items():
        print(f"{label:28}{secs * 1e3:10.2f}{size / secs / 1e6:8.2f}")
    for label, source in sources.items():
        if label not in seconds or source != "venv":
            print(f"  ({label}: {source})")
    print()
    targets = {"parse+pack / json.loads": ("<=", 20.0), "json-five round trip / parse+pack": (">=", 20.0)}
    for label, ratio in ratios.items():
        goal = targets.get(label)
        verdict = ""
        if goal is not None:
            met = ratio <= goal[1] if goal[0] == "<=" else ratio >= goal[1]
            verdict = f"   target {goal[0]} {goal[1]:g}x: {'met' if met else 'MISSED'}"
        print(f"{label:36}{ratio:8.1f}x{verdict}")

    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({
        "corpus_files": len(files), "corpus_bytes": size, "python": platform.python_version(),
        "seconds": seconds, "ratios": ratios, "sources": sources,
    }, indent=2) + "\n", encoding="utf-8")
    print(f"\nwrote {RESULTS.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
