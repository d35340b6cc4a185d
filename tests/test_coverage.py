"""Coverage that steers: guard outcomes and row pairs derived from one count per step, the gaps
``check --require-coverage`` fails on, and the report ``check --json`` prints."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from click.testing import CliRunner

from blockfsm.adapters.commands.cli import main
from blockfsm.spec.coverage import coverage
from blockfsm.spec.language import MachineSpec, Row, classified


def _kind(c: object, s: object, e: object, v: object) -> str:
    return "small" if e else "large"


SPEC = MachineSpec(
    name="toy",
    title="Toy",
    summary="two classified rows on one pair, one plain row on another",
    states=("A", "B"),
    initial="A",
    events=("Go", "Back"),
    effects=(),
    rows=(
        Row(id="T1", source="A", event="Go", target="B", guard=classified(_kind, "small", "s")),
        Row(id="T2", source="A", event="Go", target="A", guard=classified(_kind, "large", "l")),
        Row(id="T3", source="B", event="Back", target="A"),
    ),
    invariants=(),
)


def test_guard_outcomes_and_pairs_follow_from_the_rows_taken() -> None:
    taken = {(None, "A", "T1"): 2, ("T1", "B", "T3"): 2, ("T3", "A", "T1"): 1}
    cov = coverage(SPEC, taken)
    assert dict(cov.rows) == {"T1": 3, "T2": 0, "T3": 2}
    outcomes = {(g.row, g.state): (g.true, g.false) for g in cov.guards}
    # T1 taken in A: its guard true there, T2's false (exactly one row of the pair matched).
    assert outcomes == {("T1", "A"): (3, 0), ("T2", "A"): (0, 3)}
    assert cov.pairs == ((None, "T1", 2), ("T1", "T3", 2), ("T3", "T1", 1))
    assert cov.gaps() == [
        "toy: row T2 never taken",
        "toy: guard of row T1 (small) never false in (A, Go)",
        "toy: guard of row T2 (large) never true in (A, Go)",
    ]
    taken[("T3", "A", "T2")] = 1
    assert coverage(SPEC, taken).gaps() == []
    report = coverage(SPEC, taken).as_json()
    assert report["guards"] == {
        "outcomes_seen": 4,
        "outcomes_declared": 4,
        "each": [
            {"row": "T1", "state": "A", "event": "Go", "guard": "small", "true": 3, "false": 1},
            {"row": "T2", "state": "A", "event": "Go", "guard": "large", "true": 1, "false": 3},
        ],
    }


def _check(*args: str) -> tuple[int, str, str]:
    run = CliRunner().invoke(
        main, ["check", "--no-explore", "--seed", "1", "--json", *args], catch_exceptions=False
    )
    return run.exit_code, run.stdout, run.stderr


def test_check_reports_guards_and_pairs_and_requires_coverage() -> None:
    code, out, err = _check("--machine", "sync_server", "--examples", "40", "--require-coverage")
    assert code == 0, err
    report = json.loads(out)["guards_and_pairs"]["sync_server"]
    assert report["rows"]["hit"] == report["rows"]["declared"] == 17
    assert report["guards"]["outcomes_seen"] == report["guards"]["outcomes_declared"] > 0
    assert report["row_pairs"]["distinct"] > 17
    assert report["gaps"] == []
    # Too few examples to see every guard outcome of the attester: one line per gap, exit 1.
    code, out, err = _check("--machine", "attester", "--examples", "2", "--require-coverage")
    gaps = [line for line in err.splitlines() if line.startswith("coverage gap: attester: ")]
    assert code == 1 and gaps, err
    assert json.loads(out)["ok"] is False
    assert len(gaps) == len(json.loads(out)["guards_and_pairs"]["attester"]["gaps"])
    # Without the flag the same run passes: gaps are reported, not failed on.
    code, _, err = _check("--machine", "attester", "--examples", "2")
    assert code == 0, err


CHECK = [sys.executable, "-m", "blockfsm", "check", "--no-explore", "--seed", "1", "--json"]


@pytest.mark.timeout(300)
def test_steering_changes_what_a_seeded_run_draws_and_is_off_by_default() -> None:
    def pairs(*flags: str) -> object:
        # A fresh process each: Hypothesis keeps state between runs in one process.
        run = subprocess.run(
            [*CHECK, "--machine", "attester", "--examples", "30", *flags],
            capture_output=True,
            timeout=240,
        )
        assert run.returncode == 0, run.stderr
        return json.loads(run.stdout)["guards_and_pairs"]["attester"]["row_pairs"]

    plain = pairs()
    assert pairs("--no-steer") == plain
    assert pairs("--steer") != plain
