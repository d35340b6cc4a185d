"""The exhaustive explorer: complete over the default sync system, deterministic, and it finds a
planted bug with a shortest path written as a replayable ITF trace."""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import attrs
import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st
from planted import attester_forgets_its_attestations, undone

from blockfsm.adapters.commands.cli import main
from blockfsm.adapters.engines import explore as explore_module
from blockfsm.adapters.engines import itf
from blockfsm.adapters.engines.explore import (
    ADVERSARY_EXPLORATIONS,
    ClusterSystem,
    StateEncoder,
    StateInvariant,
    SyncSystem,
    bfs,
    dfs,
    system_document,
    write_trace,
)
from blockfsm.adapters.engines.replay import replay_document
from blockfsm.machine import node as node_machine
from blockfsm.machine.sync_client import advertisements as client_advertisements
from blockfsm.machine.sync_client import responses as client_responses


def invoke(*args: str) -> Any:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_the_sync_system_is_explored_completely_and_every_invariant_holds() -> None:
    result = invoke("explore", "--ticks", "2", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["complete"] is True and report["ok"] is True
    assert report["distinct"] > 100 and report["states"] >= report["distinct"] - 1
    assert report["depth"] >= 5


def test_exploration_is_deterministic_across_runs() -> None:
    a, b = bfs(SyncSystem(ticks=2)), bfs(SyncSystem(ticks=2))
    assert (a.states, a.distinct, a.depth) == (b.states, b.distinct, b.depth)


def test_state_invariants_are_checked_in_every_state() -> None:
    """The client does catch up in this system: a claim that it never does is refuted, at the
    smallest depth (tick, the advertisement, tick, the request, the response)."""
    system = SyncSystem(ticks=2)
    system.invariants = (
        *system.invariants,
        StateInvariant("never-caught-up", "the client never commits", lambda w: w.committed < 0),
    )
    report = bfs(system)
    assert report.violation is not None and report.violation.property_id == "never-caught-up"
    shorter = bfs(system, max_depth=len(report.violation.actions) - 1)
    assert shorter.violation is None and not shorter.complete


@pytest.fixture
def certificates_unchecked(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """The planted bug: the client takes any certificate as valid."""
    # Set where the client looks it up: advertisements and responses each check certificates.
    for module in (client_advertisements, client_responses):
        monkeypatch.setattr(module, "certificate_is_valid", lambda *args: True)
    return monkeypatch


def test_a_planted_bug_is_found_with_a_shortest_path_and_replays(
    certificates_unchecked: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    result = invoke("explore", "--json", "--trace-dir", str(tmp_path))
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    violation = report["violation"]
    depth = violation["depth"]
    assert report["complete"] is False and violation["property"] in ("conformance", "SC-2")
    assert violation["path"][-1].startswith("forge")  # the forged reply is the step that breaks it
    # Shortest: nothing within one action less breaks anything.
    assert bfs(SyncSystem(), max_depth=depth - 1).violation is None

    path = Path(report["trace_file"])
    document = json.loads(path.read_text())
    assert document["#meta"]["kind"] == "system" and len(document["states"]) == depth + 1
    assert [s["mbt::actionTaken"] for s in document["states"]][-1] == "forge"
    assert replay_document(document).verdict == "reproduces"
    text = invoke("replay", str(path))
    assert text.exit_code == 1 and "reproduces" in text.stdout

    certificates_unchecked.undo()  # the fix
    fixed = replay_document(document)
    assert fixed.verdict == "diverges" and fixed.step == depth


def test_the_text_report_prints_the_shortest_path(
    certificates_unchecked: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    result = invoke("explore", "--trace-dir", str(tmp_path))
    assert result.exit_code == 1
    assert "Shortest path (4 actions" in result.stdout and "trace written to" in result.stdout


def test_depth_bounded_dfs_finds_the_bug_and_respects_its_bound(
    certificates_unchecked: pytest.MonkeyPatch,
) -> None:
    found = dfs(SyncSystem(), max_depth=6)
    assert found.violation is not None and len(found.violation.actions) <= 6
    certificates_unchecked.undo()
    clean = dfs(SyncSystem(ticks=2), max_depth=5)
    assert clean.violation is None and clean.depth == 5 and not clean.complete


def test_a_system_trace_of_a_changed_system_state_diverges() -> None:
    system = SyncSystem(ticks=2)
    invariant = StateInvariant("never-caught-up", "-", lambda w: w.committed < 0)
    system.invariants = (*system.invariants, invariant)
    report = bfs(system)
    assert report.violation is not None
    document = json.loads(json.dumps(system_document(system, report.violation)))
    # The recorded invariant is not one of the registered system's: replay runs the real system,
    # in which every step matches, so it reports that the recorded failure no longer happens.
    result = replay_document(document)
    assert result.verdict == "diverges" and "every step now passes" in result.detail
    document["states"][2]["system"]["value"]["now"] = 5_000
    result = replay_document(document)
    assert result.verdict == "diverges" and result.step == 2
    assert [d.path for d in result.differences] == ["system.now"]


# --- symmetry reduction, on a system where it is sound ------------------------------------------


@attrs.frozen
class Counters:
    """N interchangeable counters, each may step up to K: permuting them commutes with every
    step, so a state and its sorted permutation have the same futures."""

    n: int
    k: int
    symmetric: bool
    name: str = "counters"
    invariants: tuple[StateInvariant, ...] = (
        StateInvariant("bounded", "no counter passes 3", lambda s: max(s, default=0) <= 3),
    )

    @property
    def parameters(self) -> dict[str, Any]:
        return {"n": self.n, "k": self.k}

    def initial(self) -> tuple[int, ...]:
        return (0,) * self.n

    def actions(self, state: tuple[int, ...]) -> list[int]:
        return [i for i, v in enumerate(state) if v < self.k]

    def step(self, state: tuple[int, ...], i: int) -> tuple[int, ...]:
        return (*state[:i], state[i] + 1, *state[i + 1 :])

    def key(self, state: tuple[int, ...]) -> bytes:
        return bytes(sorted(state) if self.symmetric else state)


def test_symmetry_reduction_visits_one_state_per_class() -> None:
    full = bfs(Counters(n=4, k=3, symmetric=False))
    reduced = bfs(Counters(n=4, k=3, symmetric=True))
    assert full.complete and reduced.complete
    assert full.distinct == 4**4  # every vector in 0..3
    assert reduced.distinct == 35  # multisets of size 4 over 4 values: C(7, 4)
    assert full.depth == reduced.depth == 12


def test_check_runs_the_explorations_of_the_machines_it_checks(tmp_path: Path) -> None:
    """With machines named, only the explorations declared as checking one of them run."""
    ((report, trace),) = explore_module.default_explorations(tmp_path, machines=("sync_client",))
    assert report.system == "sync" and report.complete and trace is None
    assert explore_module.default_explorations(tmp_path, machines=("no_such_machine",)) == []


def test_check_json_reports_the_exploration(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every exploration is reported (the adversary's, shortened here to 8 ticks: their full
    bounds are tested below)."""
    short = tuple({**bounds, "ticks": 8} for bounds in ADVERSARY_EXPLORATIONS)
    # The default cluster with one delay, not two: its full bounds are explored by the coverage
    # test below; here it is the report that is tested. Each exploration is declared as checking
    # sync_server too, so `check --machine sync_server` runs them all.
    checks = ("sync_server", "cluster")
    monkeypatch.setattr(
        explore_module,
        "EXPLORATIONS",
        (
            ("sync", {}, checks),
            ("cluster", {"delays": 1}, checks),
            *(("cluster", bounds, checks) for bounds in short),
        ),
    )
    result = invoke(
        "check", "--machine", "sync_server", "--examples", "20", "--seed", "1", "--json",
        "--trace-dir", str(tmp_path),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    exploration = json.loads(result.stdout)["exploration"]
    assert exploration["complete"] is True and exploration["states"] > 1_000
    assert exploration["depth"] > 10
    sync, cluster, crash, forgery = exploration["systems"]
    assert sync["system"] == "sync" and cluster["system"] == "cluster"
    assert cluster["parameters"]["nodes"] == 4 and cluster["parameters"]["heights"] == 3
    assert sync["complete"] and cluster["complete"] and cluster["ok"]
    assert crash["parameters"]["crashes"] == 1 and forgery["parameters"]["forgeries"] == 1
    assert all(e["complete"] and e["ok"] for e in (crash, forgery))
    assert all("top_round" in e["figures"] for e in (cluster, crash, forgery))
    systems = (sync, cluster, crash, forgery)
    assert exploration["states"] == sum(e["states"] for e in systems)
    assert exploration["depth"] == max(e["depth"] for e in systems)


def test_explore_refuses_bad_arguments_clearly() -> None:
    for args in (
        ["explore", "--dfs"],
        ["explore", "--nodes", "4"],
        ["explore", "--ticks", "-1"],
        ["explore", "--byzantine", "0"],
    ):
        result = CliRunner().invoke(main, args)
        assert result.exit_code == 2 and "Error" in result.output


def test_write_trace_writes_nothing_without_a_violation(tmp_path: Path) -> None:
    system = SyncSystem(ticks=1)
    assert write_trace(system, bfs(system), tmp_path) is None


# --- the node cluster ----------------------------------------------------------------------------


@pytest.fixture
def attester_signs_twice(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """The issue's planted bug: an attester that signs again in a round it already signed in."""

    attester_forgets_its_attestations(monkeypatch)
    return monkeypatch


def test_an_attester_that_signs_twice_per_height_is_found_with_a_shortest_path(
    attester_signs_twice: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    result = invoke(
        "explore", "--system", "cluster", "--nodes", "4", "--heights", "3", "--json",
        "--trace-dir", str(tmp_path),
    )  # fmt: skip
    assert result.exit_code == 1, result.output
    report = json.loads(result.stdout)
    violation = report["violation"]
    assert violation["property"] == "C-4"
    # The equivocating producer's tick, then its block and the twin reach one honest node.
    assert violation["depth"] == 3 and violation["path"][0] == "tick"
    assert all("Proposal 1->" in step for step in violation["path"][1:])
    system = ClusterSystem()
    assert bfs(system, max_depth=2).violation is None  # nothing shorter

    document = json.loads(Path(report["trace_file"]).read_text())
    assert replay_document(document).verdict == "reproduces"
    attester_signs_twice.undo()
    fixed = replay_document(document)
    # The fixed guard records the first attestation, which the planted one left out: the replay
    # departs there, at or before the violation.
    assert fixed.verdict == "diverges" and 1 <= fixed.step <= 3


def test_the_honest_cluster_keeps_its_invariants_to_a_bounded_depth() -> None:
    report = bfs(ClusterSystem(**ASYNC), max_depth=3)
    assert report.violation is None and report.depth == 3 and not report.complete
    assert report.distinct > 50


def test_a_violation_in_the_initial_state_is_reported_at_depth_zero() -> None:
    system = SyncSystem(ticks=1)
    system.invariants = (StateInvariant("never", "nothing holds", lambda w: False),)
    for report in (bfs(system), dfs(system, max_depth=3)):
        assert report.violation is not None and report.violation.actions == ()
        assert report.depth == 0


# --- the partial-order reduction: sleep sets over commuting deliveries -------------------------

ASYNC: dict[str, Any] = {"delays": None, "ticks": 1, "in_flight": 12}
"""The cluster on an asynchronous network (any message in flight may be delivered next), with
one tick and room for 12 messages: the configuration the sleep sets are measured on."""


def _visited(system: Any, *, reduce: bool, max_depth: int | None = None) -> tuple[Any, set[bytes]]:
    """The report of a breadth-first search and the encodings of every state it reached."""
    seen: set[bytes] = set()
    key = system.key

    def recording(world: Any) -> bytes:
        encoded: bytes = key(world)
        seen.add(encoded)
        return encoded

    system.key = recording
    try:
        return bfs(system, reduce=reduce, max_depth=max_depth), seen
    finally:
        system.key = key


@functools.cache
def _full_search(**parameters: int) -> tuple[Any, frozenset[bytes]]:
    report, seen = _visited(ClusterSystem(**{**ASYNC, **parameters}), reduce=False)
    return report, frozenset(seen)


@pytest.mark.parametrize(
    "parameters",
    [
        {"nodes": 3, "heights": 1, "in_flight": 4},
        {"nodes": 3, "heights": 1, "in_flight": 3, "faults": 1},
    ],
)
def test_sleep_sets_visit_every_state_with_fewer_transitions(parameters: dict[str, int]) -> None:
    full, every = _full_search(**parameters)
    reduced, visited = _visited(ClusterSystem(**{**ASYNC, **parameters}), reduce=True)
    assert full.complete and reduced.complete
    assert full.violation is None and reduced.violation is None
    assert visited == every and reduced.distinct == full.distinct
    assert reduced.depth == full.depth
    assert reduced.states < full.states  # transitions taken
    assert reduced.mode == "bfs+sleep"


def test_sleep_sets_reach_every_state_within_a_depth_bound() -> None:
    """On an asynchronous network 4 nodes and 3 heights do not complete; to depth 4 the reduced
    search reaches exactly the states the full one does, at the same depths (a pruned
    transition's successor is reached by a path of the same length)."""
    full, every = _visited(ClusterSystem(**ASYNC), reduce=False, max_depth=4)
    reduced, visited = _visited(ClusterSystem(**ASYNC), reduce=True, max_depth=4)
    assert visited == every and reduced.distinct == full.distinct > 500
    assert reduced.states < full.states


class _SameNodeCommutes(ClusterSystem):
    """A wrong independence relation: two deliveries to one node are said to commute."""

    def independent(self, world: Any, a: Any, b: Any) -> bool:
        if a is None or b is None or a[1] == b[1]:
            return False
        return len(world.flight) - 2 + a[3] + b[3] <= self.in_flight


def test_a_wrong_independence_relation_loses_states() -> None:
    """The comparison above can fail: claiming that deliveries to one node commute (they do not:
    the first proposal a node receives is the one it attests) prunes reachable states."""
    parameters = {"nodes": 3, "heights": 1, "in_flight": 4}
    _, every = _full_search(**parameters)
    _, visited = _visited(_SameNodeCommutes(**{**ASYNC, **parameters}), reduce=True)
    assert visited < every


def test_the_reduced_search_finds_the_planted_bug_at_the_same_depth(
    attester_signs_twice: pytest.MonkeyPatch,
) -> None:
    full = bfs(ClusterSystem(**ASYNC), reduce=False)
    reduced = bfs(ClusterSystem(**ASYNC), reduce=True)
    assert full.violation is not None and reduced.violation is not None
    assert full.violation.property_id == reduced.violation.property_id == "C-4"
    assert len(reduced.violation.actions) == len(full.violation.actions) == 3


def test_reduce_is_refused_where_it_does_not_apply() -> None:
    for args in (
        ["explore", "--reduce"],
        [
            "explore",
            "--system",
            "cluster",
            "--delays",
            "unbounded",
            "--reduce",
            "--dfs",
            "--depth",
            "2",
        ],
        ["explore", "--system", "cluster", "--reduce"],
    ):
        result = CliRunner().invoke(main, args)
        assert result.exit_code == 2 and "--reduce" in result.output
    with pytest.raises(ValueError, match="does not state which"):
        bfs(SyncSystem(ticks=1), reduce=True)


def test_explore_cluster_reduces_by_default_and_no_reduce_visits_the_same_states() -> None:
    common = [
        "explore",
        "--system",
        "cluster",
        "--nodes",
        "3",
        "--heights",
        "1",
        "--in-flight",
        "4",
        "--ticks",
        "1",
        "--delays",
        "unbounded",
    ]
    common.append("--json")
    reduced = json.loads(invoke(*common).stdout)
    full = json.loads(invoke(*common, "--no-reduce").stdout)
    assert reduced["mode"] == "bfs+sleep" and full["mode"] == "bfs"
    assert reduced["complete"] and full["complete"]
    assert reduced["distinct"] == full["distinct"] and reduced["states"] < full["states"]


@attrs.define(slots=False)
class Shifts:
    """Small random systems over integer vectors: action (i, d, j, op, c) adds d to x[i] (kept
    in 0..k) when x[j] compares with c (op: <, ==, >=). Two actions are independent in a state
    exactly when both orders are possible there and reach the same state (the diamond), which is
    what the sleep-set search assumes of a system's ``independent``."""

    moves: tuple[tuple[int, int, int | None, int, int], ...]
    k: int
    n: int
    name: str = "shifts"
    invariants: tuple[StateInvariant, ...] = ()

    @property
    def parameters(self) -> dict[str, Any]:
        return {}

    def initial(self) -> tuple[int, ...]:
        return (0,) * self.n

    def enabled(self, s: tuple[int, ...], move: tuple[int, int, int | None, int, int]) -> bool:
        i, d, j, op, c = move
        if not 0 <= s[i] + d <= self.k:
            return False
        return j is None or (s[j] < c, s[j] == c, s[j] >= c)[op]

    def actions(self, s: tuple[int, ...]) -> list[Any]:
        return [m for m in self.moves if self.enabled(s, m)]

    def step(self, s: tuple[int, ...], move: Any) -> tuple[int, ...]:
        return (*s[: move[0]], s[move[0]] + move[1], *s[move[0] + 1 :])

    def key(self, s: tuple[int, ...]) -> bytes:
        return bytes(s)

    def action_id(self, s: Any, move: Any) -> Any:
        return move

    def footprint(self, s: Any, move: Any, after: Any) -> Any:
        return move

    def independent(self, s: tuple[int, ...], a: Any, b: Any) -> bool:
        if a == b or not (self.enabled(s, a) and self.enabled(s, b)):
            return False
        sa, sb = self.step(s, a), self.step(s, b)
        return self.enabled(sa, b) and self.enabled(sb, a) and self.step(sa, b) == self.step(sb, a)


def test_sleep_sets_reach_every_state_of_small_random_systems() -> None:
    import random

    rng = random.Random(1)
    pruned = 0
    for _ in range(300):
        n, k = rng.randint(2, 4), rng.randint(1, 3)
        moves = []
        for _ in range(rng.randint(2, 7)):
            i, j = rng.randrange(n), rng.choice([None, *range(n)])
            d, op, c = rng.choice([1, 1, -1]), rng.randint(0, 2), rng.randint(0, k)
            moves.append((i, d, None if j == i else j, op, c))
        system = Shifts(moves=tuple(dict.fromkeys(moves)), k=k, n=n)
        full, every = _visited(system, reduce=False)
        reduced, visited = _visited(system, reduce=True)
        assert visited == every, system
        assert reduced.depth == full.depth, system
        assert reduced.states <= full.states
        pruned += full.states - reduced.states
        for bound in range(1, full.depth):  # each state is reached at its breadth-first depth
            assert (
                _visited(system, reduce=True, max_depth=bound)[1]
                == (_visited(system, reduce=False, max_depth=bound)[1])
            ), (system, bound)
    assert pruned > 1_000  # the reduction did prune transitions


def test_the_cluster_key_tells_states_apart_exactly_as_their_encoding_does() -> None:
    """The cluster's key is built from its parts' cached encodings; over the first 2,000 states
    of a small search with faults, two states share a key exactly when their canonical encodings
    are equal."""
    from blockfsm.adapters.engines import itf

    system = ClusterSystem(nodes=3, heights=1, in_flight=3, faults=1)
    pairs: dict[bytes, bytes] = {}
    key = system.key

    def recording(world: Any) -> bytes:
        encoded: bytes = key(world)
        assert pairs.setdefault(encoded, itf.canonical(world)) == itf.canonical(world)
        return encoded

    system.key = recording
    report = bfs(system, reduce=False, max_states=2_000)
    assert report.distinct >= 2_000 and len(pairs) >= report.distinct
    assert len(set(pairs.values())) == len(pairs)


# --- the delay-bounded network (the cluster's default) -------------------------------------------


def _worlds(system: ClusterSystem, **bounds: Any) -> tuple[Any, set[bytes]]:
    """The report of a breadth-first search and every world it reached, normalized so that
    worlds of an asynchronous network and of a delay-bounded one compare: the delays spent are
    forgotten and the messages in flight sorted."""
    seen: set[bytes] = set()
    key = system.key

    def recording(world: Any) -> bytes:
        flight = tuple(sorted(world.flight, key=system._encoded))
        seen.add(key(attrs.evolve(world, delays=0, flight=flight)))
        return key(world)

    system.key = recording  # type: ignore[method-assign]
    try:
        return bfs(system, **bounds), seen
    finally:
        system.key = key  # type: ignore[method-assign]


SMALL: dict[str, Any] = {"nodes": 3, "heights": 1, "in_flight": 4, "ticks": 1}


def test_more_delays_reach_more_states_and_enough_reach_every_asynchronous_one() -> None:
    """Each delay budget reaches a subset of the next one's states (a delay-bounded run is a run
    of the asynchronous network), strictly more for the first budgets (so the delays are
    charged: a free out-of-order delivery would make 0 delays reach as much as 1), and a budget
    as large as the run's messages reaches every state of the asynchronous network."""
    _, every = _worlds(ClusterSystem(**SMALL, delays=None))
    reached = [_worlds(ClusterSystem(**SMALL, delays=k))[1] for k in (0, 1, 2, 40)]
    assert reached[0] < reached[1] < reached[2] <= reached[3]
    assert reached[3] == every


def test_no_delays_is_one_run_that_finalizes_every_height() -> None:
    """With no delay to spend the network delivers in send order and time passes only when no
    message is in flight: one run, and in it every node finalizes all three heights (the
    equivocating producer's block, sent before its twin, is final at height 0)."""
    system = ClusterSystem(delays=0)
    report = bfs(system)
    assert report.complete and report.violation is None
    assert report.distinct == report.depth + 1 == report.states + 1
    world = system.initial()
    while actions := system.actions(world):
        (action,) = actions
        world = system.step(world, action)
    assert [committed for _, committed, _ in world.chains] == [2, 2, 2, 2]
    assert b"/twin" not in world.chains[0][0][0].payload


def test_a_delay_is_one_message_overtaken_or_one_early_timer() -> None:
    """Delivering the third message in flight overtakes two; a timer fired while messages are in
    flight spends one; the budget disables what it cannot pay for."""
    system = ClusterSystem(delays=2)
    world = system.step(system.initial(), ("tick",))  # the producer's block and twin, sent
    assert len(world.flight) >= 3 and world.delays == 0
    third = system.step(world, ("deliver", 2, ""))
    assert third.delays == 2
    assert all(a[0] != "deliver" or a[1] == 0 for a in system.actions(third))
    assert ("tick",) not in system.actions(third)
    early = system.step(world, ("tick",))
    assert early.delays == 1


def test_the_default_cluster_exploration_covers_round_changes_and_locks() -> None:
    """The default exploration is not vacuous: some states have every node final at height 2,
    some a node in round 1, some a node that carries a lock into a later round, and some a
    split vote over the twin. (With Tendermint's rounds, a round ends only after a quorum
    confirmed in it: one delay no longer reaches a lock carried into round 1; two do.)

    The search stops at the first state by which all four were seen (a "violation" of the
    probe below), so the test does not pay for the whole search; that the whole default
    exploration completes with every invariant holding is checked by ``blockfsm check`` and by
    the ``blockfsm explore --system cluster`` step of .ci/run."""
    seen: dict[str, int] = {"all final": 0, "round 1": 0, "lock carried": 0, "split": 0}
    system = ClusterSystem(delays=2)

    def not_yet_all_seen(world: Any) -> bool:
        attesters = [n.attester for n in world.nodes]
        seen["all final"] += all(c == 2 for _, c, _ in world.chains)
        seen["round 1"] += any(a.round >= 1 for a in attesters)
        seen["lock carried"] += any(0 <= a.guard.locked_round < a.round for a in attesters)
        attested = {
            h for (_, height, r, phase, h) in world.signed if (height, r, phase) == (0, 0, 0)
        }
        seen["split"] += len(attested) > 1
        return not all(count > 0 for count in seen.values())

    system.invariants = (*system.invariants, StateInvariant("seen", "coverage", not_yet_all_seen))
    report = bfs(system)
    assert report.violation is not None, seen
    assert report.violation.property_id == "seen", report.violation  # no real invariant broke
    assert all(count > 0 for count in seen.values()), seen


@pytest.mark.parametrize("bounds", ADVERSARY_EXPLORATIONS, ids=["crash", "forgery"])
def test_the_adversary_explorations_complete_safe_and_reach_round_3(bounds: dict[str, Any]) -> None:
    """Each exploration ``blockfsm check`` runs under the adversary's budgets completes with every
    cluster invariant holding, and some honest keeper is in round 3 in some state."""
    system = ClusterSystem(**bounds)
    report = bfs(system)
    assert report.complete and report.violation is None, report.violation
    assert report.figures["top_round"] >= 3


def test_the_crash_exploration_finds_a_restart_that_forgets_its_guards(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A node that comes back from a crash without the guards it persisted signs again where it
    signed before: the crash exploration finds it (C-4), in a path that crashes a node."""
    initial = node_machine.initial

    def amnesiac(config: Any, guard: Any = None, signing_guard: Any = None) -> Any:
        return initial(config, None, None)

    monkeypatch.setattr(node_machine, "initial", amnesiac)
    report = bfs(ClusterSystem(**ADVERSARY_EXPLORATIONS[0]))
    assert report.violation is not None and report.violation.property_id == "C-4"
    assert any(action[0] == "crash" for action in report.violation.actions)


def test_the_forgery_exploration_finds_the_forged_proof_finding(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """F1 (docs/mutations-node.md): with the proof of a new block's proposal unchecked again,
    one forged proposal makes a keeper finalize a block no quorum certified."""
    undone(monkeypatch, "F1")
    report = bfs(ClusterSystem(**ADVERSARY_EXPLORATIONS[1]))
    v = report.violation
    assert v is not None and v.property_id in ("N-2", "C-7")
    assert v.actions[-1][0] == "forge" and "forged proof" in v.actions[-1][-1]


def test_restarts_and_forgeries_are_counted_and_refused_past_their_budget() -> None:
    system = ClusterSystem(heights=1, delays=0, ticks=2, crashes=1, forgeries=1, silent=True)
    world = system.step(system.initial(), ("tick",))
    crashes = [a for a in system.actions(world) if a[0] == "crash"]
    assert [a[1] for a in crashes] == [i for i in range(4) if i not in system.byzantine]
    after = system.step(world, crashes[0])
    assert after.crashed == 1 and not any(a[0] == "crash" for a in system.actions(after))
    quiet = world
    while quiet.flight:
        quiet = system.step(quiet, ("deliver", 0, ""))
    forged = [a for a in system.actions(quiet) if a[0] == "forge"]
    assert forged and all(a[1] not in system.byzantine for a in forged)
    once = system.step(quiet, forged[0])
    assert once.forged == 1 and not any(a[0] == "forge" for a in system.actions(once))
    for bad in ({"crashes": -1}, {"forgeries": -1}, {"lost_proposals": -1}):
        with pytest.raises(ValueError, match="must be >= 0"):
            ClusterSystem(**bad)


def test_the_default_exploration_finds_the_planted_bug_with_no_delay(
    attester_signs_twice: pytest.MonkeyPatch,
) -> None:
    report = bfs(ClusterSystem(delays=0))
    assert report.violation is not None and report.violation.property_id == "C-4"
    assert len(report.violation.actions) == 3


def test_delays_are_refused_where_they_do_not_apply() -> None:
    for args, message in (
        (["explore", "--delays", "2"], "--delays applies to the cluster"),
        (["explore", "--system", "cluster", "--delays", "-1"], "negative"),
        (["explore", "--system", "cluster", "--delays", "soon"], "neither an integer"),
        (["explore", "--system", "cluster", "--reduce"], "--delays unbounded"),
    ):
        result = CliRunner().invoke(main, args)
        assert result.exit_code == 2 and message in result.output, result.output
    with pytest.raises(ValueError, match="delays"):
        ClusterSystem(delays=-1)


_hashable = st.recursive(
    st.none() | st.booleans() | st.integers() | st.binary(max_size=4) | st.text(max_size=3),
    lambda inner: (
        st.tuples(inner, inner)
        | st.lists(inner, max_size=3).map(tuple)
        | st.frozensets(inner, max_size=3)
    ),
    max_leaves=8,
)
_values = _hashable | st.dictionaries(st.integers(0, 3), _hashable, max_size=2)


@given(_values, _values)
def test_the_state_encoder_tells_values_apart_exactly_as_itf_does(a: Any, b: Any) -> None:
    """The encoder is canonical (equal values, equal bytes: sets and maps in any insertion order)
    and self-delimiting (unequal values, unequal bytes, even when one's bytes begin the other's),
    judged against the ITF encoding, which is canonical by construction."""
    encode = StateEncoder()
    assert (encode(a) == encode(b)) == (itf.canonical(a) == itf.canonical(b))
    assert encode(a) == StateEncoder()(a)  # kept encodings are the fresh ones
    pair = encode((a, b))
    assert encode((b, a)) != pair or itf.canonical(a) == itf.canonical(b)


def test_the_state_encoder_ignores_construction_order() -> None:
    encode = StateEncoder()
    # 0 and 8 share a slot of a small set's table: the set built in the other order iterates in
    # the other order, so only sorting makes the two encodings equal.
    assert list(frozenset([0, 8])) != list(frozenset([8, 0]))
    assert encode(frozenset([0, 8])) == encode(frozenset([8, 0]))
    assert encode({8: "b", 0: "a"}) == encode({0: "a", 8: "b"})
    assert encode((1, True)) != encode((True, 1))
    # Strings and byte strings are length-prefixed: a tag byte inside one cannot shift the split.
    assert encode(("as", "c")) != encode(("a", "sc"))
    assert encode((b"ab", b"c")) != encode((b"a", b"bc"))
    assert encode(b"1") != encode(1) != encode("1")
