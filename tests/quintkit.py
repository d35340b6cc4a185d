"""Finding the repository's pinned Quint, shared by the Quint model tests."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def quint(tests: str) -> str:
    """The pinned ``quint`` (``npm ci`` at the repository root) or ``$QUINT``. Without it the
    calling test (``tests`` names them in the reason) is skipped, or fails when
    ``BLOCKFSM_REQUIRE_QUINT=1`` (CI)."""
    found = os.environ.get("QUINT") or shutil.which("quint", path=str(ROOT / "node_modules/.bin"))
    if found is None or shutil.which("node") is None:
        reason = (
            "Quint is not installed: run `npm ci` at the repository root (needs Node.js and the "
            f"npm registry); the {tests} did not run"
        )
        if os.environ.get("BLOCKFSM_REQUIRE_QUINT") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    return found
