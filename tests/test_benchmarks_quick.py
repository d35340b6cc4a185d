"""`python -m benchmarks --quick --json` runs and prints the documented shape. No figure is
asserted: speed targets are read from the printed ratios, never timed in the test suite."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.timeout(120)
"""This module waits on sockets, processes or files: a hang fails the test at this deadline."""

ROOT = Path(__file__).resolve().parent.parent


def test_quick_benchmarks_print_one_object_of_figures() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=110,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    names = [b["name"] for b in report["benchmarks"]]
    assert {"transitions/sync_server", "conformant/sync_client", "sync_throughput"} <= set(names)
    assert {"sync_checks", "sync_round_trips"} <= set(names)
    assert {"scaling/server_peers", "scaling/client_registry"} <= set(names)
    assert "scaling/producer_tree" in names
    assert {"explorer/states_per_core", "explorer/workers", "sim_throughput"} <= set(names)
    if importlib.util.find_spec("statemachine") is not None:  # the benchmarks extra
        assert "python-statemachine/sync_server" in names
    for entry in report["benchmarks"]:
        assert set(entry) == {
            "name", "value", "unit", "baseline", "baseline_value", "ratio", "target_ratio",
        }  # fmt: skip
        assert entry["value"] > 0 and entry["baseline_value"] > 0 and entry["ratio"] > 0
