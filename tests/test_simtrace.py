"""Simulator counterexamples become ITF traces that `blockfsm replay` runs against the current code:
the planted bug reproduces, the fixed code diverges at the step where the bug first acted, and a
clean run with crashes and restarts replays step for step."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from planted import attester_forgets_its_attestations

from blockfsm.adapters.commands.cli import main
from blockfsm.adapters.engines import itf
from blockfsm.adapters.engines.replay import replay_document
from blockfsm.adapters.engines.sim import SimConfig
from blockfsm.adapters.engines.simtrace import TracedSimulation, simulation_document


@pytest.fixture
def attests_twice(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """The planted bug: an attester whose guard forgets its attestations (it attests again in a
    round it attested in: a block, then nil when the round times out)."""
    attester_forgets_its_attestations(monkeypatch)
    return monkeypatch


def test_a_simulated_double_sign_is_written_reproduced_and_then_diverges_once_fixed(
    attests_twice: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    runner = CliRunner()
    result = runner.invoke(
        main, ["simulate", "--seed", "1", "--json", "--no-heal", "--trace-dir", str(tmp_path)]
    )
    assert result.exit_code == 1, result.output
    safety = json.loads(result.stdout)["safety"]
    assert safety["violated"] == "C-4"
    trace = Path(safety["trace_file"])
    document = itf.load(trace)
    assert document["#meta"]["kind"] == "simulation"
    assert document["#meta"]["violation"]["property"] == "C-4"

    again = runner.invoke(main, ["replay", str(trace), "--json"])
    assert again.exit_code == 1, again.output
    assert json.loads(again.stdout)["verdict"] == "reproduces"

    attests_twice.undo()  # the fix
    fixed = runner.invoke(main, ["replay", str(trace), "--json"])
    assert fixed.exit_code == 3, fixed.output
    report = json.loads(fixed.stdout)
    assert report["verdict"] == "diverges"
    # The fixed code departs at or before the violation (the planted rule changes what a keeper
    # keeps before it makes it sign twice).
    assert report["step"] <= document["#meta"]["violation"]["step"]


def test_a_clean_run_with_crashes_and_restarts_replays_step_for_step() -> None:
    sim = TracedSimulation(SimConfig(nodes=4, byzantine=1, seed=3))
    sim.run(6_000)
    sim.heal()
    sim.run(2_000)
    actions = {r.action for r in sim.records}
    assert {"step", "crash", "restart"} <= actions, actions
    document = json.loads(json.dumps(simulation_document(sim)))
    result = replay_document(document)
    assert result.verdict == "matches", result.detail
    assert result.replayed == len(sim.records)


def test_a_tampered_event_is_reported_where_it_was_changed() -> None:
    sim = TracedSimulation(SimConfig(nodes=4, byzantine=0, seed=2, faults=()))
    sim.run(3_000)
    document = json.loads(json.dumps(simulation_document(sim)))
    ticks = [
        k
        for k, s in enumerate(document["states"])
        if s["event"].get("tag", "").rpartition(".")[2] == "Tick"
    ]
    k = ticks[len(ticks) // 2]
    document["states"][k]["state"] = "0" * 32
    result = replay_document(document)
    assert result.verdict == "diverges" and result.step == k


def test_a_run_past_the_recording_bound_writes_no_trace_and_says_so(tmp_path: Path) -> None:
    from blockfsm.adapters.engines.sim import SafetyViolation
    from blockfsm.adapters.engines.simtrace import write_simulation_trace

    sim = TracedSimulation(SimConfig(nodes=4, seed=2, faults=()), max_records=10)
    sim.run(2_000)
    assert not sim.complete and len(sim.records) == 11
    assert write_simulation_trace(sim, SafetyViolation("C-1", "x"), tmp_path) is None
    with pytest.raises(itf.ITFError, match="outgrew 10 recorded steps"):
        simulation_document(sim)


def test_the_cluster_campaign_writes_a_simulation_trace_for_a_cluster_violation(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A node that loses its final chain on restart (C-5): the campaign's counterexample is a
    simulation trace, which replays as `reproduces` while the bug is in.

    Bounded by examples, not seconds: seed 0 finds the bug within its first 5 examples on any
    machine (the budget only caps shrinking, which the assertions below do not depend on)."""
    from blockfsm.adapters.engines import sim as sim_module
    from blockfsm.machine.view import InMemoryChain

    restart = sim_module.Simulation.restart

    def forgetful_restart(self: sim_module.Simulation, node: sim_module.SimNode) -> None:
        node.chain = InMemoryChain(sim_module.CHAIN_ID)
        restart(self, node)

    monkeypatch.setattr(sim_module.Simulation, "restart", forgetful_restart)
    from blockfsm.adapters.engines.cluster_campaign import ClusterTest

    monkeypatch.setattr(ClusterTest, "long_runs", (10,))  # short chaos: the bug is in restarts
    runner = CliRunner()
    args = [
        "check",
        "--no-explore",
        "--machine",
        "cluster",
        "--examples",
        "5",
        "--budget",
        "1",
        "--seed",
        "0",
        "--json",
    ]
    result = runner.invoke(main, [*args, "--trace-dir", str(tmp_path)])
    assert result.exit_code == 1, result.output
    report = json.loads(result.stdout)
    violated = [e for e in report["invariants"] if e["status"] == "violated"]
    assert [e["id"] for e in violated] == ["C-5"], violated
    trace = Path(violated[0]["trace_file"])
    document = itf.load(trace)
    assert document["#meta"]["kind"] == "simulation"
    again = runner.invoke(main, ["replay", str(trace), "--json"])
    assert json.loads(again.stdout)["verdict"] == "reproduces", again.stdout
    # Written shrunk, the run as found beside it (tests/test_shrink.py).
    original = itf.load(trace.with_name("cluster-0.original.itf.json"))
    assert len(document["states"]) < len(original["states"])
    assert document["#meta"]["shrunk"]["original_steps"] == len(original["states"])


def test_a_trace_digested_the_older_way_still_replays() -> None:
    """Traces written before ``#meta.state_digest`` digest the ITF canonical encoding; they
    replay as they did (the scheme is read from the trace)."""
    import hashlib

    sim = TracedSimulation(SimConfig(nodes=4, byzantine=0, seed=2, faults=()))
    sim.run(2_000)
    document = json.loads(json.dumps(simulation_document(sim)))
    assert document["#meta"].pop("state_digest") == "blake2b-128/state-encoder"
    for entry, record in zip(document["states"], sim.records, strict=True):
        if record.state is not None:
            old = hashlib.blake2b(itf.canonical(record.state), digest_size=16).hexdigest()
            assert entry["state"] != old  # the schemes differ, so this test means something
            entry["state"] = old
    result = replay_document(document)
    assert result.verdict == "matches", result.detail
