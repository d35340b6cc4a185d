"""Counterexamples shrunk before they are written: delta debugging over what drove the run.

A counterexample found by the simulator is as long as the run that found it (a restart schedule
that finalizes two blocks before it breaks runs to some 220 honest steps); most of its steps have
nothing to do with the bug. Before a simulation trace or a depth-first exploration's trace is
written, it is minimized with Zeller and Hildebrandt's ddmin (*Simplifying and Isolating
Failure-Inducing Input*, TSE 2002) over the *choices* that drove the run, and each candidate is
re-checked by running it: it is kept only when the same property fails.

**What is shrunk, and why that is sound.** For the simulator, a run's choices are its schedule
(``simtrace.Choice``): which node ticks, which message sent earlier reaches which node, which
node crashes or restarts, in order, for every node, Byzantine ones included. A candidate is a
subsequence of the schedule, run from the same ``SimConfig`` (the same keys, configs, initial
states and Byzantine behaviours) by ``ScheduledSimulation``: every node, honest or Byzantine, runs
its real code, and a choice takes effect only when it can: a delivery only of a message its
sender sent to that node in *this* run and not yet delivered, a tick or a delivery only to a node
that is up, a crash only of a node that is up, a restart only of one that is down; any other is
skipped. So a candidate is a run of the simulator's network (messages lost, delayed and
reordered, nothing forged in an honest node's name): an honest node never receives a message its
sender did not send in that run. A choice that was skipped, or came after the violation, is
dropped from the candidate that passed, so the result holds only choices that acted.

For an exploration, a candidate is a subsequence of the path's actions, each taken only when the
system enables it in the state reached (``successor``), so it is a path of the system.

**Bounds.** The search is capped in candidate runs (``MAX_CANDIDATES``), never in seconds: the
same counterexample always shrinks to the same result. The run that the original trace records is
kept beside the shrunk one (``X.original.itf.json`` next to ``X.itf.json``).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import attrs

from blockfsm.adapters.engines import itf
from blockfsm.adapters.engines.explore.search import System, Violation, successor
from blockfsm.adapters.engines.sim import SafetyViolation, SimConfig, SimNode
from blockfsm.adapters.engines.simtrace import (
    Choice,
    TracedSimulation,
    decode_schedule,
    simulation_document,
)

MAX_CANDIDATES = 400
"""Candidate runs a shrink may try (``ddmin``'s budget)."""
MAX_WORK = 500_000
"""Choices (or actions) a shrink may run in all its candidates together: what bounds the time
of a long run's shrink (a candidate of a run of 100,000 steps costs as much as 250 of 400), as
deterministically as the count of candidates. A counterexample longer than this is written as
found."""

Test = Callable[[tuple[int, ...]], tuple[int, ...] | None]
"""Runs a candidate (indices into the original choices, in order); the choices that acted up to
the violation when the same property fails, else None."""


@attrs.frozen(kw_only=True)
class Shrunk:
    """A shrink's outcome: the choices kept (indices into the original), and its cost."""

    kept: tuple[int, ...]
    candidates: int
    """Candidate runs tried (the first run of the whole original among them)."""
    exhausted: bool
    """Whether the budget ran out before ddmin had nothing left to try."""


def ddmin(
    items: Sequence[int], test: Test, *, budget: int = MAX_CANDIDATES, work: int = MAX_WORK
) -> Shrunk:
    """Zeller's ddmin over ``items``, which must pass ``test``: cut into ``n`` parts and try
    leaving out each; on a pass, continue from what passed (as ``test`` normalized it) with
    coarser parts, else try finer ones, down to single items. (Zeller's version also tries each
    part alone; a schedule's part alone almost never keeps a violation that needs what came
    before it, so those runs are not spent.) Every candidate run counts against ``budget``, and
    its length against ``work``; a candidate tried before is not run again."""
    current = tuple(items)
    seen: dict[tuple[int, ...], tuple[int, ...] | None] = {}
    runs = 0
    spent = 0

    def run(candidate: tuple[int, ...]) -> tuple[int, ...] | None:
        nonlocal runs, spent
        if candidate not in seen:
            runs += 1
            spent += len(candidate)
            seen[candidate] = test(candidate)
        return seen[candidate]

    n = 2
    while len(current) >= 2:
        n = min(n, len(current))
        size, extra = divmod(len(current), n)
        parts, start = [], 0
        for k in range(n):
            end = start + size + (1 if k < extra else 0)
            parts.append(current[start:end])
            start = end
        found: tuple[int, ...] | None = None
        coarser = n
        for k in range(n):
            complement = tuple(x for j, part in enumerate(parts) if j != k for x in part)
            if runs >= budget or spent + len(complement) > work:
                return Shrunk(kept=current, candidates=runs, exhausted=True)
            found = run(complement)
            if found is not None:
                coarser = max(n - 1, 2)
                break
        if found is not None:
            current = found
            n = coarser
            continue
        if n >= len(current):
            break
        n = min(2 * n, len(current))
    return Shrunk(kept=current, candidates=runs, exhausted=False)


# --- the simulator -------------------------------------------------------------------------------


class ScheduledSimulation(TracedSimulation):
    """The simulator driven by a schedule instead of its seed: ``apply`` makes one choice happen
    if it can. Sends are kept as the messages in flight, to be delivered by a later choice; the
    network loses nothing by itself (a message is lost when no choice delivers it)."""

    def __init__(self, config: SimConfig) -> None:
        super().__init__(config)
        self.faulty = False
        self.in_flight: Counter[tuple[int, int, Any]] = Counter()

    def _send(self, node: SimNode, dest: int, message: Any) -> None:
        if dest < 0 or dest == node.index:
            return
        if node.tactic is not None and node.adversary is not None:
            message = node.tactic.send(node.adversary, dest, message)
            if message is None:
                return
        self.counters["sent"] += 1
        self.in_flight[(node.index, dest, message)] += 1

    def apply(self, choice: Choice) -> bool:
        """Make ``choice`` happen; False (and nothing happens) when it cannot here."""
        node = self.nodes[choice.node]
        kind = choice.kind
        if kind == "crash" or kind == "restart":
            if node.alive != (kind == "crash"):
                return False
            self.now = max(self.now, choice.at)
            (self.crash if kind == "crash" else self.restart)(node)
            return True
        if not node.alive:
            return False
        if kind == "tick":
            self.now = max(self.now, choice.at)
            self._tick_node(node)
            return True
        if kind == "deliver":
            key = (choice.source, choice.node, choice.message)
            if self.in_flight[key] <= 0:
                return False
            self.in_flight[key] -= 1
            self.now = max(self.now, choice.at)
            self._deliver(choice.source, node, choice.message)
            return True
        raise itf.ITFError(f"unknown choice {kind!r}")


def run_schedule(
    config: SimConfig, choices: Sequence[Choice], indices: Sequence[int], prop: str
) -> tuple[tuple[int, ...] | None, ScheduledSimulation, SafetyViolation | None]:
    """Run the choices at ``indices``; the indices that acted up to a violation of ``prop`` (None
    when ``prop`` did not fail), the simulation, and the violation."""
    sim = ScheduledSimulation(config)
    acted: list[int] = []
    try:
        for i in indices:
            if sim.apply(choices[i]):
                acted.append(i)
    except SafetyViolation as error:
        acted.append(i)
        return (tuple(acted) if error.invariant_id == prop else None), sim, error
    except Exception:  # another failure (a part's own spec) is another property
        return None, sim, None
    return None, sim, None


@attrs.frozen(kw_only=True)
class ShrunkTrace:
    document: dict[str, Any]
    """The shrunk trace."""
    original_steps: int
    steps: int
    candidates: int
    seconds: float


def shrink_simulation(
    document: dict[str, Any], *, budget: int = MAX_CANDIDATES, work: int = MAX_WORK
) -> ShrunkTrace | None:
    """The shrunk form of a simulation counterexample; None when the trace records no violation
    or no schedule, its schedule is longer than ``work``, or it does not break the same property
    when run again."""
    meta = document.get("#meta", {})
    violation = meta.get("violation")
    choices = decode_schedule(document)
    if not violation or not choices:
        return None
    config = itf.decode(meta["config"])
    if not isinstance(config, SimConfig):
        return None
    prop = str(violation["property"])
    started = time.monotonic()

    def test(candidate: tuple[int, ...]) -> tuple[int, ...] | None:
        return run_schedule(config, choices, candidate, prop)[0]

    if len(choices) > work:
        return None
    whole = test(tuple(range(len(choices))))
    if whole is None:
        return None
    result = ddmin(whole, test, budget=budget - 1, work=work - len(choices))
    _, sim, error = run_schedule(config, choices, result.kept, prop)
    assert error is not None  # the kept choices passed the test, and runs are deterministic
    shrunk = simulation_document(sim, error)
    steps = len(shrunk["states"])
    original = len(document["states"])
    shrunk["#meta"]["shrunk"] = {
        "original_steps": original,
        "candidates": result.candidates + 1,
        "choices": f"{len(result.kept)} of {len(choices)}",
    }
    shrunk["#meta"]["source"] = meta.get("source", shrunk["#meta"]["source"])
    return ShrunkTrace(
        document=shrunk,
        original_steps=original,
        steps=steps,
        candidates=result.candidates + 1,
        seconds=time.monotonic() - started,
    )


# --- writing -------------------------------------------------------------------------------------


def original_path(path: Path) -> Path:
    """Where the unshrunk trace goes beside ``path``: ``X.itf.json`` -> ``X.original.itf.json``."""
    name = path.name
    stem = name[: -len(".itf.json")] if name.endswith(".itf.json") else path.stem
    return path.with_name(f"{stem}.original.itf.json")


def save_counterexample(
    document: dict[str, Any], path: Path, *, budget: int = MAX_CANDIDATES
) -> tuple[Path, ShrunkTrace | None]:
    """Write a counterexample to ``path``, shrunk first when it is a simulation trace that can
    be; the original then goes beside it (``original_path``)."""
    shrunk = None
    if document.get("#meta", {}).get("kind") == "simulation":
        shrunk = shrink_simulation(document, budget=budget)
    if shrunk is None:
        return itf.save_trace(document, path), None
    meta = shrunk.document["#meta"]
    meta["shrunk"]["original_file"] = original_path(path).name
    written = itf.save_trace(shrunk.document, path)  # elsewhere if it must be, and says so
    itf.write(document, original_path(written))  # beside it, where writing just worked
    return written, shrunk


def write_simulation_trace(
    sim: TracedSimulation, violation: SafetyViolation, trace_dir: Path
) -> tuple[Path | None, ShrunkTrace | None]:
    """``simulation-<seed>.itf.json`` in ``trace_dir``, shrunk, with the original beside it;
    (None, None) when the run outgrew its recording bound (rerun it from its seed)."""
    if not sim.complete:
        return None, None
    path = Path(trace_dir) / f"simulation-{sim.config.seed}.itf.json"
    return save_counterexample(simulation_document(sim, violation), path)


def shrink_figures(shrunk: ShrunkTrace | None, path: Path | None) -> dict[str, Any] | None:
    """What ``--json`` reports of a shrink."""
    if shrunk is None or path is None:
        return None
    return {
        "steps": shrunk.steps,
        "original_steps": shrunk.original_steps,
        "candidates": shrunk.candidates,
        "original_file": str(original_path(path)),
    }


# --- the explorer --------------------------------------------------------------------------------


def shrink_path(
    system: System, violation: Violation, *, budget: int = MAX_CANDIDATES
) -> tuple[Violation, Shrunk]:
    """A path no longer than ``violation.actions`` to a state breaking the same property: ddmin
    over its actions, each candidate run from the initial state, an action taken only when the
    system enables it in the state reached (otherwise skipped)."""
    actions = violation.actions
    prop = violation.property_id
    found_last: dict[tuple[int, ...], tuple[str, str, str]] = {}

    def test(candidate: tuple[int, ...]) -> tuple[int, ...] | None:
        state = system.initial()
        taken: list[int] = []
        for i in candidate:
            action = actions[i]
            if action not in list(system.actions(state)):
                continue
            after, found = successor(system, state, action)
            taken.append(i)
            if found is not None:
                if found[0] != prop:
                    return None
                found_last[tuple(taken)] = found
                return tuple(taken)
            state = after
        return None

    whole = test(tuple(range(len(actions))))
    if whole is None:  # the path does not break it again: keep it as found
        return violation, Shrunk(kept=tuple(range(len(actions))), candidates=1, exhausted=False)
    result = ddmin(whole, test, budget=budget - 1, work=MAX_WORK - len(actions))
    found = found_last[result.kept]
    shrunk = Violation(
        property_id=found[0],
        statement=found[1],
        message=found[2],
        actions=tuple(actions[i] for i in result.kept),
    )
    return shrunk, attrs.evolve(result, candidates=result.candidates + 1)
