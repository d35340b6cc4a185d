"""The exhaustive explorer: every reachable state of a small system of the real ``step`` functions.

A **system** is an initial state, the actions enabled in a state, a step function that applies one
action (running the real machines' ``step`` under their spec's rows and per-step invariants), the
system's safety invariants over states, and a canonical encoding. The explorer is generic over it:

- ``bfs`` visits states level by level, so the first violation it meets is at the smallest depth,
  and the path to it is a shortest one;
- ``dfs`` is depth-bounded, for configurations too large for a complete breadth-first search; a
  state seen before is expanded again only when reached at a smaller depth, so every state within
  the bound is still visited;
- ``bfs_sleep_sets`` (``bfs(..., reduce=True)``) is the breadth-first search with sleep sets, for a
  system that states which of its actions commute (``Reducible``): it skips a transition whose
  target it reaches in the other order, so it takes fewer transitions and still visits, and checks,
  every reachable state, each at its breadth-first depth (docs/traces.md, "Partial-order
  reduction").

States are deduplicated by a 16-byte BLAKE2b digest of their canonical ITF encoding
(``blockfsm.adapters.engines.itf.canonical``): never by ``hash()``, which is salted per process, so
two runs of the same configuration visit the same states in the same order and report the same
counts. A system may reduce by symmetry: its ``key`` maps every state to the encoding of one
representative of its symmetry class. That is sound only when permuting the interchangeable nodes
commutes with the step function (see docs/traces.md for why the sync system does not reduce by
server symmetry).

A violation is reported with the shortest path to it and written as an ITF trace of the system
(``#meta.kind == "system"``), which ``blockfsm replay`` re-runs against the current code.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any

from blockfsm.adapters.engines import itf
from blockfsm.adapters.engines.explore.cluster_system import ClusterSystem, ClusterWorld
from blockfsm.adapters.engines.explore.encoding import StateEncoder
from blockfsm.adapters.engines.explore.parallel import bfs_workers
from blockfsm.adapters.engines.explore.search import (
    Progress,
    Reducible,
    Report,
    StateInvariant,
    StepViolation,
    System,
    Violation,
    bfs,
    bfs_sleep_sets,
    describe_action,
    dfs,
    digest,
    reducible,
)
from blockfsm.adapters.engines.explore.sync_system import SyncSystem, SyncWorld
from blockfsm.adapters.engines.explore.traces import (
    SYSTEMS,
    checked_step,
    register,
    replay_system,
    system_document,
)

__all__ = [
    "ADVERSARY_EXPLORATIONS",
    "SYSTEMS",
    "ClusterSystem",
    "ClusterWorld",
    "Progress",
    "Reducible",
    "Report",
    "StateEncoder",
    "StateInvariant",
    "StepViolation",
    "SyncSystem",
    "SyncWorld",
    "System",
    "Violation",
    "bfs",
    "bfs_sleep_sets",
    "bfs_workers",
    "checked_step",
    "default_explorations",
    "describe_action",
    "dfs",
    "digest",
    "explore",
    "reducible",
    "register",
    "replay_system",
    "system_document",
    "write_trace",
]

# --- running an exploration: the CLI and `blockfsm check` ----------------------------------------


def write_trace(system: System, report: Report, trace_dir: Path) -> Path | None:
    if report.violation is None:
        return None
    name = "-".join(f"{k}{v}" for k, v in sorted(system.parameters.items()))
    path = Path(trace_dir) / f"explore-{system.name}-{name}.itf.json"
    return itf.save_trace(system_document(system, report.violation), path)


def explore(
    system: System,
    *,
    depth: int | None = None,
    use_dfs: bool = False,
    max_states: int | None = None,
    progress: Progress | None = None,
    reduce: bool = False,
    workers: int = 1,
) -> Report:
    """One exploration; with ``workers`` > 1, the breadth-first search in that many processes
    (``bfs_workers``: the same states, depth and verdict)."""
    if workers > 1 and (use_dfs or reduce):
        raise ValueError("several workers run the plain breadth-first search only")
    if use_dfs:
        if depth is None:
            raise ValueError("a depth-first search needs a depth bound")
        if reduce:
            raise ValueError("the reduction runs with the breadth-first search only")
        return dfs(system, max_depth=depth, max_states=max_states, progress=progress)
    if workers > 1:
        return bfs_workers(
            system, workers, max_depth=depth, max_states=max_states, progress=progress
        )
    return bfs(system, max_depth=depth, max_states=max_states, progress=progress, reduce=reduce)


ADVERSARY_EXPLORATIONS: tuple[dict[str, Any], ...] = (
    {"heights": 1, "delays": 0, "silent": True, "ticks": 20, "lost_proposals": 2, "crashes": 1},
    {"heights": 1, "delays": 0, "silent": True, "ticks": 20, "lost_proposals": 2, "forgeries": 1},
)
"""The cluster explorations of the adversary's budgets that ``blockfsm check`` runs beside the
default one: one height, messages in send order, a silent Byzantine producer of round 0 and two
proposals the network may lose, so rounds 0 to 2 can fail and round 3 is reached; then an honest
crash-restart anywhere, or one message of the Byzantine keeper's choosing."""


def default_explorations(
    trace_dir: Path, progress: Callable[[str, int, int, int], None] | None = None
) -> list[tuple[Report, Path | None]]:
    """The explorations ``blockfsm check`` runs, each at its system's default bounds and each
    complete: the sync system, the cluster of 4 nodes over 3 heights with 2 delays, and the
    cluster under the adversary's budgets (``ADVERSARY_EXPLORATIONS``). ``progress`` is called
    now and then with (system, states explored, distinct, depth)."""
    out: list[tuple[Report, Path | None]] = []
    systems: list[System] = [SyncSystem(), ClusterSystem()]
    systems.extend(ClusterSystem(**bounds) for bounds in ADVERSARY_EXPLORATIONS)
    for system in systems:
        shown: Progress | None = None
        if progress is not None:
            shown = functools.partial(progress, system.name)
        report = bfs(system, progress=shown)
        out.append((report, write_trace(system, report, trace_dir)))
    return out
