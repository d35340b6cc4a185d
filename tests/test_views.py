"""The HTML views: `blockfsm view` reads every kind of trace the project writes and draws what
the trace holds (the row each step took, who sent which message to whom, the violation at its
step), refuses what is not a trace with one line and status 4, and `check --html` writes a report
whose violations link to their trace views. The browser half is tests/test_views_browser.py."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import attrs
import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st
from planted import attester_forgets_its_attestations

from blockfsm.adapters.commands.cli import main
from blockfsm.adapters.engines.explore import ClusterSystem, bfs, system_document
from blockfsm.adapters.engines.itf import encode
from blockfsm.adapters.engines.registry import machines
from blockfsm.adapters.engines.sim import SafetyViolation, SimConfig
from blockfsm.adapters.engines.simtrace import TracedSimulation, simulation_document
from blockfsm.adapters.engines.views import read_trace, view_document
from blockfsm.adapters.engines.views.diagram import diagram_svg, edges
from blockfsm.adapters.engines.views.values import differences, show
from blockfsm.machine import sync_server as server_module
from blockfsm.machine.core import Send, Step
from blockfsm.machine.messages import SyncResponse

pytestmark = pytest.mark.timeout(120)
"""Some tests here run the command line in-process over real campaigns: a hang fails here."""


def invoke(*args: str) -> Any:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


_serve = server_module._on_request


def _wrong_request_id(config: Any, state: Any, event: Any, view: Any) -> Step:
    """A server that answers with another request's id (upstream bug 4), as in test_replay."""
    result = _serve(config, state, event, view)
    effects = result.effects
    if effects and type(effects[0]) is Send and type(effects[0].message) is SyncResponse:
        message = attrs.evolve(effects[0].message, request_id=effects[0].message.request_id + 1)
        return Step(result.state, (attrs.evolve(effects[0], message=message),))
    return result


def planted_simulation(seed: int = 10) -> dict[str, Any]:
    """A cluster counterexample: attesters that forget their attestations sign twice (C-4);
    seed 10 with one Byzantine node does so at step 197, a trace of 198 steps."""
    patch = pytest.MonkeyPatch()
    attester_forgets_its_attestations(patch)
    try:
        sim = TracedSimulation(SimConfig(nodes=4, byzantine=1, seed=seed))
        with pytest.raises(SafetyViolation) as caught:
            sim.run(200_000)
        return json.loads(json.dumps(simulation_document(sim, caught.value)))
    finally:
        patch.undo()


@pytest.fixture(scope="module")
def check_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """`check --html` on the sync server with the planted wrong request id: a violation."""
    out = tmp_path_factory.mktemp("check")
    patch = pytest.MonkeyPatch()
    patch.setattr(server_module, "_on_request", _wrong_request_id)
    try:
        result = invoke(
            "check", "--no-explore", "--machine", "sync_server", "--examples", "20",
            "--budget", "1", "--seed", "3", "--trace-dir", str(out / "traces"),
            "--html", str(out / "report"), "--json",
        )  # fmt: skip
    finally:
        patch.undo()
    assert result.exit_code == 1, result.output
    return out, json.loads(result.stdout)


def test_check_html_writes_a_report_whose_violation_links_to_its_trace_view(
    check_run: tuple[Path, dict[str, Any]],
) -> None:
    out, report = check_run
    index = (out / "report" / "index.html").read_text()
    (violated,) = [e for e in report["invariants"] if e["status"] == "violated"]
    links = re.findall(r'href="([^"]+)"', index)
    assert set(links) == {"traces/sync_server-3.html"}
    assert (out / "report" / links[0]).is_file()
    row = re.search(rf'<tr id="property-sync_server-{violated["id"]}">.*?</tr>', index)
    assert row is not None and "trace view" in row.group(0)
    # Every row of the spec is in the report's diagram or its table, with its hits; the rows the
    # run never hit are the ones marked.
    hit, declared = report["coverage"]["sync_server"]
    table = re.findall(
        r'<tr data-row="([^"]+)"( class="uncovered")?>.*?<td class="num">(\d+)', index
    )
    assert len(table) == declared == len(machines()["sync_server"].spec.rows)
    assert sum(1 for _, marked, _ in table if marked) == declared - hit
    assert all((hits == "0") == bool(marked) for _, marked, hits in table)
    assert "<script" in index and "src=" not in index  # nothing to fetch


def test_the_rows_a_machine_trace_view_shows_are_the_rows_replay_takes(
    check_run: tuple[Path, dict[str, Any]],
) -> None:
    from blockfsm.adapters.engines.itf import load, read_machine_trace
    from blockfsm.spec.conformance import Conformant, Stats

    out, _ = check_run
    document = load(out / "traces" / "sync_server-3.itf.json")
    view = read_trace(document)
    trace = read_machine_trace(document)
    stats = Stats()
    runner = Conformant(
        machines()["sync_server"], trace.config, stats=stats, check_invariants=False
    )
    state = trace.initial
    taken = []
    for step in trace.steps:
        before = dict(stats.rows)
        state, _ = runner.step(state, step.event, step.view)
        (row,) = [r for r, n in stats.rows.items() if n != before.get(r, 0)]
        taken.append(row)
    assert [s["row"] for s in view.steps[1:]] == taken
    assert view.violation_step == document["#meta"]["violation"]["step"]
    failing = view.steps[view.violation_step]
    assert failing["effects"] and "request_id=" in failing["effects"][0]


def test_a_cluster_counterexample_is_drawn_message_by_message() -> None:
    document = planted_simulation()
    view = read_trace(document)
    assert len(view.steps) == 198 and view.violation_step == 197
    assert view.nodes == ["node 0", "node 1", "node 2", "node 3 (Byzantine)"]
    states = document["states"]
    for m in view.messages:
        received = states[m.received]
        # the receiver stepped the message, from the sender's key
        assert received["node"] == m.receiver
        peer = received["event"]["value"]["peer"]["value"]
        assert bytes.fromhex(peer) == _key(document, m.sender)
        if m.sent is not None:
            # it was sent earlier, by the sender, in a Send or Broadcast of that step
            assert m.sent < m.received
            assert states[m.sent]["node"] == m.sender
            carried = [v for k, v in received["event"]["value"].items() if k != "peer"]
            sent = [e["value"]["message"] for e in states[m.sent]["effects"]["#tup"]
                    if e["tag"].rpartition(".")[2] in ("Send", "Broadcast")]  # fmt: skip
            assert carried[0] in sent
    honest = [m for m in view.messages if m.sent is not None]
    from_byzantine = [m for m in view.messages if m.sender == 3]
    assert len(honest) > 50 and from_byzantine and all(m.sent is None for m in from_byzantine)
    assert all(s["row"] for s in view.steps)  # the node spec: one row per event type
    page = view_document(document)
    assert page.count('class="msc-step"') == 198
    assert 'class="violation-band"' in page and ">C-4</text>" in page


def _key(document: dict[str, Any], node: int) -> bytes:
    from blockfsm.adapters.engines.itf import decode
    from blockfsm.adapters.engines.sim import Simulation

    return Simulation(decode(document["#meta"]["config"])).nodes[node].key


def test_crashes_and_restarts_are_on_the_lifelines() -> None:
    sim = TracedSimulation(SimConfig(nodes=4, byzantine=1, seed=3))
    sim.run(6_000)
    sim.heal()
    sim.run(2_000)
    document = json.loads(json.dumps(simulation_document(sim)))
    view = read_trace(document)
    crashes = [n for n, s in enumerate(view.steps) if s.get("action") == "crash"]
    assert crashes and view.violation is None
    page = view_document(document)
    assert page.count("✕ crash") == len(crashes)


def test_an_exploration_trace_shows_the_twin_proposals_reaching_one_node(
    tmp_path: Path,
) -> None:
    patch = pytest.MonkeyPatch()
    attester_forgets_its_attestations(patch)
    try:
        system = ClusterSystem()
        found = bfs(system)
        assert found.violation is not None
        document = json.loads(json.dumps(system_document(system, found.violation)))
    finally:
        patch.undo()
    view = read_trace(document)
    assert [s["action"] for s in view.steps[1:]] == ["tick", "deliver", "deliver"]
    assert view.violation_step == 3
    # The Byzantine producer (node 1) sent both proposals at the tick; node 0 received each.
    assert [(m.sender, m.receiver, m.sent, m.received) for m in view.messages] == [
        (1, 0, 1, 2),
        (1, 0, 1, 3),
    ]
    assert view.nodes[1] == "node 1 (Byzantine)"
    # What each action put in flight is its effects: at the tick, the block and its twin to
    # every other node, and the producer's vote; at the first delivery, node 0's vote.
    proposals = [f"node 1 sends node {d} Proposal r0" for d in (0, 0, 2, 2, 3, 3)]
    votes = [f"node {s} sends node {d} Vote h0 r0 phase 0" for s, d in ((1, 0), (1, 2), (1, 3))]
    assert view.steps[1]["effects"] == proposals + votes
    assert view.steps[2]["effects"] == [
        f"node 0 sends node {d} Vote h0 r0 phase 0" for d in (1, 2, 3)
    ]
    assert [s["row"] for s in view.steps[1:]] == ["N1", "N6", "N6"]


def test_a_sync_exploration_trace_is_viewed_without_a_chart() -> None:
    from blockfsm.adapters.engines.explore import SyncSystem
    from blockfsm.machine.sync_client import advertisements, responses

    patch = pytest.MonkeyPatch()
    for module in (advertisements, responses):  # the client takes any certificate as valid
        patch.setattr(module, "certificate_is_valid", lambda *args: True)
    try:
        system = SyncSystem()
        found = bfs(system)
        assert found.violation is not None
        document = json.loads(json.dumps(system_document(system, found.violation)))
    finally:
        patch.undo()
    view = read_trace(document)
    assert len(view.steps) == len(document["states"]) and view.violation_step == len(view.steps) - 1
    assert view.steps[-1]["title"].startswith("forge") and not view.nodes and view.spec is None
    assert any(s["diff"] for s in view.steps[1:])
    assert 'class="msc"' not in view_document(document)


def test_a_model_trace_is_viewed() -> None:
    from blockfsm.adapters.engines.modeltrace import model_document
    from blockfsm.machine import attester as att
    from blockfsm.machine.core import Tick
    from blockfsm.machine.crypto import StandInSigner, StandInVerifier
    from blockfsm.machine.types import ValidatorSet
    from blockfsm.spec.consensus_model import keeper_view

    signers = [StandInSigner.from_seed(i) for i in range(4)]
    config = att.AttesterConfig(
        chain_id=7,
        signer=signers[0],
        verifier=StandInVerifier.of(signers),
        validators=ValidatorSet.equal(s.public_key for s in signers),
    )
    state = att.initial(config)
    steps = []
    for n in range(3):
        event = Tick(now=1000 * n)
        from blockfsm.machine.view import InMemoryChain

        state, _ = att.step(config, state, event, InMemoryChain(7).snapshot())
        steps.append((n, "tick", [event], keeper_view(state, -1, {})))
    document = json.loads(
        json.dumps(
            model_document(
                config=config,
                initial=att.initial(config),
                keeper=0,
                values={},
                steps=steps,
                source="test",
            )
        )
    )
    view = read_trace(document)
    assert len(view.steps) == 3 and view.spec is not None and view.spec.name == "attester"


@pytest.mark.parametrize(
    ("content", "says"),
    [
        ("{not json", "not a trace"),
        ('["a list"]', "not a trace"),
        ('{"#meta": {"kind": "machine"}, "states": []}', "no #meta object or no states"),
        ('{"#meta": {"kind": "poem"}, "states": [{}]}', "kind 'poem'"),
        ('{"#meta": {"kind": "simulation"}, "states": [{"node": 0}]}', "missing field"),
    ],
)
def test_what_is_not_a_trace_is_one_line_and_status_4(
    tmp_path: Path, content: str, says: str
) -> None:
    path = tmp_path / "bad.itf.json"
    path.write_text(content)
    result = CliRunner().invoke(main, ["view", str(path), "-o", str(tmp_path / "out.html")])
    assert result.exit_code == 4, result.output
    assert says in result.output and len(result.output.strip().splitlines()) == 1
    assert not (tmp_path / "out.html").exists()


def test_the_view_of_a_200_step_cluster_trace_is_under_2_mb(tmp_path: Path) -> None:
    path = tmp_path / "simulation-10.itf.json"
    path.write_text(json.dumps(planted_simulation()))
    result = invoke("view", str(path), "-o", str(tmp_path / "page.html"))
    assert result.exit_code == 0, result.output
    page = (tmp_path / "page.html").read_text()
    assert len(page.encode()) < 2_000_000
    data = re.search(r'<script type="application/json" id="trace-data">(.*?)</script>', page)
    assert data is not None and len(json.loads(data.group(1))["steps"]) == 198


def test_every_transition_row_is_one_edge_and_the_unhit_edges_are_marked() -> None:
    for name, machine in machines().items():
        spec = machine.spec
        counts = {r.id: (0 if k % 3 == 0 else k) for k, r in enumerate(spec.rows)}
        svg = diagram_svg(spec, counts)
        drawn = re.findall(r'<g class="(edge[^"]*)" data-rows="([^"]*)"', svg)
        assert len(drawn) == len(edges(spec)), name
        ids = [i for _, rows in drawn for i in rows.split()]
        transitions = [r for r in spec.rows if r.kind == "transition"]
        assert sorted(set(ids)) == sorted(r.id for r in transitions), name
        for classes, rows in drawn:
            never = all(counts[i] == 0 for i in rows.split())
            assert ("uncovered" in classes) == never, (name, rows)
        named = re.findall(r'class="uncovered-rows" fill="#b00" data-rows="([^"]*)"', svg)
        unhit = {r.id for r in spec.rows if r.kind != "transition" and counts[r.id] == 0}
        assert {i for rows in named for i in rows.split()} == unhit, name


# --- ITF values in words, and their differences --------------------------------------------------

leaves = st.one_of(
    st.integers(-(2**60), 2**60).map(encode),
    st.text(max_size=5),
    st.booleans(),
    st.binary(max_size=4).map(encode),
    st.none().map(encode),
)
values = st.recursive(
    leaves,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.lists(inner, max_size=3).map(lambda xs: {"#tup": xs}),
        st.lists(inner, max_size=3, unique_by=lambda x: json.dumps(x, sort_keys=True)).map(
            lambda xs: {"#set": xs}
        ),
        st.dictionaries(st.sampled_from("abc"), inner, max_size=3).map(
            lambda d: {"tag": "Rec", "value": d}
        ),
        st.dictionaries(st.sampled_from("xyz"), inner, min_size=1, max_size=3),
    ),
    max_leaves=12,
)


@given(values, values)
def test_two_values_differ_exactly_when_a_difference_is_listed(a: Any, b: Any) -> None:
    found = differences(a, b)
    assert (found == []) == (a == b)
    assert len(show(a, 50)) <= 50


@given(values)
def test_a_change_in_one_leaf_is_listed_at_its_path(a: Any) -> None:
    b = {"tag": "Rec", "value": {"a": a, "b": 1}}
    c = {"tag": "Rec", "value": {"a": a, "b": 2}}
    assert differences(b, c) == [("b", "1", "2")]


def test_without_the_keys_a_cluster_trace_still_shows_its_lifelines(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A trace of Ed25519 keys viewed where PyNaCl is missing: no sender can be named."""
    from blockfsm.adapters.engines import sim

    document = planted_simulation()

    def no_nacl(self: Any, config: Any, **kwargs: Any) -> None:
        raise ImportError("nacl")

    monkeypatch.setattr(sim.Simulation, "__init__", no_nacl)
    view = read_trace(document)
    assert view.nodes[3] == "node 3 (Byzantine)" and view.messages == []
    assert len(view.steps) == 198


def test_a_report_of_a_run_in_worker_processes_says_hit_not_how_often(tmp_path: Path) -> None:
    """With --workers the counts stay in the workers: the report has which rows were hit."""
    from blockfsm.adapters.engines.campaigns import run_campaign
    from blockfsm.adapters.engines.registry import campaigns
    from blockfsm.adapters.engines.views.report import write_report

    (server,) = [c for c in campaigns() if c.machine == "sync_server"]
    result = run_campaign(server, budget_seconds=30.0, seed=1, max_examples=5)
    index = write_report(
        tmp_path, results=[result], explorations=[], trace_files={}, counts={}, ok=True,
        seed=1, budget=30.0, profile="test",
    )  # fmt: skip
    text = index.read_text()
    assert "hit or not" in text and " hits</tspan>" not in text
    cells = re.findall(
        r'<tr data-row="([^"]+)"( class="uncovered")?>.*?<td class="num">(\w+)', text
    )
    assert {hits for _, _, hits in cells} <= {"hit", "0"}
    assert {row for row, marked, _ in cells if marked} == set(result.unhit_rows)
