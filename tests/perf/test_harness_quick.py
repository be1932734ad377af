"""The benchmark harness must keep working: run ``tests/perf/run --quick`` and check that every
workload produced numbers. Nothing here looks at how fast anything was."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

RUN = Path(__file__).resolve().parent / "run"
WORKLOADS = {"w1", "w2", "w3", "w4", "freshness", "pull", "fanout", "restore"}


def test_quick_run_measures_every_workload(tmp_path: Path) -> None:
    out = tmp_path / "perf.json"
    proc = subprocess.run([sys.executable, str(RUN), "--quick", "--json", str(out)],
                          capture_output=True, text=True, timeout=1200)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    report = json.loads(out.read_text())
    assert report["cores"] >= 1
    rows = report["rows"]
    errors = [f"{r['title']} / {r['label']}: {r['error']}" for r in rows if "error" in r]
    assert not errors, "\n".join(errors)
    measured: set[str] = set()
    for r in rows:
        if "skipped" in r:
            assert r["skipped"].startswith("n/a"), r
            continue
        values = r["median"].values()
        assert values and all(isinstance(v, (int, float)) and math.isfinite(v) and v >= 0 for v in values), r
        measured.add(r["workload"])
    assert measured == WORKLOADS, f"no numbers for {sorted(WORKLOADS - measured)}\n{proc.stdout[-3000:]}"
    assert "median" in proc.stdout  # the table was printed
