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

import attrs

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
from blockfsm.adapters.engines.explore.spec_system import SpecSystem
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
    "EXPLORATIONS",
    "SYSTEMS",
    "ClusterSystem",
    "ClusterWorld",
    "Progress",
    "Reducible",
    "Report",
    "ShrunkPath",
    "SpecSystem",
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
    "shrink_report",
    "system_document",
    "write_trace",
]

# --- running an exploration: the CLI and `blockfsm check` ----------------------------------------


@attrs.frozen(kw_only=True)
class ShrunkPath:
    """A violation's path as the search found it, and what shrinking it cost."""

    found: Violation
    candidates: int


def shrink_report(system: System, report: Report) -> tuple[Report, ShrunkPath | None]:
    """A breadth-first path is a shortest one and is kept as found; any other (``dfs``) is
    shrunk (``shrink.shrink_path``): the report with the shrunk path, and the path as found
    (None when nothing was shrunk)."""
    violation = report.violation
    if violation is None or report.mode.startswith("bfs"):
        return report, None
    from blockfsm.adapters.engines.shrink import shrink_path

    shrunk, result = shrink_path(system, violation)
    if len(shrunk.actions) == len(violation.actions):
        return report, None
    return attrs.evolve(report, violation=shrunk), ShrunkPath(
        found=violation, candidates=result.candidates
    )


def write_trace(
    system: System, report: Report, trace_dir: Path, shrunk: ShrunkPath | None = None
) -> Path | None:
    """The violation's path as a trace; with ``shrunk``, the path as found is kept beside it as
    ``X.original.itf.json``."""
    if report.violation is None:
        return None
    name = "-".join(f"{k}{v}" for k, v in sorted(system.parameters.items()))
    path = Path(trace_dir) / f"explore-{system.name}-{name}.itf.json"
    document = system_document(system, report.violation)
    if shrunk is not None:
        from blockfsm.adapters.engines.shrink import original_path

        found = shrunk.found
        original = system_document(system, found)
        original["#meta"]["description"] = (
            f"a path ({len(found.actions)} actions) found by {report.mode} from the initial "
            f"state of {system.name} to a state that breaks {found.property_id}"
        )
        itf.save_trace(original, original_path(path))
        document["#meta"]["description"] = (
            f"a path ({len(report.violation.actions)} actions) from the initial state of "
            f"{system.name} to a state that breaks {report.violation.property_id}, shrunk from "
            f"the {report.mode} path of {len(found.actions)} actions"
        )
        document["#meta"]["shrunk"] = {
            "original_steps": len(found.actions),
            "candidates": shrunk.candidates,
            "original_file": original_path(path).name,
        }
    return itf.save_trace(document, path)


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


EXPLORATIONS: tuple[tuple[str, dict[str, Any], tuple[str, ...]], ...] = (
    ("sync", {}, ("sync_server", "sync_client")),
    ("cluster", {}, ("cluster", "node", "attester")),
    *(("cluster", bounds, ("cluster", "node", "attester")) for bounds in ADVERSARY_EXPLORATIONS),
)
"""The explorations ``blockfsm check`` runs for blockfsm's own machines: (system name, its
parameters, the machines it checks). A declared module (``blockfsm.adapters.engines.registry``)
states its own the same way."""


def default_explorations(
    trace_dir: Path,
    progress: Callable[[str, int, int, int], None] | None = None,
    machines: tuple[str, ...] = (),
) -> list[tuple[Report, Path | None]]:
    """The explorations ``blockfsm check`` runs: every declared module's ``EXPLORATIONS``
    (blockfsm's own: the sync system, the cluster of 4 nodes over 3 heights with 2 delays, and the
    cluster under the adversary's budgets), each complete at its bounds; with ``machines``, only
    those that check one of them. ``progress`` is called now and then with (system, states
    explored, distinct, depth)."""
    from blockfsm.adapters.engines import registry

    factories = registry.systems()
    out: list[tuple[Report, Path | None]] = []
    for name, parameters, checks in registry.explorations():
        if machines and not set(machines) & set(checks):
            continue
        system = factories[name](**parameters)
        shown: Progress | None = None
        if progress is not None:
            shown = functools.partial(progress, system.name)
        report = bfs(system, progress=shown)
        out.append((report, write_trace(system, report, trace_dir)))
    return out
