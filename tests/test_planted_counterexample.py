"""A planted cluster bug gives a shrunk trace and its HTML view in one command
(tools/planted_counterexample.py, which runs ``blockfsm simulate --html`` with the bug planted)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from blockfsm.adapters.engines.replay import replay_path

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.timeout(120)
def test_one_command_writes_the_shrunk_trace_the_original_and_the_view(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "planted_counterexample.py"), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=110,
    )
    assert done.returncode == 1, done.stdout + done.stderr  # a safety violation
    shrunk = json.loads((tmp_path / "simulation-1.itf.json").read_text())
    original = json.loads((tmp_path / "simulation-1.original.itf.json").read_text())
    assert shrunk["#meta"]["violation"]["property"] == "C-4"
    assert len(shrunk["states"]) < len(original["states"]) // 10
    page = (tmp_path / "counterexample.html").read_text()
    assert "C-4" in page and "<svg" in page
    # Without the planted bug, the code no longer does what the trace records.
    assert replay_path(tmp_path / "simulation-1.itf.json").verdict in ("diverges", "fails")
