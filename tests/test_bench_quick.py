"""The benchmarks keep working: ``bench/run.py --quick`` runs every part at a small size and writes its results.

Timings are not checked (CI machines vary); what is checked is what would show
that a benchmark rotted: it fails, writes nothing, writes results of the wrong
shape, or a converged reconcile against the fake API makes more than one request.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import corpus

ROOT = Path(__file__).resolve().parents[1]
PHASES = ("load", "render", "plan", "apply", "total")
#: the HuJSON part benchmarks the shared corpus of real policies, which sits beside a clone in CI
HAVE_CORPUS = any(corpus.POLICIES.glob("*.hujson"))
PARTS = "reconcile,converged,git,history,process" + (",hujson" if HAVE_CORPUS else "")


@pytest.mark.slow
def test_quick_benchmarks_run_and_write_well_formed_results(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "TS_"))}
    run = subprocess.run([sys.executable, str(ROOT / "bench" / "run.py"), "--quick", "--out", str(tmp_path),
                          "--parts", PARTS], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "# tailjit benchmark results" in run.stdout

    reconcile = json.loads((tmp_path / "reconcile.json").read_text())
    assert reconcile["machine"]["cpus"] >= 1 and reconcile["machine"]["python"]
    sizes = reconcile["results"]
    assert [r["grants"] for r in sizes] == [100, 300]
    for row in sizes:
        assert all(row[phase] > 0 for phase in PHASES)
        assert row["total"] >= row["load"] + row["render"]
        assert row["peak_rss_mb"] > 10 and row["cli_peak_rss_mb"] > 10
        assert row["grant_files"] == row["grants"] * 102 // 100
        assert row["granted"] > 0 and row["revoked"] > 0  # the reconcile had real work to do

    converged = json.loads((tmp_path / "converged.json").read_text())["results"]
    assert (converged["gets"], converged["writes"], converged["validates"], converged["requests"]) == (1, 0, 0, 1)
    assert converged["exit_code"] == 0

    git = json.loads((tmp_path / "git.json").read_text())["results"]
    assert set(git["timings"]) == {"merge_times (one walk)", "tailjit status", "tailjit audit"}
    assert git["commits"] > 250 and git["grants"] == 50

    history = json.loads((tmp_path / "history.json").read_text())["results"]
    (size,) = history["sizes"]
    assert (size["grants"], size["commits"], size["first_parent"]) == (100, 201, 101)
    assert size["warm_walked"] == 2 and size["walked"] == 101, "the warm run walks the new merge only"
    assert size["cold"] > 0 and size["warm"] > 0 and size["rev_list"] > 0
    assert history["audit"]["grants"] == 200 and history["audit"]["removed"] == 100

    process = json.loads((tmp_path / "process.json").read_text())["results"]
    assert [r["grants"] for r in process["applies"]] == [100] and process["applies"][0]["apply"] > 0
    assert process["help"] > process["python_pass"] > 0

    if HAVE_CORPUS:
        hujson = json.loads((tmp_path / "hujson.json").read_text())["results"]
        assert {"hujson parse+pack", "hujson format", "hujson patch", "json.loads"} <= set(hujson["seconds"])
        assert hujson["large_policy"]["ratio"] > 0
    else:
        assert not (tmp_path / "hujson.json").exists()

    summary = json.loads((tmp_path / "summary.json").read_text())
    assert [c["name"] for c in summary["checks"]] == ["converged apply: requests"]
    assert summary["checks"][0]["passed"] is True
