"""``python -m benchmarks --quick --json`` runs and prints the documented shape (no timed asserts:
the figures are read by people, in docs/performance.md, not judged here)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
KEYS = {"name", "value", "unit", "baseline", "baseline_value", "ratio", "target_ratio"}


def test_quick_json_shape() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
    ).stdout
    doc = json.loads(out)
    assert set(doc) == {"benchmarks"}
    figures = doc["benchmarks"]
    assert figures, "no benchmark ran"
    names = [f["name"] for f in figures]
    assert len(names) == len(set(names)), "figure names must be unique"
    for f in figures:
        assert set(f) == KEYS, f
        assert isinstance(f["name"], str) and isinstance(f["unit"], str)
        assert isinstance(f["baseline"], str)
        for key in ("value", "baseline_value", "ratio"):
            assert isinstance(f[key], (int, float)) and f[key] > 0, (key, f)
        assert f["target_ratio"] is None or f["target_ratio"] > 0
