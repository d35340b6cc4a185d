"""``blockfsm fuzz``: rounds of campaigns until stopped, one example database for all of them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner
from planted import PLANTED_CAMPAIGN

from blockfsm.adapters.commands.cli import main


def test_rounds_share_the_directory_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "planted_campaign.py").write_text(textwrap.dedent(PLANTED_CAMPAIGN))
    monkeypatch.syspath_prepend(str(tmp_path))
    database = str(tmp_path / "examples")
    fuzz = ["fuzz", "--database", database, "--module", "planted_campaign"]
    run = CliRunner().invoke(
        main, [*fuzz, "--machine", "planted", "--rounds", "5", "--examples", "300"]
    )
    assert run.exit_code == 1, run.output
    assert "planted P-1 violated" in run.stdout
    found = run.stdout.split("counterexample:", 1)[1]
    # Another seed, one example: the saved failure is replayed first.
    again = [*fuzz, "--machine", "planted", "--rounds", "1", "--examples", "1", "--seed", "7"]
    run = CliRunner().invoke(main, again)
    assert run.exit_code == 1 and run.stdout.split("counterexample:", 1)[1] == found
    # The same without the database finds nothing.
    run = CliRunner().invoke(main, [*again[:1], "--database", "none", *again[3:]])
    assert run.exit_code == 0, run.output
    # A machine with no failure: every round reported, exit 0.
    run = CliRunner().invoke(
        main,
        [
            "fuzz",
            "--database",
            database,
            "--machine",
            "sync_server",
            "--rounds",
            "2",
            "--examples",
            "5",
        ],
    )
    assert run.exit_code == 0, run.output
    assert "round 1: " in run.stderr and "round 2: " in run.stderr
    assert "2 rounds, 10 examples: every property held" in run.stdout


@pytest.mark.timeout(180)
def test_sigterm_stops_after_the_round_in_hand(tmp_path: Path) -> None:
    fuzz = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "blockfsm",
            "fuzz",
            "--machine",
            "sync_server",
            "--examples",
            "5",
            "--database",
            str(tmp_path / "examples"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert fuzz.stderr is not None
    line = fuzz.stderr.readline().decode()
    assert line.startswith("round 1: "), line
    fuzz.send_signal(signal.SIGTERM)
    out, _ = fuzz.communicate(timeout=120)
    assert fuzz.returncode == 0
    assert b"every property held" in out
