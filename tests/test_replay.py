"""`blockfsm replay`: a counterexample written by `blockfsm check` reproduces its failure, a trace
of a correct run matches, and code that changed is reported at the step where it diverges."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import attrs
import pytest
from click.testing import CliRunner

from blockfsm.adapters.commands.cli import main
from blockfsm.adapters.engines import itf
from blockfsm.adapters.engines.replay import replay_document, replay_machine
from blockfsm.machine import sync_server as server_module
from blockfsm.machine.core import Send, Step, Tick
from blockfsm.machine.messages import SyncRequest, SyncRequestReceived, SyncResponse
from blockfsm.machine.sync_server import SyncServerConfig
from blockfsm.spec.conformance import Conformant
from blockfsm.spec.machines import SYNC_SERVER
from blockfsm.spec.strategies.chains import DEFAULT_CHAIN_ID, chain_of, make_signers


def invoke(*args: str) -> Any:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


_serve = server_module._on_request


def _wrong_request_id(config: Any, state: Any, event: Any, view: Any) -> Step:
    """A server that answers with another request's id (what upstream bug 4 let through)."""
    result = _serve(config, state, event, view)
    effects = result.effects
    if effects and type(effects[0]) is Send and type(effects[0].message) is SyncResponse:
        message = attrs.evolve(effects[0].message, request_id=effects[0].message.request_id + 1)
        return Step(result.state, (attrs.evolve(effects[0], message=message),))
    return result


def test_a_counterexample_from_check_replays_and_reproduces_then_diverges_once_fixed(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(server_module, "_on_request", _wrong_request_id)
    result = invoke(
        "check", "--no-explore", "--machine", "sync_server", "--examples", "20", "--budget", "1",
        "--seed", "3", "--trace-dir", str(tmp_path), "--json",
    )  # fmt: skip
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    (violated,) = [e for e in report["invariants"] if e["status"] == "violated"]
    path = Path(violated["trace_file"])
    assert path.parent == tmp_path and path.name == "sync_server-3.itf.json"
    document = json.loads(path.read_text())
    assert document["vars"] == itf.MACHINE_VARS
    assert document["#meta"]["violation"]["property"] == violated["id"]
    failing_step = document["#meta"]["violation"]["step"]
    assert document["states"][failing_step]["mbt::actionTaken"] == "SyncRequestReceived"

    again = invoke("replay", str(path), "--json")
    assert again.exit_code == 1
    verdict = json.loads(again.stdout)
    assert verdict["verdict"] == "reproduces" and verdict["step"] == failing_step

    monkeypatch.undo()  # the fix
    fixed = invoke("replay", str(path), "--json")
    assert fixed.exit_code == 3
    verdict = json.loads(fixed.stdout)
    assert verdict["verdict"] == "diverges" and verdict["step"] == failing_step
    paths = [d["path"] for d in verdict["differences"]]
    assert paths == ["effects[0].message.request_id"]
    text = invoke("replay", str(path))
    assert f"diverges ({failing_step}/" in text.stdout and "recorded:" in text.stdout


def _recorded_run() -> itf.MachineTrace:
    """A correct run of the server: advertise, serve two requests, wait, advertise again."""
    signers = make_signers(4)
    chain = chain_of(5, signers)
    config = SyncServerConfig(chain_id=DEFAULT_CHAIN_ID, signer=signers[0], advertise_time=1_000)
    runner = Conformant(SYNC_SERVER, config)
    initial = state = SYNC_SERVER.initial(config)
    request = SyncRequest(chain_id=DEFAULT_CHAIN_ID, request_id=1, start_height=1, limit=3)
    events = [
        SyncRequestReceived(peer=b"\x01" * 32, request=request),
        Tick(now=0),
        SyncRequestReceived(peer=b"\x02" * 32, request=request),
        Tick(now=500),
        Tick(now=2**60),
    ]
    steps = []
    for event in events:
        view = chain.snapshot()
        state, effects = runner.step(state, event, view)
        steps.append(itf.TraceStep(event=event, view=view, state=state, effects=effects))
    return itf.MachineTrace(
        machine="sync_server", config=config, initial=initial, steps=tuple(steps)
    )


def test_a_trace_of_a_correct_run_matches_step_for_step(tmp_path: Path) -> None:
    path = itf.write(itf.machine_document(_recorded_run()), tmp_path / "run.itf.json")
    result = invoke("replay", str(path))
    assert result.exit_code == 0, result.output
    assert "matches (5/5 steps replayed)" in result.stdout


def test_a_change_in_the_code_is_reported_at_the_first_step_it_shows(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    document = json.loads(json.dumps(itf.machine_document(_recorded_run())))
    original = server_module._on_tick

    def later_window(config: Any, state: Any, event: Any, view: Any) -> Any:
        """A changed Tick handler: it also starts a new rate-limit window."""
        after, effects = original(config, state, event, view)
        return attrs.evolve(after, window=after.window + 1), effects

    monkeypatch.setattr(server_module, "_on_tick", later_window)
    result = replay_document(document)
    assert result.verdict == "diverges" and result.step == 2  # the first Tick
    assert [d.path for d in result.differences] == ["state.window"]


def test_a_recorded_state_that_differs_from_what_the_code_computes_is_found() -> None:
    trace = _recorded_run()
    steps = list(trace.steps)
    steps[2] = itf.TraceStep(
        event=steps[2].event,
        view=steps[2].view,
        state=steps[2].state,
        effects=(),
    )
    result = replay_machine(
        itf.MachineTrace(
            machine=trace.machine, config=trace.config, initial=trace.initial, steps=tuple(steps)
        )
    )
    assert result.verdict == "diverges" and result.step == 3
    assert result.differences[0].path == "effects length"


def test_the_cli_refuses_a_file_that_is_not_a_trace(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"states": []}')
    result = CliRunner().invoke(main, ["replay", str(bad)])
    assert result.exit_code == 4 and "cannot replay a trace of kind None" in result.output
    bad.write_text("{")
    result = CliRunner().invoke(main, ["replay", str(bad)])
    assert result.exit_code == 4 and "cannot read" in result.output


def test_a_liveness_failure_is_recorded_after_the_last_step_and_replays_as_matching() -> None:
    signers = make_signers(4)
    config = SyncServerConfig(chain_id=DEFAULT_CHAIN_ID, signer=signers[0])
    with itf.recording():
        runner = Conformant(SYNC_SERVER, config)
        state = SYNC_SERVER.initial(config)
        for now in (0, 10, 20):
            state, _ = runner.step(state, Tick(now=now), chain_of(2, signers).snapshot())
        error = runner.fail("SL-1", "the server advertises every advertise_time")
    trace = getattr(error, itf.TRACE_ATTR)
    assert len(trace.steps) == 3 and trace.violation["step"] == 4
    result = replay_machine(itf.read_machine_trace(json.loads(json.dumps(
        itf.machine_document(trace)))))  # fmt: skip
    assert result.verdict == "matches" and "after the last step" in result.detail
