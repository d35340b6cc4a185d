"""`blockfsm check` and `blockfsm spec render` as a user runs them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import attrs
import pytest
from click.testing import CliRunner

from blockfsm.adapters.commands.cli import _print_report, main
from blockfsm.adapters.engines.campaigns import CampaignResult, Violation
from blockfsm.machine import sync_server as server_module
from blockfsm.machine.core import Send, Step
from blockfsm.machine.messages import SyncRequestReceived
from blockfsm.spec.campaigns import sync_server as server_campaign
from blockfsm.spec.machines import SYNC_SERVER

ROOT = Path(__file__).resolve().parent.parent


def run(*args: str) -> Any:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_check_json_reports_every_invariant_held_with_counts() -> None:
    result = run(
        "check",
        "--no-explore",
        "--machine",
        "sync_server",
        "--examples",
        "40",
        "--seed",
        "3",
        "--json",
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["ok"] is True
    assert "exploration" not in report  # --no-explore: the campaigns only
    spec = server_campaign.SPEC
    ids = [i.id for i in spec.invariants] + [lv.id for lv in spec.liveness]
    entries = {e["id"]: e for e in report["invariants"] if e["machine"] == "sync_server"}
    assert sorted(entries) == sorted(ids)
    for entry in entries.values():
        assert entry["status"] == "held" and entry["examples"] > 0 and entry["steps"] > 0
        assert entry["kind"] in ("safety", "liveness")
    hit, declared = report["coverage"]["sync_server"]
    assert declared == len(spec.rows) and 0 < hit <= declared


def _max_instead_of_min(config: Any, state: Any, event: Any, view: Any) -> Step:
    """The upstream cap bug, injected into an otherwise correct server."""
    result = server_module.step(config, state, event, view)
    if type(event) is SyncRequestReceived and result.effects and type(result.effects[0]) is Send:
        request = event.request
        blocks = view.blocks_from(request.start_height, max(request.limit, config.request_limit))
        message = attrs.evolve(result.effects[0].message, blocks=blocks)
        return Step(result.state, (attrs.evolve(result.effects[0], message=message),))
    return result


def test_check_reports_a_violation_with_a_shrunk_counterexample(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    buggy = attrs.evolve(SYNC_SERVER, step=_max_instead_of_min)
    monkeypatch.setattr(server_campaign, "SYNC_SERVER", buggy)
    result = run(
        "check",
        "--no-explore",
        "--machine",
        "sync_server",
        "--examples",
        "20",
        "--budget",
        "1",
        "--seed",
        "3",
        "--json",
    )
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert report["ok"] is False
    (violated,) = [e for e in report["invariants"] if e["status"] == "violated"]
    assert violated["id"] in ("SS-1", "SS-4")
    steps = violated["counterexample"]
    assert steps[0].startswith("start sync_server with SyncServerConfig(")
    assert any("SyncRequestReceived" in line for line in steps)


def test_text_report_prints_the_counterexample(capsys: pytest.CaptureFixture[str]) -> None:
    violation = Violation(
        machine="sync_server",
        property_id="SS-1",
        statement="a response holds at most ...",
        message="",
        trace=("start sync_server with ...", "SyncRequestReceived(...)  [Starting -> ...]"),
    )
    result = CampaignResult(
        machine="sync_server",
        properties=(),
        rows_hit=3,
        rows_declared=15,
        unhit_rows=("R4",),
        examples=7,
        batches=1,
        seconds=0.1,
        violation=violation,
    )
    _print_report([result], False, 3, 1.0, "dev")
    out = capsys.readouterr().out
    assert "SS-1 VIOLATED" in out and "Shrunk counterexample" in out
    # Numbered as `blockfsm replay` numbers a trace's steps: 0 is the start.
    assert "0. start sync_server" in out and "1. SyncRequestReceived" in out
    assert "not hit: R4" in out


@pytest.mark.parametrize(
    "args",
    [
        ("check", "--budget", "-1"),
        ("check", "--budget", "soon"),
        ("check", "--seed", "-4"),
        ("check", "--no-explore", "--machine", "no_such_machine"),
    ],
)
def test_check_refuses_bad_arguments_clearly(args: tuple[str, ...]) -> None:
    result = CliRunner().invoke(main, list(args))
    assert result.exit_code == 2 and "Error" in result.output


def test_unknown_profile_is_a_usage_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HYPOTHESIS_PROFILE", "fastest")
    result = CliRunner().invoke(main, ["check", "--budget", "0"])
    assert result.exit_code == 2 and "fastest" in result.output


def test_render_check_detects_drift_and_render_fixes_it(tmp_path: Path) -> None:
    out = tmp_path / "spec"
    assert CliRunner().invoke(main, ["spec", "render", "--check", "--out", str(out)]).exit_code == 1
    assert run("spec", "render", "--out", str(out)).exit_code == 0
    assert run("spec", "render", "--check", "--out", str(out)).exit_code == 0
    page = out / "sync_server.md"
    page.write_text(page.read_text() + "\nhand edit\n")
    assert CliRunner().invoke(main, ["spec", "render", "--check", "--out", str(out)]).exit_code == 1


def test_docs_in_the_repository_are_current() -> None:
    result = run("spec", "render", "--check", "--out", str(ROOT / "docs" / "spec"))
    assert result.exit_code == 0, result.output


def test_check_machine_accepts_a_machine_a_campaign_also_runs() -> None:
    from blockfsm.adapters.commands.cli import campaigns_for
    from blockfsm.adapters.engines.registry import campaigns

    every = campaigns()
    assert [c.machine for c in campaigns_for(("node",), every)] == ["cluster"]
    assert [c.machine for c in campaigns_for(("node", "producer"), every)] == [
        "cluster",
        "producer",
    ]
    assert campaigns_for((), every) == every
    result = CliRunner().invoke(main, ["check", "--machine", "nod"])
    assert result.exit_code == 2
    assert "known: attester, cluster, node, producer" in result.output
