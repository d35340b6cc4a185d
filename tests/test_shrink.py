"""Counterexamples are shrunk before they are written: the simulator's by delta debugging over the
choices that drove the run, a depth-first exploration's over its path. The shrunk trace replays as
the original does, is shorter, breaks the same property, and is the same on every run; the
original is kept beside it.

Bounded by seeds, simulated milliseconds and candidate runs, never by seconds."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from planted import attester_forgets_its_attestations

from blockfsm.adapters.commands.cli import main
from blockfsm.adapters.engines import itf, shrink
from blockfsm.adapters.engines.explore import SyncSystem, dfs, shrink_report, write_trace
from blockfsm.adapters.engines.replay import replay_document
from blockfsm.adapters.engines.sim import SafetyViolation, SimConfig
from blockfsm.adapters.engines.simtrace import TracedSimulation, simulation_document
from blockfsm.machine.sync_client import advertisements as client_advertisements
from blockfsm.machine.sync_client import responses as client_responses


@pytest.fixture
def attests_twice(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """The planted cluster bug: an attester that attests again in a round it attested in."""
    attester_forgets_its_attestations(monkeypatch)
    return monkeypatch


def _counterexample(seed: int = 1) -> dict[str, Any]:
    """The planted bug's counterexample from the simulator, as plain JSON (as read from a file)."""
    sim = TracedSimulation(SimConfig(nodes=4, byzantine=1, seed=seed))
    with pytest.raises(SafetyViolation) as caught:
        sim.run(20_000)
    return json.loads(json.dumps(simulation_document(sim, caught.value)))


def test_a_planted_cluster_bug_is_written_shrunk_and_replay_reproduces_both(
    attests_twice: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    runner = CliRunner()
    args = ["simulate", "--seed", "1", "--json", "--no-heal", "--trace-dir", str(tmp_path)]
    result = runner.invoke(main, args)
    assert result.exit_code == 1, result.output
    safety = json.loads(result.stdout)["safety"]
    assert safety["violated"] == "C-4"
    shrunk, original = Path(safety["trace_file"]), Path(safety["shrunk"]["original_file"])
    assert shrunk.name == "simulation-1.itf.json"
    assert original.name == "simulation-1.original.itf.json"
    short, long = itf.load(shrunk), itf.load(original)
    assert len(long["states"]) > 100  # the run as found: the planted bug at its ~170th step
    assert len(short["states"]) <= 12 < len(long["states"])
    assert safety["shrunk"]["steps"] == len(short["states"])
    assert safety["shrunk"]["original_steps"] == len(long["states"])
    assert short["#meta"]["violation"]["property"] == "C-4"
    assert short["#meta"]["shrunk"]["original_file"] == original.name
    for path in (shrunk, original):
        again = runner.invoke(main, ["replay", str(path), "--json"])
        assert again.exit_code == 1, again.output
        assert json.loads(again.stdout)["verdict"] == "reproduces"
    attests_twice.undo()  # the fix: the shrunk trace no longer breaks anything
    fixed = runner.invoke(main, ["replay", str(shrunk), "--json"])
    assert json.loads(fixed.stdout)["verdict"] == "diverges"


def test_the_shrinker_keeps_the_property(attests_twice: pytest.MonkeyPatch) -> None:
    """A candidate that breaks another property than the recorded one is not accepted: told the
    run broke C-1 (it broke C-4), the shrinker finds no candidate, the whole run included."""
    document = _counterexample()
    assert document["#meta"]["violation"]["property"] == "C-4"
    choices = shrink.decode_schedule(document)
    assert choices is not None
    config = itf.decode(document["#meta"]["config"])
    everything = range(len(choices))
    kept, _, error = shrink.run_schedule(config, choices, everything, "C-4")
    assert kept is not None and error is not None and error.invariant_id == "C-4"
    wrong, _, error = shrink.run_schedule(config, choices, everything, "C-1")
    assert wrong is None and error is not None and error.invariant_id == "C-4"
    document["#meta"]["violation"]["property"] = "C-1"
    assert shrink.shrink_simulation(document) is None


def test_ddmin_accepts_only_what_its_test_accepts() -> None:
    """ddmin keeps what the test needs (items 3 and 7) and never a candidate the test refuses,
    even one that holds everything the test asks for but also something that makes it fail
    otherwise (item 5, as a different property would)."""
    tried: list[tuple[int, ...]] = []

    def test(candidate: tuple[int, ...]) -> tuple[int, ...] | None:
        tried.append(candidate)
        ok = 3 in candidate and 7 in candidate and 5 not in candidate
        return candidate if ok else None

    items = tuple(i for i in range(12) if i != 5)
    result = shrink.ddmin(items, test, budget=200)
    assert result.kept == (3, 7) and not result.exhausted
    assert result.candidates == len(set(tried))
    capped = shrink.ddmin(items, test, budget=3)
    assert capped.exhausted and capped.candidates == 3 and {3, 7} <= set(capped.kept)
    tried.clear()
    bounded = shrink.ddmin(items, test, work=20)  # items run, over all candidates
    assert bounded.exhausted and sum(len(c) for c in tried) <= 20 and {3, 7} <= set(bounded.kept)


def test_shrinking_is_deterministic(attests_twice: pytest.MonkeyPatch) -> None:
    document = _counterexample(seed=2)
    first = shrink.shrink_simulation(document)
    second = shrink.shrink_simulation(json.loads(json.dumps(document)))
    assert first is not None and second is not None
    assert first.steps < first.original_steps
    choices = len(document["#meta"]["schedule"])
    assert shrink.shrink_simulation(document, work=choices - 1) is None  # too long: as found
    assert (first.steps, first.candidates) == (second.steps, second.candidates)
    assert json.dumps(first.document, sort_keys=True) == json.dumps(second.document, sort_keys=True)


def test_a_depth_first_path_is_shrunk_and_the_path_found_kept(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The sync client taking every certificate as valid: depth-first search finds a path of 5
    actions; the shortest is 4 (tests/test_explore.py); the shrunk path is one, and replays."""
    for module in (client_advertisements, client_responses):
        monkeypatch.setattr(module, "certificate_is_valid", lambda *args: True)
    system = SyncSystem()
    found = dfs(system, max_depth=8)
    assert found.violation is not None and len(found.violation.actions) == 5
    report, shrunk = shrink_report(system, found)
    assert shrunk is not None and shrunk.found == found.violation
    assert report.violation is not None and len(report.violation.actions) == 4
    assert report.violation.property_id == found.violation.property_id
    path = write_trace(system, report, tmp_path, shrunk)
    assert path is not None
    document = itf.load(path)
    assert document["#meta"]["shrunk"]["original_steps"] == 5
    original = itf.load(shrink.original_path(path))
    assert len(original["states"]) == 6 and len(document["states"]) == 5
    assert replay_document(document).verdict == "reproduces"
    assert replay_document(original).verdict == "reproduces"


def test_explore_dfs_reports_the_shrunk_path_and_where_the_found_one_is(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for module in (client_advertisements, client_responses):
        monkeypatch.setattr(module, "certificate_is_valid", lambda *args: True)
    runner = CliRunner()
    args = ["explore", "--dfs", "--depth", "8", "--trace-dir", str(tmp_path)]
    result = runner.invoke(main, [*args, "--json"])
    assert result.exit_code == 1, result.output
    report = json.loads(result.stdout)
    assert report["violation"]["depth"] == 4 and len(report["violation"]["path"]) == 4
    assert report["shrunk"]["original_depth"] == 5
    assert Path(report["shrunk"]["original_file"]).exists()
    text = runner.invoke(main, args)
    assert "Path (4 actions from the initial state, shrunk from the dfs path of 5" in text.stdout
    assert "Shortest path" not in text.stdout
