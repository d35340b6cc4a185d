"""One breadth-first search in several processes (``blockfsm explore --workers``): the same
distinct states, transitions, depth and verdict as one process, and a shortest path to a
violation."""

from __future__ import annotations

import json
from typing import Any

import pytest
from click.testing import CliRunner
from planted import attester_forgets_its_attestations

from blockfsm.adapters.commands.cli import main
from blockfsm.adapters.engines.explore import ClusterSystem, SyncSystem, bfs, bfs_workers
from blockfsm.adapters.engines.explore.parallel import _plan, owner_of
from blockfsm.adapters.engines.explore.search import successor

SMALL: dict[str, Any] = {"nodes": 3, "heights": 1, "in_flight": 4, "ticks": 2, "delays": 2}


def _same(a: Any, b: Any) -> None:
    assert (a.distinct, a.states, a.depth, a.complete) == (
        b.distinct,
        b.states,
        b.depth,
        b.complete,
    )
    assert (a.violation is None) == (b.violation is None)
    assert a.figures == b.figures


@pytest.fixture(scope="module")
def one_process() -> tuple[Any, Any]:
    return bfs(ClusterSystem(**SMALL)), bfs(SyncSystem(ticks=2))


@pytest.mark.timeout(120)
@pytest.mark.parametrize("workers", [1, 2, 3])
def test_workers_reach_the_states_of_one_process(
    workers: int, one_process: tuple[Any, Any]
) -> None:
    cluster, sync = one_process
    assert cluster.complete and cluster.violation is None and cluster.distinct > 100
    _same(bfs_workers(ClusterSystem(**SMALL), workers), cluster)
    _same(bfs_workers(SyncSystem(ticks=2), workers), sync)


@pytest.mark.timeout(120)
def test_workers_stop_at_the_same_depth_bound() -> None:
    _same(
        bfs_workers(ClusterSystem(**SMALL), 2, max_depth=4),
        bfs(ClusterSystem(**SMALL), max_depth=4),
    )


@pytest.mark.timeout(120)
def test_workers_find_the_planted_bug_with_a_shortest_path(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    attester_forgets_its_attestations(monkeypatch)
    one = bfs(ClusterSystem())
    two = bfs_workers(ClusterSystem(), 2)
    assert one.violation is not None and two.violation is not None
    assert two.violation.property_id == one.violation.property_id == "C-4"
    assert len(two.violation.actions) == len(one.violation.actions) == two.depth == 3
    system = ClusterSystem()
    world = system.initial()
    *before, last = two.violation.actions
    for action in before:
        world, found = successor(system, world, action)
        assert found is None
    assert successor(system, world, last)[1] is not None  # the path reproduces the violation


@pytest.mark.timeout(120)
def test_explore_cli_runs_workers_and_refuses_them_with_dfs() -> None:
    args = ["explore", "--system", "cluster", "--nodes", "3", "--heights", "1", "--ticks", "1"]
    one = CliRunner().invoke(main, [*args, "--json"], catch_exceptions=False)
    two = CliRunner().invoke(main, [*args, "--workers", "2", "--json"], catch_exceptions=False)
    assert one.exit_code == two.exit_code == 0, two.output
    a, b = json.loads(one.stdout), json.loads(two.stdout)
    assert (a["distinct"], a["states"], a["depth"]) == (b["distinct"], b["states"], b["depth"])
    assert b["mode"] == "bfs, 2 workers"
    refused = CliRunner().invoke(main, ["explore", "--workers", "2", "--dfs", "--depth", "3"])
    assert refused.exit_code == 2 and "--workers" in refused.output


def test_owners_and_balancing_depend_on_keys_and_counts_alone() -> None:
    assert owner_of(bytes(range(16)), 3) == int.from_bytes(bytes(range(8)), "big") % 3
    assert _plan([10, 10]) == [] and _plan([9, 10]) == []
    assert _plan([30, 0]) == [(0, 1, 15)]
    plan = _plan([0, 40, 2])
    held = [0, 40, 2]
    for source, to, count in plan:
        held[source] -= count
        held[to] += count
    assert max(held) - min(held) <= 1
