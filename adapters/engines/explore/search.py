"""The search engine: breadth-first (with sleep sets when a system says which of its actions
commute) and depth-bounded depth-first search over any ``System``, states keyed by digest."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Protocol

import attrs

# --- the generic explorer ------------------------------------------------------------------------


@attrs.frozen
class StateInvariant:
    id: str
    statement: str
    check: Callable[[Any], bool] = attrs.field(eq=False, repr=False)


class StepViolation(Exception):
    """A machine step inside a system step failed its spec (a row, a per-step invariant)."""

    def __init__(self, property_id: str, message: str) -> None:
        super().__init__(message)
        self.property_id = property_id


class System(Protocol):
    name: str

    @property
    def parameters(self) -> dict[str, Any]: ...

    @property
    def invariants(self) -> Sequence[StateInvariant]: ...

    def initial(self) -> Any: ...

    def actions(self, state: Any) -> Iterable[Any]: ...

    def step(self, state: Any, action: Any) -> Any: ...

    def key(self, state: Any) -> bytes: ...


class Reducible(System, Protocol):
    """A system that states which of its actions commute: what ``bfs(..., reduce=True)`` needs.

    ``footprint(state, action, after)`` describes what ``action`` read and wrote when it took
    ``state`` to ``after``; ``independent(state, a, b)`` says, from two footprints of actions
    enabled in ``state``, that the two actions commute there: each stays enabled after the other
    and both orders reach the same state. A footprint must stay valid in every state reached from
    ``state`` by actions independent of it (the action does there what it did here).
    ``action_id`` names an action the same way in every state in which it is enabled.
    """

    def action_id(self, state: Any, action: Any) -> Any: ...

    def footprint(self, state: Any, action: Any, after: Any) -> Any: ...

    def independent(self, state: Any, a: Any, b: Any) -> bool: ...


@attrs.frozen(kw_only=True)
class Violation:
    property_id: str
    statement: str
    message: str
    actions: tuple[Any, ...]
    """The path from the initial state; the last action is the one that broke the property."""


@attrs.frozen(kw_only=True)
class Report:
    system: str
    mode: str
    states: int
    """States explored: successors computed (transitions taken)."""
    distinct: int
    depth: int
    complete: bool
    seconds: float
    violation: Violation | None = None
    parameters: dict[str, Any] = attrs.field(factory=dict)
    figures: dict[str, Any] = attrs.field(factory=dict)
    """What the system says the search reached (``System.figures``, when it has them), e.g. the
    highest round an honest keeper was in."""

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "system": self.system,
            "mode": self.mode,
            "parameters": self.parameters,
            "states": self.states,
            "distinct": self.distinct,
            "depth": self.depth,
            "complete": self.complete,
            "seconds": round(self.seconds, 3),
            "ok": self.violation is None,
        }
        if self.figures:
            out["figures"] = dict(self.figures)
        if self.violation is not None:
            out["violation"] = {
                "property": self.violation.property_id,
                "statement": self.violation.statement,
                "message": self.violation.message,
                "depth": len(self.violation.actions),
                "path": [describe_action(a) for a in self.violation.actions],
            }
        return out


Progress = Callable[[int, int, int], None]
"""Called now and then with (states explored, distinct states, depth)."""


def digest(system: System, state: Any) -> bytes:
    return hashlib.blake2b(system.key(state), digest_size=16).digest()


def _check(system: System, state: Any) -> tuple[str, str, str] | None:
    for inv in system.invariants:
        if not inv.check(state):
            return inv.id, inv.statement, f"{inv.id} violated: {inv.statement}"
    return None


def successor(system: System, state: Any, action: Any) -> tuple[Any, tuple[str, str, str] | None]:
    try:
        after = system.step(state, action)
    except StepViolation as error:
        return None, (error.property_id, "a machine step conforms to its spec", str(error))
    return after, _check(system, after)


def bfs(
    system: System,
    *,
    max_depth: int | None = None,
    max_states: int | None = None,
    progress: Progress | None = None,
    reduce: bool = False,
) -> Report:
    """Breadth-first search of every state reachable from ``system.initial()``; with ``reduce``,
    with sleep sets over the system's independent actions (``bfs_sleep_sets``)."""
    if reduce:
        return bfs_sleep_sets(
            _reducible(system), max_depth=max_depth, max_states=max_states, progress=progress
        )
    started = time.monotonic()
    initial = system.initial()
    at_start = _violated_at_start(system, initial, "bfs", started)
    if at_start is not None:
        return at_start
    parents: dict[bytes, tuple[bytes, Any] | None] = {digest(system, initial): None}
    frontier = [(initial, digest(system, initial))]
    explored = 0
    depth = 0
    complete = True
    while frontier:
        if max_depth is not None and depth >= max_depth:
            complete = False
            break
        next_frontier = []
        for state, key in frontier:
            for action in system.actions(state):
                explored += 1
                after, found = successor(system, state, action)
                if found is not None:
                    path = (*_path(parents, key), action)
                    violation = Violation(
                        property_id=found[0], statement=found[1], message=found[2], actions=path
                    )
                    return _report(
                        system, "bfs", explored, len(parents), depth + 1, False, started, violation
                    )
                after_key = digest(system, after)
                if after_key in parents:
                    continue
                parents[after_key] = (key, action)
                next_frontier.append((after, after_key))
                if progress is not None and len(parents) % 2_000 == 0:
                    progress(explored, len(parents), depth + 1)
            if max_states is not None and len(parents) >= max_states:
                complete = False
                next_frontier = []
                break
        frontier = next_frontier
        if frontier:
            depth += 1
    if progress is not None:
        progress(explored, len(parents), depth)
    return _report(system, "bfs", explored, len(parents), depth, complete, started, None)


def _reducible(system: System) -> Reducible:
    if not reducible(system):
        raise ValueError(f"the {system.name} system does not state which of its actions commute")
    return system  # type: ignore[return-value]


Sleep = dict[Any, Any]
"""A sleep set: the ids of actions not to take from a state, each with its footprint."""


def bfs_sleep_sets(
    system: Reducible,
    *,
    max_depth: int | None = None,
    max_states: int | None = None,
    progress: Progress | None = None,
) -> Report:
    """Breadth-first search with sleep sets (Godefroid 1996, chapter 5) and state caching.

    From a state, the actions are taken in order; the successor by action ``t`` sleeps on every
    action taken before ``t`` from this state (and every action this state slept on) that is
    independent of ``t`` there: its successor by that action is the successor of the earlier
    action by ``t``, reached already. A state reached again with a sleep set that lacks some action
    the stored one has is expanded again by exactly those actions, and the stored sleep set
    becomes the intersection. Sleep sets prune transitions only, never states: every reachable
    state is still visited and checked. ``states`` counts the transitions taken.
    """
    started = time.monotonic()
    initial = system.initial()
    at_start = _violated_at_start(system, initial, "bfs+sleep", started)
    if at_start is not None:
        return at_start
    root = digest(system, initial)
    parents: dict[bytes, tuple[bytes, Any] | None] = {root: None}
    stored: dict[bytes, Sleep] = {root: {}}
    expanded: set[bytes] = set()
    # (state, key, sleep set to use, the only action ids to take, or None for all not asleep)
    frontier: list[tuple[Any, bytes, Sleep | None, frozenset[Any] | None]] = [
        (initial, root, None, None)
    ]
    explored = 0
    depth = 0  # the level being expanded
    deepest = 0  # the deepest level a new state was found at (a re-expansion may find none)
    complete = True
    while frontier:
        if max_depth is not None and depth >= max_depth:
            complete = False
            break
        next_frontier: list[tuple[Any, bytes, Sleep | None, frozenset[Any] | None]] = []
        for state, key, given, only in frontier:
            sleep = dict(stored[key]) if given is None else given
            expanded.add(key)
            done: Sleep = {}
            for action in system.actions(state):
                ident = system.action_id(state, action)
                if ident in sleep or (only is not None and ident not in only):
                    continue
                explored += 1
                after, found = successor(system, state, action)
                if found is not None:
                    path = (*_path(parents, key), action)
                    violation = Violation(
                        property_id=found[0], statement=found[1], message=found[2], actions=path
                    )
                    return _report(
                        system,
                        "bfs+sleep",
                        explored,
                        len(parents),
                        len(path),
                        False,
                        started,
                        violation,
                    )
                mark = system.footprint(state, action, after)
                after_sleep = {
                    other: its
                    for other, its in (*sleep.items(), *done.items())
                    if system.independent(state, its, mark)
                }
                done[ident] = mark
                after_key = digest(system, after)
                known = stored.get(after_key)
                if known is None:
                    parents[after_key] = (key, action)
                    stored[after_key] = after_sleep
                    deepest = depth + 1
                    next_frontier.append((after, after_key, None, None))
                    if progress is not None and len(parents) % 2_000 == 0:
                        progress(explored, len(parents), depth + 1)
                    continue
                missing = frozenset(known.keys() - after_sleep.keys())
                if not missing:
                    continue
                stored[after_key] = {k: v for k, v in known.items() if k in after_sleep}
                if after_key in expanded:
                    # Expanded with a larger sleep set: take the actions it slept on then only.
                    next_frontier.append((after, after_key, after_sleep, missing))
            if max_states is not None and len(parents) >= max_states:
                complete = False
                next_frontier = []
                break
        frontier = next_frontier
        if frontier:
            depth += 1
    if progress is not None:
        progress(explored, len(parents), deepest)
    return _report(system, "bfs+sleep", explored, len(parents), deepest, complete, started, None)


def _violated_at_start(system: System, initial: Any, mode: str, started: float) -> Report | None:
    """The report of a search whose initial state already breaks an invariant, or None."""
    found = _check(system, initial)
    if found is None:
        return None
    return _report(
        system,
        mode,
        1,
        1,
        0,
        True,
        started,
        Violation(property_id=found[0], statement=found[1], message=found[2], actions=()),
    )


def _path(parents: dict[bytes, tuple[bytes, Any] | None], key: bytes) -> tuple[Any, ...]:
    actions = []
    link = parents[key]
    while link is not None:
        key, action = link
        actions.append(action)
        link = parents[key]
    return tuple(reversed(actions))


def dfs(
    system: System,
    *,
    max_depth: int,
    max_states: int | None = None,
    progress: Progress | None = None,
) -> Report:
    """Depth-bounded depth-first search; ``complete`` when nothing was cut off by the bound."""
    started = time.monotonic()
    initial = system.initial()
    at_start = _violated_at_start(system, initial, "dfs", started)
    if at_start is not None:
        return at_start
    best: dict[bytes, int] = {digest(system, initial): 0}
    explored = 0
    deepest = 0
    cut = False
    stack: list[tuple[Any, tuple[Any, ...]]] = [(initial, ())]
    while stack:
        state, path = stack.pop()
        depth = len(path)
        deepest = max(deepest, depth)
        if depth >= max_depth:
            if any(True for _ in system.actions(state)):
                cut = True
            continue
        for action in system.actions(state):
            explored += 1
            after, found = successor(system, state, action)
            if found is not None:
                violation = Violation(
                    property_id=found[0],
                    statement=found[1],
                    message=found[2],
                    actions=(*path, action),
                )
                return _report(
                    system, "dfs", explored, len(best), depth + 1, False, started, violation
                )
            key = digest(system, after)
            seen = best.get(key)
            if seen is not None and seen <= depth + 1:
                continue
            best[key] = depth + 1
            stack.append((after, (*path, action)))
            if progress is not None and len(best) % 2_000 == 0:
                progress(explored, len(best), deepest)
        if max_states is not None and len(best) >= max_states:
            cut = True
            break
    return _report(system, "dfs", explored, len(best), deepest, not cut, started, None)


def _report(
    system: System,
    mode: str,
    explored: int,
    distinct: int,
    depth: int,
    complete: bool,
    started: float,
    violation: Violation | None,
) -> Report:
    return Report(
        system=system.name,
        mode=mode,
        states=explored,
        distinct=distinct,
        depth=depth,
        complete=complete,
        seconds=time.monotonic() - started,
        violation=violation,
        parameters=dict(system.parameters),
        figures=dict(getattr(system, "figures", {})),
    )


def describe_action(action: Any) -> str:
    """An action in words: its plain parts (a forged message is named by its label, not its
    fields)."""
    if isinstance(action, tuple):
        return " ".join(str(part) for part in action if isinstance(part, (str, int)))
    return str(action)


def reducible(system: System) -> bool:
    """Whether ``system`` states which of its actions commute (``Reducible``) in this
    configuration (``commutes``, true unless the system says otherwise)."""
    return all(hasattr(system, m) for m in ("action_id", "footprint", "independent")) and bool(
        getattr(system, "commutes", True)
    )
