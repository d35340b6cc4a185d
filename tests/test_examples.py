"""Each embedding example (asyncio, threads, trio) drives the same core to a caught-up node."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.timeout(90)
"""This module waits on sockets, processes or files: a hang fails the test at this deadline."""

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


@pytest.mark.parametrize("driver", ["asyncio", "threads", "trio"])
def test_example_catches_up(driver: str) -> None:
    run = subprocess.run(
        [sys.executable, str(EXAMPLES / f"{driver}_driver.py")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.startswith(f"{driver}: client committed height 38")
