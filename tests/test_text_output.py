"""The text reports of `blockfsm check` and `blockfsm simulate` read at 80 columns and in a pipe
(CliRunner's output is not a terminal, so these see the compact layout): no line wider than 80,
no table folded to a column, the terms explained where they are printed, a counterexample's steps
numbered as `blockfsm replay` numbers them, the Byzantine nodes named."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from test_replay import _wrong_request_id

from blockfsm.adapters.commands.cli import BATCHES, UNRECOVERABLE, _print_report, main
from blockfsm.adapters.engines.campaigns import CampaignResult, PropertyResult
from blockfsm.machine import sync_server as server_module

WIDTH = 80


def _narrow(text: str) -> None:
    wide = [line for line in text.splitlines() if len(line) > WIDTH]
    assert not wide, wide
    assert not set("┃│┏━") & set(text), "a table in the compact layout"


def _result(**changes: object) -> CampaignResult:
    fields: dict[str, object] = {
        "machine": "cluster",
        "properties": (
            PropertyResult(
                machine="cluster",
                id="C-1",
                kind="safety",
                statement="no two honest nodes finalize different blocks at one height, "
                "whatever the network and the Byzantine keeper do",
                status="held",
                examples=7,
                steps=1234,
            ),
        ),
        "rows_hit": 3,
        "rows_declared": 5,
        "unhit_rows": ("C4", "C5"),
        "examples": 7,
        "batches": 2,
        "seconds": 1.5,
        "violation": None,
        "rules": (("proof.forged", 3), ("proof.replayed", 0)),
        "unrecoverable": 2,
    }
    fields.update(changes)
    return CampaignResult(**fields)  # type: ignore[arg-type]


def test_check_in_a_pipe_is_compact_and_80_wide() -> None:
    result = CliRunner().invoke(
        main,
        ["check", "--no-explore", "--machine", "sync_server", "--examples", "3", "--seed", "1"],
    )
    assert result.exit_code == 0, result.output
    _narrow(result.stdout)
    assert re.search(r"^  SS-1 +held +a response holds", result.stdout, re.M), result.stdout
    assert BATCHES in " ".join(result.stdout.split())


def test_unrecoverable_runs_and_batches_are_explained_where_printed(
    capsys: pytest.CaptureFixture[str],
) -> None:
    _print_report([_result(), _result(machine="node")], True, 3, 1.0, "dev")
    out = capsys.readouterr().out
    _narrow(out)
    flat = " ".join(out.split())
    assert "2 unrecoverable runs" in flat and UNRECOVERABLE in flat and BATCHES in flat
    assert flat.count(UNRECOVERABLE) == 1 and flat.count(BATCHES) == 1  # the first time only
    assert "not hit: C4, C5" in flat and "(not reached: proof.replayed)" in flat


def test_after_a_violation_unreached_rules_and_rows_are_not_reported_as_not_reached(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A campaign stops at its first violation: what it did not reach by then it might have
    reached later, so it is counted, not listed as not reached."""
    _print_report([_result(stopped=True)], False, 3, 1.0, "dev")
    flat = " ".join(capsys.readouterr().out.split())
    assert "not reached: proof.replayed" not in flat and "not hit: C4" not in flat
    assert "1 not reached before the run stopped at the violation" in flat
    assert "2 not hit before the run stopped at the violation" in flat


def test_check_numbers_a_counterexample_as_replay_does(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(server_module, "_on_request", _wrong_request_id)
    runner = CliRunner()
    args = [
        "check",
        "--no-explore",
        "--machine",
        "sync_server",
        "--examples",
        "20",
        "--budget",
        "1",
    ]
    result = runner.invoke(main, [*args, "--seed", "3", "--trace-dir", str(tmp_path)])
    assert result.exit_code == 1, result.output
    _narrow(result.stdout)
    numbered = re.findall(r"^ +(\d+)\. (\S+)", result.stdout, re.M)
    assert numbered[0] == ("0", "start")
    assert [int(n) for n, _ in numbered] == list(range(len(numbered)))
    replayed = runner.invoke(main, ["replay", str(tmp_path / "sync_server-3.itf.json"), "--json"])
    verdict = json.loads(replayed.stdout)
    assert verdict["verdict"] == "reproduces"
    last, event = numbered[-1]
    assert int(last) == verdict["step"] and event.startswith("SyncRequestReceived")


def test_simulate_prints_a_table_that_names_the_byzantine_nodes() -> None:
    args = ["simulate", "--nodes", "5", "--byzantine", "1", "--ticks", "20", "--no-heal"]
    result = CliRunner().invoke(main, [*args, "--behaviours", "flood"])
    assert result.exit_code == 0, result.output
    out = result.stdout
    _narrow(out)
    rows = re.findall(r"^ +(\d) +(honest|Byzantine: \w+) +(\d+)$", out, re.M)
    assert [(n, role) for n, role, _ in rows] == [
        ("0", "honest"),
        ("1", "honest"),
        ("2", "honest"),
        ("3", "honest"),
        ("4", "Byzantine: flood"),
    ]
    assert "{" not in out and "['" not in out  # no dict or list repr
    assert re.search(r"^verdict +ok$", out, re.M)


def test_a_sweep_prints_one_row_per_seed_naming_its_byzantine_nodes() -> None:
    args = ["simulate", "--seeds", "2", "--nodes", "5", "--byzantine", "1", "--ticks", "10"]
    result = CliRunner().invoke(main, [*args, "--no-heal", "--behaviours", "flood,withhold"])
    assert result.exit_code == 0, result.output
    out = result.stdout
    _narrow(out)
    rows = re.findall(r"^ +(\d+)  (4: \w+) +held +skipped +[-\d ]+$", out, re.M)
    assert rows == [("0", "4: flood"), ("1", "4: withhold")], out
    assert "{" not in out and "['" not in out
    assert re.search(r"^totals +liveness skipped 2$", out, re.M), out
