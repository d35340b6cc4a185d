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
import hashlib
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import attrs
import click

from blockfsm.adapters.engines import itf

if TYPE_CHECKING:
    from blockfsm.adapters.engines.replay import ReplayResult

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


def _successor(system: System, state: Any, action: Any) -> tuple[Any, tuple[str, str, str] | None]:
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
                after, found = _successor(system, state, action)
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
                after, found = _successor(system, state, action)
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
            after, found = _successor(system, state, action)
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


# --- system traces -------------------------------------------------------------------------------

SYSTEM_VARS = ["system", "action", "mbt::actionTaken"]


def system_document(system: System, violation: Violation) -> dict[str, Any]:
    """The shortest path to ``violation`` as an ITF trace: the system state after each action."""
    state = system.initial()
    states: list[dict[str, Any]] = [
        {
            "#meta": {"index": 0},
            "system": itf.encode(state),
            "action": itf.encode(None),
            "mbt::actionTaken": "init",
        }
    ]
    for index, action in enumerate(violation.actions, start=1):
        try:
            state = system.step(state, action)
            encoded = itf.encode(state)
            meta: dict[str, Any] = {"index": index}
        except StepViolation as error:
            encoded = itf.encode(state)
            meta = {"index": index, "raised": str(error).splitlines()[0]}
        states.append(
            {
                "#meta": meta,
                "system": encoded,
                "action": itf.encode(action),
                "mbt::actionTaken": str(action[0] if isinstance(action, tuple) else action),
            }
        )
    return {
        "#meta": {
            "format": "ITF",
            "format-description": itf.FORMAT_DESCRIPTION,
            "source": "blockfsm explore",
            "kind": "system",
            "length": len(states),
            "system": system.name,
            "parameters": itf.encode(dict(system.parameters)),
            "violation": {
                "property": violation.property_id,
                "message": violation.message.splitlines()[0],
                "step": len(violation.actions),
            },
            "description": (
                f"shortest path ({len(violation.actions)} actions) from the initial state of "
                f"{system.name} to a state that breaks {violation.property_id}"
            ),
        },
        "vars": SYSTEM_VARS,
        "states": states,
    }


def replay_system(document: dict[str, Any]) -> ReplayResult:
    """Replay an exploration trace: each recorded action through the current step functions."""
    from blockfsm.adapters.engines.replay import ReplayResult, differences

    meta = document["#meta"]
    factory = SYSTEMS.get(meta.get("system"))
    if factory is None:
        raise itf.ITFError(f"unknown system {meta.get('system')!r}; known: {', '.join(SYSTEMS)}")
    system = factory(**itf.decode(meta["parameters"]))
    recorded = meta.get("violation")
    raw_states = document["states"]
    total = len(raw_states) - 1
    state = system.initial()
    first = itf.decode(raw_states[0]["system"])
    if itf.canonical(first) != itf.canonical(state):
        return ReplayResult(
            verdict="diverges",
            steps=total,
            replayed=0,
            step=0,
            detail="the initial state differs from the recording",
            differences=tuple(differences("system", first, state)),
        )
    for index, raw in enumerate(raw_states[1:], start=1):
        action = itf.decode(raw["action"])
        after, found = _successor(system, state, action)
        if found is not None:
            same = recorded is not None and recorded.get("step") == index
            return ReplayResult(
                verdict="reproduces" if same and recorded.get("property") == found[0] else "fails",
                steps=total,
                replayed=index,
                step=index,
                detail=f"{found[0]} fails at step {index}: {found[2].splitlines()[0]}",
            )
        expected = itf.decode(raw["system"])
        if itf.canonical(expected) != itf.canonical(after):
            return ReplayResult(
                verdict="diverges",
                steps=total,
                replayed=index,
                step=index,
                detail=f"step {index} ({describe_action(action)}) differs from the recording",
                differences=tuple(differences("system", expected, after)),
            )
        state = after
    if recorded is not None:
        return ReplayResult(
            verdict="diverges",
            steps=total,
            replayed=total,
            step=recorded.get("step"),
            detail=f"recorded {recorded.get('property')} at step {recorded.get('step')}, "
            "but every step now passes its checks",
        )
    return ReplayResult(
        verdict="matches", steps=total, replayed=total, detail=f"all {total} steps match"
    )


SYSTEMS: dict[str, Callable[..., System]] = {}
"""System factories by name; each takes its parameters as keywords."""


def register(name: str) -> Callable[[Callable[..., System]], Callable[..., System]]:
    def add(factory: Callable[..., System]) -> Callable[..., System]:
        SYSTEMS[name] = factory
        return factory

    return add


# --- checked machine steps -----------------------------------------------------------------------


def checked_step(machine: Any, config: Any, state: Any, event: Any, view: Any) -> Any:
    """One machine step under its spec: exactly one row, its target and effects, and every
    per-step safety invariant. (Invariants kept by a monitor need the run's history, which is not
    part of an explored state: campaigns and replay check those.)"""
    from blockfsm.spec.conformance import ConformanceError, Conformant, StepRaised
    from blockfsm.spec.language import Transition

    runner = Conformant(machine, config, check_invariants=False)
    try:
        after, effects = runner.step(state, event, view)
    except ConformanceError as error:
        kind = "crash" if isinstance(error, StepRaised) else "conformance"
        raise StepViolation(kind, str(error).splitlines()[0]) from None
    transition = Transition(
        config=config, before=state, event=event, after=after, effects=effects, view=view
    )
    for inv in machine.spec.invariants:
        if inv.check is not None and not inv.check(transition):
            raise StepViolation(inv.id, f"{machine.name} {inv.id} violated: {inv.statement}")
    return after, effects


# --- the sync system: a client, an honest server, a Byzantine server ---------------------------

SECOND = 1_000


@attrs.frozen(kw_only=True)
class InFlight:
    """A message on the network, to ``to`` (``client``, ``honest`` or ``byzantine``)."""

    to: str
    message: Any


@attrs.frozen(kw_only=True)
class SyncWorld:
    now: int
    client: Any
    blocks: tuple[Any, ...]
    committed: int
    certificate: Any
    server: Any
    flight: tuple[InFlight, ...]
    faults: int
    byzantine_advertised: int


itf.register_module(__name__)


class SyncSystem:
    """A sync client catching up from nothing, an honest server holding the canonical chain
    (``heights`` blocks) and a Byzantine server, on a network that holds at most ``in_flight``
    messages (a message sent to a full network is lost). Time advances in one-second ticks, at
    most ``ticks`` of them. The adversary spends at most ``faults`` on dropping a message or
    answering a request with a forged or an empty response; the Byzantine server may also stay
    silent, and advertises a height above the honest one once per second.

    State invariants: the client's committed blocks are the canonical chain's, the honest server
    is never blacklisted, and the network bound holds. Every machine step is also checked against
    its spec (``checked_step``).
    """

    name = "sync"

    def __init__(self, heights: int = 3, ticks: int = 3, in_flight: int = 2, faults: int = 1):
        from blockfsm.machine.crypto import StandInVerifier
        from blockfsm.machine.sync_client import SYNC_CLIENT, SyncClientConfig
        from blockfsm.machine.sync_server import SYNC_SERVER, SyncServerConfig
        from blockfsm.machine.types import ValidatorSet
        from blockfsm.spec.strategies.chains import DEFAULT_CHAIN_ID, chain_of, make_signers

        self.heights, self.ticks, self.in_flight, self.max_faults = (
            heights,
            ticks,
            in_flight,
            faults,
        )
        signers = make_signers(4)
        client, honest, byzantine, _ = signers
        self.client_key = client.public_key
        self.honest_key = honest.public_key
        self.byzantine = byzantine
        self.chain_id = DEFAULT_CHAIN_ID
        self.canonical = chain_of(heights, signers)
        self.canonical_blocks = tuple(self.canonical.snapshot().blocks_from(0, heights))
        self.client_machine = SYNC_CLIENT
        self.server_machine = SYNC_SERVER
        self.client_config = SyncClientConfig(
            chain_id=self.chain_id,
            own_key=client.public_key,
            validators=ValidatorSet.equal(s.public_key for s in signers),
            verifier=StandInVerifier.of(signers),
            request_limit=3,
            response_timeout=SECOND,
            blacklist_expiry_time=3 * SECOND,
            trigger_timeout=2 * SECOND,
            trigger_rate_limit=SECOND,
            advertise_expiry=10 * SECOND,
            max_sync_time=3 * SECOND,
        )
        self.server_config = SyncServerConfig(
            chain_id=self.chain_id, signer=honest, request_limit=3, advertise_time=2 * SECOND
        )
        self.invariants = (
            StateInvariant(
                "committed-is-canonical",
                "the client's committed blocks are the canonical chain's blocks",
                self._committed_is_canonical,
            ),
            StateInvariant(
                "honest-never-blamed",
                "the honest server is never on the client's blacklist",
                lambda w: all(peer != self.honest_key for peer, _ in w.client.blacklist),
            ),
            StateInvariant(
                "network-bound",
                "at most in_flight messages are in flight",
                lambda w: len(w.flight) <= self.in_flight,
            ),
        )

    @property
    def parameters(self) -> dict[str, Any]:
        return {
            "heights": self.heights,
            "ticks": self.ticks,
            "in_flight": self.in_flight,
            "faults": self.max_faults,
        }

    def _committed_is_canonical(self, world: SyncWorld) -> bool:
        return world.committed < len(world.blocks) and all(
            world.blocks[h] == self.canonical_blocks[h] if h < self.heights else False
            for h in range(world.committed + 1)
        )

    def initial(self) -> SyncWorld:
        from blockfsm.machine.types import Certificate

        return SyncWorld(
            now=0,
            client=self.client_machine.initial(self.client_config),
            blocks=(),
            committed=-1,
            certificate=Certificate.genesis(self.chain_id),
            server=self.server_machine.initial(self.server_config),
            flight=(),
            faults=0,
            byzantine_advertised=-1,
        )

    def key(self, world: SyncWorld) -> bytes:
        return itf.canonical(world)

    # actions: ("tick",), ("deliver", i, what), ("drop", i, what), ("forge", i, what),
    # ("empty", i, what), ("byzantine_advertise",); i indexes the (sorted) messages in flight and
    # ``what`` only describes the message for a reader.
    def actions(self, world: SyncWorld) -> list[Any]:
        out: list[Any] = []
        if world.now < self.ticks * SECOND:
            out.append(("tick",))
        faults_left = world.faults < self.max_faults
        for i, m in enumerate(world.flight):
            if i > 0 and m == world.flight[i - 1]:
                continue  # the same message twice: one choice
            what = f"{type(m.message).__name__} to {m.to}"
            out.append(("deliver", i, what))
            if faults_left:
                out.append(("drop", i, what))
                if m.to == "byzantine":
                    out.append(("forge", i, what))
                    out.append(("empty", i, what))
        if world.byzantine_advertised < world.now:
            out.append(("byzantine_advertise",))
        return out

    def _view(self, world: SyncWorld) -> Any:
        from blockfsm.machine.view import InMemoryChainView

        return InMemoryChainView(
            list(world.blocks), len(world.blocks), world.committed, world.certificate
        )

    def _send(self, flight: list[InFlight], to: str, message: Any) -> None:
        if len(flight) < self.in_flight:
            flight.append(InFlight(to=to, message=message))

    def _client_step(self, world: SyncWorld, event: Any, flight: list[InFlight]) -> SyncWorld:
        from blockfsm.machine.core import Send
        from blockfsm.machine.sync_client import Commit, Persist, UpdateHighestCertificate

        after, effects = checked_step(
            self.client_machine, self.client_config, world.client, event, self._view(world)
        )
        blocks, committed, certificate = list(world.blocks), world.committed, world.certificate
        for effect in effects:
            kind = type(effect)
            if kind is Persist:
                h = effect.block.height
                if h < len(blocks) and blocks[h] != effect.block:
                    del blocks[h:]
                if h == len(blocks):
                    blocks.append(effect.block)
            elif kind is Commit:
                committed = max(committed, effect.height)
            elif kind is UpdateHighestCertificate:
                if effect.certificate.view >= certificate.view:
                    certificate = effect.certificate
            elif kind is Send:
                to = "honest" if effect.peer == self.honest_key else "byzantine"
                self._send(flight, to, effect.message)
        return attrs.evolve(
            world, client=after, blocks=tuple(blocks), committed=committed, certificate=certificate
        )

    def _server_step(self, world: SyncWorld, event: Any, flight: list[InFlight]) -> SyncWorld:
        after, effects = checked_step(
            self.server_machine,
            self.server_config,
            world.server,
            event,
            self.canonical.snapshot(),
        )
        for effect in effects:
            self._send(flight, "client", effect.message)
        return attrs.evolve(world, server=after)

    def _deliver_to_client(
        self, world: SyncWorld, m: Any, peer: bytes, flight: list[InFlight]
    ) -> SyncWorld:
        from blockfsm.machine import messages

        if type(m) is messages.AdvertiseBlock:
            event: Any = messages.AdvertiseBlockReceived(peer=peer, advertisement=m)
        elif type(m) is messages.AdvertiseCertificate:
            event = messages.AdvertiseCertificateReceived(peer=peer, advertisement=m)
        else:
            event = messages.SyncResponseReceived(peer=peer, response=m)
        return self._client_step(world, event, flight)

    def step(self, world: SyncWorld, action: Any) -> SyncWorld:
        from blockfsm.machine.core import Tick
        from blockfsm.machine.messages import SyncRequestReceived

        kind = action[0]
        flight = list(world.flight)
        if kind == "tick":
            world = attrs.evolve(world, now=world.now + SECOND)
            world = self._client_step(world, Tick(now=world.now), flight)
            world = self._server_step(world, Tick(now=world.now), flight)
        elif kind == "byzantine_advertise":
            world = attrs.evolve(world, byzantine_advertised=world.now)
            world = self._deliver_to_client(
                world, self._byzantine_advertisement(world.now), self.byzantine.public_key, flight
            )
        else:
            index = action[1]
            m = flight.pop(index)
            if kind == "drop":
                world = attrs.evolve(world, faults=world.faults + 1)
            elif kind in ("forge", "empty"):
                world = attrs.evolve(world, faults=world.faults + 1)
                reply = self._byzantine_reply(m.message, forged=kind == "forge")
                world = self._deliver_to_client(world, reply, self.byzantine.public_key, flight)
            elif m.to == "client":
                world = self._deliver_to_client(world, m.message, self.honest_key, flight)
            elif m.to == "honest":
                event = SyncRequestReceived(peer=self.client_key, request=m.message)
                world = self._server_step(world, event, flight)
            # delivered to the Byzantine server: it stays silent
        return attrs.evolve(world, flight=tuple(sorted(flight, key=itf.canonical)))

    def _byzantine_advertisement(self, now: int) -> Any:
        from blockfsm.machine.messages import AdvertiseBlock
        from blockfsm.machine.types import advertise_block_payload

        key = self.byzantine.public_key
        height = self.heights  # above the honest server's committed height (heights - 2)
        return AdvertiseBlock(
            chain_id=self.chain_id,
            server=key,
            committed_height=height,
            timestamp=now,
            signature=self.byzantine.sign(advertise_block_payload(self.chain_id, key, height, now)),
        )

    def _byzantine_reply(self, request: Any, *, forged: bool) -> Any:
        """A forged reply is a fork of its own from the requested height: well-linked blocks whose
        justifies carry no signatures (so only the certificate check can refuse them)."""
        from blockfsm.machine.messages import SyncResponse
        from blockfsm.machine.types import ZERO_HASH, Block, Certificate

        genesis = Certificate.genesis(self.chain_id)
        if not forged:
            return SyncResponse(
                chain_id=self.chain_id,
                request_id=request.request_id,
                blocks=(),
                highest_certificate=genesis,
            )
        start = request.start_height
        parent = self.canonical_blocks[start - 1].hash if 0 < start <= self.heights else ZERO_HASH
        blocks = []
        for height in range(start, start + 3):
            justify = (
                genesis
                if height == 0
                else Certificate(
                    chain_id=self.chain_id, view=height, height=height - 1, block_hash=parent
                )
            )
            block = Block.make(
                chain_id=self.chain_id,
                height=height,
                parent_hash=parent,
                justify=justify,
                payload=b"forged",
            )
            blocks.append(block)
            parent = block.hash
        last = blocks[-1]
        return SyncResponse(
            chain_id=self.chain_id,
            request_id=request.request_id,
            blocks=tuple(blocks),
            highest_certificate=Certificate(
                chain_id=self.chain_id, view=1_000, height=last.height, block_hash=last.hash
            ),
        )


register("sync")(SyncSystem)


# --- the cluster system: nodes (attester, sync server, sync client) and an equivocator ----------


class StateEncoder:
    """Canonical bytes of an immutable value, for state keys: equal values give equal bytes in
    every process (no ``hash()``, sets and maps sorted), and every encoding is self-delimiting
    (lengths and counts first), so unequal values give unequal bytes. It is not ITF (traces are
    written by ``itf``); it is a compact form of the same values, several times cheaper to make.

    Each tuple, frozenset and attrs instance (immutable: the explored states are made of frozen
    records) is encoded once per object and the encoding kept: successive states share most of
    their parts. The cache holds the object, so its ``id`` is not reused while the entry lives.
    Lists, sets and dicts are encoded afresh each time."""

    limit = 100_000
    """Entries kept at most (each holds its object alive): about 100 MB in the cluster."""

    def __init__(self) -> None:
        self._cache: dict[int, tuple[Any, bytes]] = {}
        self._fields: dict[type, tuple[bytes, tuple[str, ...]]] = {}

    def __call__(self, value: Any) -> bytes:
        kind = type(value)
        if kind is int:
            return b"i%d;" % value
        if kind is bytes:
            return b"b%d;%b" % (len(value), value)
        if kind is str:
            text = value.encode()
            return b"s%d;%b" % (len(text), text)
        if value is None:
            return b"N"
        if kind is bool:
            return b"T" if value else b"F"
        if kind is list:  # mutable containers: encoded every time, never kept
            return b"(%d;%b" % (len(value), b"".join([self(v) for v in value]))
        if kind is set:
            return b"{%d;%b" % (len(value), b"".join(sorted([self(v) for v in value])))
        if kind is dict:
            items = sorted([self(k) + self(v) for k, v in value.items()])
            return b"[%d;%b" % (len(items), b"".join(items))
        hit = self._cache.get(id(value))
        if hit is not None and hit[0] is value:
            return hit[1]
        if kind is tuple:
            encoded = b"(%d;%b" % (len(value), b"".join([self(v) for v in value]))
        elif kind is frozenset:
            encoded = b"{%d;%b" % (len(value), b"".join(sorted([self(v) for v in value])))
        elif attrs.has(kind):
            known = self._fields.get(kind)
            if known is None:
                name = f"{kind.__module__}.{kind.__qualname__}".encode()
                fields = tuple(f.name for f in attrs.fields(kind) if f.eq)
                known = self._fields[kind] = (b"<%d;%b" % (len(name), name), fields)
            head, fields = known
            encoded = head + b"".join([self(getattr(value, f)) for f in fields])
        else:
            text = itf.canonical(value)
            encoded = b"?%d;%b" % (len(text), text)
        if len(self._cache) >= self.limit:
            self._cache.clear()  # a memo only: dropping it costs time, never correctness
        self._cache[id(value)] = (value, encoded)
        return encoded


@attrs.frozen(kw_only=True)
class ClusterWorld:
    now: int
    nodes: tuple[Any, ...]
    chains: tuple[tuple[tuple[Any, ...], int, Any], ...]
    flight: tuple[tuple[int, int, Any], ...]
    """Messages in flight as (destination, source, message): kept sorted (a multiset) when
    delays are unbounded, in the order they were sent when they are bounded."""
    faults: int
    delays: int = 0
    """Delays spent so far: messages overtaken by deliveries, and timers fired while messages
    were in flight (``ClusterSystem.delays``)."""
    signed: frozenset[tuple[int, int, int, int, bytes]]
    """Ghost history: every vote an honest node signed, as (node, height, round, phase, hash)."""
    durable: tuple[tuple[Any, Any], ...] = ()
    """Per node, what a crash leaves besides its chain: the last ``PersistGuard`` and the last
    ``PersistSigningGuard`` it wrote (None before the first)."""
    crashed: int = 0
    """Crash-restarts spent (``ClusterSystem.crashes``)."""
    forged: int = 0
    """Messages the Byzantine keeper sent of its own choosing (``ClusterSystem.forgeries``)."""
    lost: int = 0
    """Proposals the network lost (``ClusterSystem.lost_proposals``)."""
    ghost: tuple[Any, ...] = ()
    """The memory of each cluster invariant's monitor (``spec/cluster_rules.py``), frozen: what
    the spec remembers of the run's history is part of the state."""


class ClusterSystem:
    """``nodes`` keepers running the real node machine (attester, sync server, sync client); the
    producer of height 0, round 0 is Byzantine (``byzantine=1``). By default it runs the node
    machine but sends every proposal it makes together with a twin, another block for the same
    (height, round); ``silent`` makes it send nothing of the honest machine's. Time advances in
    ticks of half a round timeout, at most ``ticks``; the network holds at most ``in_flight``
    messages; the adversary may drop ``faults`` messages. Heights above ``heights - 1`` are not
    proposed on (their messages are not delivered).

    The adversary's other budgets, each 0 by default:

    - ``crashes``: an honest node crashes between any two steps and restarts at once from what
      it persisted (its chain, its last ``PersistGuard`` and ``PersistSigningGuard``): the
      action ``("crash", i)``;
    - ``forgeries``: the Byzantine keeper, a signing oracle, sends one honest node a message of
      its choosing that its own key signs: an attestation or a confirmation of the node's
      (height, round) for nil or a block the node holds, an attestation nil of the next round,
      and, where it produces the round, a new block whose proof is a quorum forged in every
      keeper's name. It does so when the network is quiet (no message in flight), so the choice
      is of what and when between exchanges, not also of where in a queue;
    - ``lost_proposals``: the network loses a proposal in flight (``("lose", i)``), apart from
      ``faults``.

    Safety is the spec's: every cluster invariant of ``spec/cluster_rules.py`` (C-1 to C-8), fed
    every honest step and restart as the simulator feeds them, with each monitor's memory kept in
    the state (``ClusterWorld.ghost``). Sync advertisements are not put on the network (see
    ``_put``).
    """

    name = "cluster"

    def __init__(
        self,
        nodes: int = 4,
        heights: int = 3,
        ticks: int = 6,
        in_flight: int = 64,
        faults: int = 0,
        byzantine: int = 1,
        delays: int | None = 2,
        crashes: int = 0,
        forgeries: int = 0,
        lost_proposals: int = 0,
        silent: bool = False,
    ) -> None:
        from blockfsm.machine.attester import producer_for
        from blockfsm.machine.crypto import StandInSigner, StandInVerifier
        from blockfsm.machine.node import NODE, NodeConfig
        from blockfsm.machine.types import ZERO_HASH, ValidatorSet
        from blockfsm.spec.node import CLUSTER_SPEC

        self.size, self.heights, self.ticks = nodes, heights, ticks
        self.in_flight, self.max_faults, self.byzantine_count = in_flight, faults, byzantine
        self.delays = delays
        """None: any message in flight may be delivered next (an asynchronous network). An
        integer: messages are delivered in the order they were sent, except that a run may
        overtake at most this many messages in all (delay-bounded scheduling, docs/traces.md)."""
        if delays is not None and delays < 0:
            raise ValueError(f"delays must be None or >= 0, not {delays}")
        for label, value in (
            ("crashes", crashes),
            ("forgeries", forgeries),
            ("lost_proposals", lost_proposals),
        ):
            if value < 0:
                raise ValueError(f"{label} must be >= 0, not {value}")
        self.crashes, self.forgeries, self.lost_proposals = crashes, forgeries, lost_proposals
        self.silent = silent
        self._lost = 0
        """Messages the last ``step`` lost to a full network (read by ``footprint``)."""
        self._encoded = StateEncoder()
        self.signers = [StandInSigner.from_seed(i) for i in range(nodes)]
        validators = ValidatorSet.equal(s.public_key for s in self.signers)
        verifier = StandInVerifier.of(self.signers)
        self.machine = NODE
        self.chain_id = 7
        self.configs = [
            NodeConfig.make(
                chain_id=self.chain_id,
                signer=s,
                validators=validators,
                verifier=verifier,
                seed=i,
                advertise_time=60_000,
                trigger_timeout=60_000,
            )
            for i, s in enumerate(self.signers)
        ]
        self.tick_ms = self.configs[0].attester.round_timeout // 2
        self.keys = [s.public_key for s in self.signers]
        self.index = {k: i for i, k in enumerate(self.keys)}
        first = producer_for(self.configs[0].attester.keepers, ZERO_HASH, 0)
        self.byzantine = {self.index[first]} if byzantine and first in self.index else set()
        self.rules = tuple(inv for inv in CLUSTER_SPEC.invariants if inv.monitor is not None)
        self.invariants: tuple[StateInvariant, ...] = ()
        """None over states alone: the spec's cluster invariants are checked on each step."""
        self.top_round = 0
        """The highest round an honest attester was in at a height below ``heights``, over
        every state stepped into."""

    @property
    def parameters(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "nodes": self.size,
            "heights": self.heights,
            "ticks": self.ticks,
            "in_flight": self.in_flight,
            "faults": self.max_faults,
            "byzantine": self.byzantine_count,
            "delays": self.delays,
        }
        # The adversary's newer budgets are named only when used: traces written before they
        # existed carry the same parameters as the same system today.
        for label, value, default in (
            ("crashes", self.crashes, 0),
            ("forgeries", self.forgeries, 0),
            ("lost_proposals", self.lost_proposals, 0),
            ("silent", self.silent, False),
        ):
            if value != default:
                out[label] = value
        return out

    @property
    def figures(self) -> dict[str, Any]:
        """What the search reached, beside its counts."""
        return {"top_round": self.top_round}

    # --- the spec's monitors, their memory frozen into the state --------------------------------

    def _freeze(self, monitor: Any, old: tuple[Any, ...] | None = None) -> tuple[Any, ...]:
        """A monitor's memory as a canonical value: its fields but ``detail`` and those it names
        ``memo`` (caches of verdicts), each dict and set sorted. ``old`` is returned when equal,
        so a state shares the unchanged parts of the one it came from (and their encodings)."""
        skip = ("detail", *getattr(monitor, "memo", ()))
        out: list[Any] = []
        before = iter(old or ())
        for name, value in sorted(vars(monitor).items()):
            if name in skip:
                continue
            kind = type(value)
            if kind is dict:
                field = (name, "map", tuple(self._sorted(value.items(), pairs=True)))
            elif kind is set:
                field = (name, "set", tuple(self._sorted(value)))
            else:
                field = (name, "value", value)
            was = next(before, None)
            out.append(was if was == field else field)
        frozen = tuple(out)
        return old if old == frozen and old is not None else frozen

    def _sorted(self, items: Iterable[Any], pairs: bool = False) -> list[Any]:
        """Sorted by value (a dict's items by key), or, when the values do not compare, by
        their canonical encoding: the same order in every process either way."""
        try:
            return sorted(items, key=(lambda kv: kv[0]) if pairs else None)
        except TypeError:
            order = self._encoded
            return sorted(items, key=(lambda kv: order(kv[0])) if pairs else order)

    def _thaw(self, world: ClusterWorld) -> list[Any]:
        monitors = []
        for inv, frozen in zip(self.rules, world.ghost, strict=True):
            assert inv.monitor is not None
            monitor: Any = inv.monitor()
            for name, kind, value in frozen:
                if kind == "map":
                    setattr(monitor, name, dict(value))
                elif kind == "set":
                    setattr(monitor, name, set(value))
                else:
                    setattr(monitor, name, value)
            monitors.append(monitor)
        return monitors

    def _observe(
        self,
        monitors: list[Any],
        i: int,
        before: int,
        event: Any,
        after: Any,
        effects: tuple[Any, ...],
        view: Any,
    ) -> None:
        from blockfsm.spec.language import Transition

        t = Transition(
            config=self.configs[i],
            before=before,
            event=event,
            after=after,
            effects=effects,
            view=view,
        )
        for inv, monitor in zip(self.rules, monitors, strict=True):
            if not monitor.observe(t):
                detail = getattr(monitor, "detail", "")
                raise StepViolation(
                    inv.id, f"{inv.id} violated: {inv.statement}: node {i}: {detail}"
                )

    def initial(self) -> ClusterWorld:
        from blockfsm.machine.types import Certificate

        genesis = Certificate.genesis(self.chain_id)
        ghost = tuple(self._freeze(inv.monitor()) for inv in self.rules if inv.monitor)
        return ClusterWorld(
            now=0,
            nodes=tuple(self.machine.initial(c) for c in self.configs),
            chains=tuple(((), -1, genesis) for _ in self.configs),
            flight=(),
            faults=0,
            signed=frozenset(),
            durable=tuple((None, None) for _ in self.configs),
            ghost=ghost,
        )

    def key(self, world: ClusterWorld) -> bytes:
        """The world's canonical bytes (``StateEncoder``: equal worlds, equal keys, and each
        encoding self-delimiting, so unequal worlds have unequal keys). A delivery changes one
        node and one chain and shares every other part with the world it came from; the encoder
        keeps each part's encoding by object, so each is computed once."""
        encode = self._encoded
        parts = [
            b"%d;%d;%d;%d;%d;%d;%d;"
            % (
                world.now,
                world.faults,
                world.delays,
                world.crashed,
                world.forged,
                world.lost,
                len(world.flight),
            )
        ]
        parts.extend(encode(n) for n in world.nodes)
        parts.extend(encode(c) for c in world.chains)
        parts.extend(encode(m) for m in world.flight)
        parts.append(encode(world.signed))
        parts.append(encode(world.durable))
        parts.append(encode(world.ghost))
        return b"".join(parts)

    def actions(self, world: ClusterWorld) -> list[Any]:
        """A tick, while time is left; the delivery of each message in flight (once per run of
        equal messages), and its drop while the fault budget lasts. With bounded delays, a
        delivery overtakes every deliverable message sent before it, a tick overtakes every
        deliverable message in flight (time passes as if it were the next message), and either
        is enabled only while the delays it spends fit in the budget. Then the adversary's
        budgets: a crash-restart of each honest node, the loss of each proposal in flight, and,
        on a quiet network, each message the Byzantine keeper may forge."""
        from blockfsm.machine.attester import Proposal

        out: list[Any] = []
        left = None if self.delays is None else self.delays - world.delays
        overtaken = 0
        lose = world.lost < self.lost_proposals
        for i, (dest, source, message) in enumerate(world.flight):
            if getattr(getattr(message, "block", None), "height", 0) >= self.heights:
                continue
            if i > 0 and world.flight[i - 1] == (dest, source, message):
                overtaken += 1
                continue
            what = f"{type(message).__name__} {source}->{dest}"
            if left is None or overtaken <= left:
                out.append(("deliver", i, what))
            if world.faults < self.max_faults:
                out.append(("drop", i, what))
            if lose and type(message) is Proposal:
                out.append(("lose", i, what))
            overtaken += 1
        if world.now < self.ticks * self.tick_ms and (left is None or min(overtaken, 1) <= left):
            out.insert(0, ("tick",))
        if world.crashed < self.crashes:
            out.extend(
                ("crash", i, f"node {i}") for i in range(self.size) if i not in self.byzantine
            )
        if world.forged < self.forgeries and not world.flight:
            out.extend(self._forgeries(world))
        return out

    def _forgeries(self, world: ClusterWorld) -> list[Any]:
        """What the Byzantine keeper may send one honest node now, each signed with its key
        (the forged proof's votes "from" the other keepers carry the adversary's forged
        signature)."""
        from blockfsm.adapters.engines.adversary import FORGED
        from blockfsm.machine.attester import ATTEST, CONFIRM, producer_for
        from blockfsm.machine.types import ZERO_HASH, Block
        from blockfsm.spec.strategies.attester import (
            signed_nil_vote,
            signed_proposal,
            signed_vote,
        )

        out: list[Any] = []
        for b in sorted(self.byzantine):
            signer, key = self.signers[b], self.keys[b]
            keepers = self.configs[b].attester.keepers
            for d in range(self.size):
                a = world.nodes[d].attester
                if d in self.byzantine or a.control == "Waiting":
                    continue
                h, r = a.height, a.round
                held = {p.block.hash: p.block for p in a.proposals if p.block.height == h}
                for phase, label in ((ATTEST, "attest"), (CONFIRM, "confirm")):
                    nil = signed_nil_vote(signer, phase, self.chain_id, h, r)
                    out.append(("forge", d, nil, f"{label} nil ({h},{r}) {b}->{d}"))
                    for x, block in held.items():
                        what = f"{label} {x[:4].hex()} ({h},{r}) {b}->{d}"
                        vote = signed_vote(signer, phase, self.chain_id, block, r)
                        out.append(("forge", d, vote, what))
                ahead = signed_nil_vote(signer, ATTEST, self.chain_id, h, r + 1)
                out.append(("forge", d, ahead, f"attest nil ({h},{r + 1}) {b}->{d}"))
                blocks, _, certificate = world.chains[d]
                parent = blocks[h - 1].hash if 0 < h <= len(blocks) else ZERO_HASH
                if h > len(blocks) or producer_for(keepers, parent, r) != key:
                    continue
                block = Block.make(
                    chain_id=self.chain_id,
                    height=h,
                    parent_hash=parent,
                    justify=certificate,
                    payload=key + b"/byz/forged-proof",
                )
                own = {
                    p: signed_vote(signer, p, self.chain_id, block, r) for p in (ATTEST, CONFIRM)
                }
                proof = tuple(
                    own[p] if k == key else attrs.evolve(own[p], voter=k, signature=FORGED)
                    for p in (ATTEST, CONFIRM)
                    for k in keepers
                )
                proposal = signed_proposal(signer, self.chain_id, block, r, -1, proof)
                what = f"new block, forged proof ({h},{r}) {b}->{d}"
                out.append(("forge", d, proposal, what))
        return out

    def _overtaken(self, world: ClusterWorld, index: int) -> int:
        """How many deliverable messages sent before ``flight[index]`` its delivery overtakes."""
        return sum(
            1
            for _, _, m in world.flight[:index]
            if getattr(getattr(m, "block", None), "height", 0) < self.heights
        )

    def _view(self, chain: tuple[tuple[Any, ...], int, Any]) -> Any:
        from blockfsm.machine.view import InMemoryChainView

        blocks, committed, certificate = chain
        return InMemoryChainView(list(blocks), len(blocks), committed, certificate)

    def _node_step(
        self,
        world: ClusterWorld,
        i: int,
        event: Any,
        flight: list[Any],
        monitors: list[Any] | None,
    ) -> ClusterWorld:
        from blockfsm.machine.attester import PersistGuard, Proposal, Vote
        from blockfsm.machine.core import Broadcast, Send
        from blockfsm.machine.producer import PersistSigningGuard
        from blockfsm.machine.sync_client import Commit, Persist, UpdateHighestCertificate

        if self.silent and i in self.byzantine:
            return world  # it speaks only through forgeries
        after, effects = checked_step(
            self.machine, self.configs[i], world.nodes[i], event, self._view(world.chains[i])
        )
        blocks, committed, certificate = world.chains[i]
        before = committed
        blocks_list = list(blocks)
        signed = world.signed
        durable = world.durable
        for effect in effects:
            kind = type(effect)
            if kind is Persist:
                h = effect.block.height
                if h < len(blocks_list) and blocks_list[h] != effect.block:
                    del blocks_list[h:]
                if h == len(blocks_list):
                    blocks_list.append(effect.block)
            elif kind is Commit:
                committed = max(committed, min(effect.height, len(blocks_list) - 1))
            elif kind is UpdateHighestCertificate:
                if effect.certificate.view >= certificate.view:
                    certificate = effect.certificate
            elif kind is PersistGuard:
                durable = (*durable[:i], (effect.guard, durable[i][1]), *durable[i + 1 :])
            elif kind is PersistSigningGuard:
                durable = (*durable[:i], (durable[i][0], effect.guard), *durable[i + 1 :])
            elif kind is Send:
                dest = self.index.get(effect.peer, -1)
                if dest >= 0 and dest != i:
                    self._put(flight, dest, i, effect.message)
            elif kind is Broadcast:
                m = effect.message
                if type(m) is Vote and i not in self.byzantine and m.voter == self.keys[i]:
                    signed = signed | {(i, m.height, m.round, m.phase, m.block_hash)}
                for dest in range(self.size):
                    if dest != i:
                        self._put(flight, dest, i, m)
                        if type(m) is Proposal and i in self.byzantine:
                            self._put(flight, dest, i, self._twin(i, m))
        chain = (tuple(blocks_list), committed, certificate)
        if monitors is not None and i not in self.byzantine:
            self._observe(monitors, i, before, event, after, effects, self._view(chain))
            if after.attester.height < self.heights:
                self.top_round = max(self.top_round, after.attester.round)
        nodes = (*world.nodes[:i], after, *world.nodes[i + 1 :])
        chains = (*world.chains[:i], chain, *world.chains[i + 1 :])
        return attrs.evolve(world, nodes=nodes, chains=chains, signed=signed, durable=durable)

    def _put(self, flight: list[Any], dest: int, source: int, message: Any) -> None:
        # Sync advertisements are left out: the nodes start together, so within these bounds no
        # node needs to sync, and advertisements would only fill the bounded network (the sync
        # protocol is explored by the sync system). A silent Byzantine keeper hears nothing.
        if type(message).__name__ in ("AdvertiseBlock", "AdvertiseCertificate"):
            return
        if self.silent and dest in self.byzantine:
            return
        if len(flight) < self.in_flight:
            flight.append((dest, source, message))
        else:
            self._lost += 1

    def _twin(self, i: int, p: Any) -> Any:
        from blockfsm.adapters.engines.adversary import twin_of
        from blockfsm.machine.attester import Proposal, proposal_payload

        block = twin_of(p.block)
        signature = self.signers[i].sign(
            proposal_payload(self.chain_id, block.height, p.round, block.hash, p.valid_round)
        )
        return Proposal(
            round=p.round,
            block=block,
            valid_round=p.valid_round,
            proof=p.proof,
            producer=p.producer,
            signature=signature,
        )

    def _restart(self, world: ClusterWorld, i: int, monitors: list[Any]) -> ClusterWorld:
        """Node ``i`` loses its memory and comes back from its store: its chain, its last
        persisted guards."""
        from blockfsm.machine.node import initial
        from blockfsm.spec.cluster_rules import Restart

        guard, signing_guard = world.durable[i]
        node = initial(self.configs[i], guard, signing_guard)
        chain = world.chains[i]
        self._observe(monitors, i, chain[1], Restart(), node, (), self._view(chain))
        nodes = (*world.nodes[:i], node, *world.nodes[i + 1 :])
        return attrs.evolve(world, nodes=nodes, crashed=world.crashed + 1)

    def step(self, world: ClusterWorld, action: Any) -> ClusterWorld:
        from blockfsm.adapters.node.inbound import message_event
        from blockfsm.machine.core import Tick

        flight = list(world.flight)
        self._lost = 0
        monitors = self._thaw(world)
        kind = action[0]
        if kind == "tick":
            spent = world.delays
            if self.delays is not None and self._overtaken(world, len(world.flight)):
                spent += 1  # a timer that fires while messages are in flight: one early event
            world = attrs.evolve(world, now=world.now + self.tick_ms, delays=spent)
            for i in range(self.size):
                world = self._node_step(world, i, Tick(now=world.now), flight, monitors)
        elif kind == "crash":
            world = self._restart(world, action[1], monitors)
        elif kind == "forge":
            (b,) = sorted(self.byzantine)
            world = attrs.evolve(world, forged=world.forged + 1)
            event = message_event(self.keys[b], action[2])
            world = self._node_step(world, action[1], event, flight, monitors)
        else:
            dest, source, m = flight.pop(action[1])
            if kind == "drop":
                world = attrs.evolve(world, faults=world.faults + 1)
            elif kind == "lose":
                world = attrs.evolve(world, lost=world.lost + 1)
            else:
                if self.delays is not None and action[1] > 0:
                    spent = world.delays + self._overtaken(world, action[1])
                    world = attrs.evolve(world, delays=spent)
                peer = self.keys[source]
                event = message_event(peer, m)
                world = self._node_step(world, dest, event, flight, monitors)
        if self.delays is None:
            flight.sort(key=self._encoded)
        ghost = tuple(self._freeze(m, old) for m, old in zip(monitors, world.ghost, strict=True))
        return attrs.evolve(world, flight=tuple(flight), ghost=ghost)

    # --- which actions commute (the partial-order reduction, see docs/traces.md) ---------------

    @property
    def commutes(self) -> bool:
        """Deliveries commute only on an asynchronous network: with bounded delays, the delays
        a delivery spends depend on which messages were delivered before it."""
        return self.delays is None

    def action_id(self, world: ClusterWorld, action: Any) -> Any:
        """A delivery or a drop is named by its message, (destination, source, message), which
        is the same in every state it is enabled in; the index into ``flight`` is not."""
        if action[0] in ("tick", "crash"):
            return action[:2]
        if action[0] == "forge":
            return action[:3]
        return (action[0], world.flight[action[1]])

    def footprint(self, world: ClusterWorld, action: Any, after: ClusterWorld) -> Any:
        """(kind, message, node stepped, messages sent), or None for an action that commutes
        with nothing: a tick (every node steps), and a step that lost a message to a full network
        (what it sends then depends on what else is in flight)."""
        if action[0] in ("tick", "crash", "forge") or self._lost or self.delays is not None:
            return None
        dest, source, message = world.flight[action[1]]
        if action[0] in ("drop", "lose"):
            return (action[0], (dest, source, message), -1, 0)
        sent = len(after.flight) - len(world.flight) + 1
        return ("deliver", (dest, source, message), dest, sent)

    def independent(self, world: ClusterWorld, a: Any, b: Any) -> bool:
        """Two deliveries or drops commute when they take different messages, step different
        nodes (a drop steps none), do not both spend the fault budget, and the network has room
        for what both send in either order: each reads and writes only its own node's state and
        chain, removes its own message, adds to the multiset of messages in flight and to the
        ghost set of signed votes (both unions, which commute)."""
        if a is None or b is None:
            return False
        kind_a, message_a, node_a, sent_a = a
        kind_b, message_b, node_b, sent_b = b
        if message_a == message_b or (kind_a == kind_b and kind_a in ("drop", "lose")):
            return False
        if node_a >= 0 and node_a == node_b:
            return False
        return len(world.flight) - 2 + sent_a + sent_b <= self.in_flight


register("cluster")(ClusterSystem)


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
) -> Report:
    if use_dfs:
        if depth is None:
            raise ValueError("a depth-first search needs a depth bound")
        if reduce:
            raise ValueError("the reduction runs with the breadth-first search only")
        return dfs(system, max_depth=depth, max_states=max_states, progress=progress)
    return bfs(system, max_depth=depth, max_states=max_states, progress=progress, reduce=reduce)


def reducible(system: System) -> bool:
    """Whether ``system`` states which of its actions commute (``Reducible``) in this
    configuration (``commutes``, true unless the system says otherwise)."""
    return all(hasattr(system, m) for m in ("action_id", "footprint", "independent")) and bool(
        getattr(system, "commutes", True)
    )


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


def _print_report(report: Report, path: Path | None) -> None:
    from rich.console import Console

    out = Console(highlight=False)
    params = " ".join(f"{k}={v}" for k, v in report.parameters.items())
    out.print(
        f"{report.system} ({report.mode}, {params}): {report.states} states explored, "
        f"{report.distinct} distinct, depth {report.depth}, "
        f"{'complete' if report.complete else 'not complete'}, {report.seconds:.1f} s"
        + "".join(f", {k.replace('_', ' ')} {v}" for k, v in report.figures.items())
    )
    v = report.violation
    if v is None:
        out.print("[green]every invariant held in every state")
        return
    out.print(f"[red bold]{v.property_id} violated[/]: {v.message}", markup=True)
    out.print(f"Shortest path ({len(v.actions)} actions from the initial state):")
    for n, action in enumerate(v.actions, start=1):
        out.print(f"  {n:>3}. {describe_action(action)}", markup=False)
    if path is not None:
        out.print(f"trace written to {path} (replay it with `blockfsm replay {path}`)")


class DelayBound(click.ParamType):
    """A delay budget: an integer >= 0, or ``unbounded``."""

    name = "N|unbounded"

    def convert(self, value: Any, param: Any, ctx: Any) -> Any:
        if value is UNBOUNDED or (isinstance(value, int) and value >= 0):
            return value
        text = str(value).strip().lower()
        if text in ("unbounded", "none", "any"):
            return UNBOUNDED
        try:
            number = int(text)
        except ValueError:
            self.fail(f"{value!r} is neither an integer >= 0 nor 'unbounded'", param, ctx)
        if number < 0:
            self.fail(f"{number} is negative; give an integer >= 0 or 'unbounded'", param, ctx)
        return number


UNBOUNDED = "unbounded"


@click.command(name="explore")
@click.option(
    "--system",
    "system_name",
    type=click.Choice(sorted(SYSTEMS)),
    default="sync",
    show_default=True,
    help="The system to explore.",
)
@click.option(
    "--nodes",
    type=click.IntRange(min=2, max=10),
    default=None,
    help="Number of nodes (the cluster system).",
)
@click.option(
    "--heights",
    type=click.IntRange(min=1, max=20),
    default=None,
    help="Sync: blocks in the canonical chain (3); cluster: heights proposed on (3).",
)
@click.option(
    "--ticks",
    type=click.IntRange(min=0, max=100),
    default=None,
    help="Ticks of simulated time (sync: 3 of 1 s; cluster: 6 of half a round timeout).",
)
@click.option(
    "--in-flight",
    type=click.IntRange(min=0, max=1_000),
    default=None,
    help="Messages the network holds at once; a message sent to a full network is lost "
    "(sync: 2; cluster: 64).",
)
@click.option(
    "--faults",
    type=click.IntRange(min=0, max=20),
    default=None,
    help="Messages the adversary may drop or answer falsely (sync: 1; cluster: 0).",
)
@click.option(
    "--byzantine",
    type=click.IntRange(min=0, max=1),
    default=None,
    help="Cluster: 1 makes the producer of height 0 an equivocator; 0: every node honest (1).",
)
@click.option(
    "--crashes",
    type=click.IntRange(min=0),
    default=None,
    help="Cluster: honest crash-restarts the adversary may cause, each between any two steps (0).",
)
@click.option(
    "--forgeries",
    type=click.IntRange(min=0),
    default=None,
    help="Cluster: messages of its own choosing the Byzantine keeper may send on a quiet "
    "network: votes of any block or nil, a vote of the next round, a new block with a forged "
    "proof (0).",
)
@click.option(
    "--lost-proposals",
    type=click.IntRange(min=0),
    default=None,
    help="Cluster: proposals the network may lose (0).",
)
@click.option(
    "--silent",
    is_flag=True,
    default=False,
    help="Cluster: the Byzantine keeper sends nothing of the honest machine's (only forgeries).",
)
@click.option(
    "--delays",
    type=DelayBound(),
    default=None,
    help="Cluster: messages a run may deliver out of send order, one delay per message overtaken "
    "and one per timer fired while messages are in flight (2); 'unbounded': any order.",
)
@click.option(
    "--depth", type=click.IntRange(min=1), default=None, help="Depth bound (required with --dfs)."
)
@click.option("--dfs", "use_dfs", is_flag=True, help="Depth-bounded depth-first search.")
@click.option(
    "--reduce/--no-reduce",
    default=None,
    help="Sleep sets over commuting actions (the cluster system, breadth-first): fewer "
    "transitions, the same states. Default: on where the system supports it.",
)
@click.option(
    "--max-states",
    type=click.IntRange(min=1),
    default=None,
    help="Stop after this many distinct states (the report says: not complete).",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option(
    "--trace-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("traces"),
    show_default=True,
    help="Where a violation's shortest path is written as an ITF trace.",
)
def explore_command(
    system_name: str,
    nodes: int | None,
    heights: int | None,
    ticks: int | None,
    in_flight: int | None,
    faults: int | None,
    byzantine: int | None,
    crashes: int | None,
    forgeries: int | None,
    lost_proposals: int | None,
    silent: bool,
    delays: int | str | None,
    depth: int | None,
    use_dfs: bool,
    reduce: bool | None,
    max_states: int | None,
    as_json: bool,
    trace_dir: Path,
) -> None:
    """Visit every reachable state of a small system and check every invariant in each.

    Exit status: 0 no invariant was violated, 1 one was (its shortest path is written as a trace),
    2 a bad option.
    """
    import json
    import sys

    from rich.console import Console
    from rich.progress import Progress as Bar
    from rich.progress import SpinnerColumn, TextColumn, TimeElapsedColumn

    if use_dfs and depth is None:
        raise click.UsageError("--dfs needs --depth")
    if nodes is not None and system_name == "sync":
        raise click.UsageError(
            "--nodes applies to the cluster system; the sync system has one client and two servers"
        )
    given = {"nodes": nodes, "heights": heights, "ticks": ticks, "in_flight": in_flight}
    given["faults"] = faults
    if byzantine is not None:
        if system_name != "cluster":
            raise click.UsageError("--byzantine applies to the cluster system")
        given["byzantine"] = byzantine
    adversary: dict[str, Any] = {
        "crashes": crashes,
        "forgeries": forgeries,
        "lost_proposals": lost_proposals,
        "silent": silent or None,
    }
    for name, value in adversary.items():
        if value is not None:
            if system_name != "cluster":
                flag = "--" + name.replace("_", "-")
                raise click.UsageError(f"{flag} applies to the cluster system")
            given[name] = value
    chosen = {k: v for k, v in given.items() if v is not None}
    if delays is not None:
        if system_name != "cluster":
            raise click.UsageError("--delays applies to the cluster system")
        chosen["delays"] = None if delays == UNBOUNDED else delays
    system = SYSTEMS[system_name](**chosen)
    if reduce and not reducible(system):
        if system_name == "cluster":
            raise click.UsageError(
                "--reduce: with bounded delays the cluster's deliveries do not commute (the "
                "delays one spends depend on the order); use --delays unbounded"
            )
        raise click.UsageError(f"--reduce: the {system_name} system has no independence relation")
    if reduce and use_dfs:
        raise click.UsageError("--reduce runs with the breadth-first search; drop --dfs")
    if reduce is None:
        reduce = reducible(system) and not use_dfs
    with Bar(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
    ) as bar:
        task = bar.add_task(f"exploring {system_name}", total=None)

        def shown(explored: int, distinct: int, reached: int) -> None:
            bar.update(
                task,
                description=f"exploring {system_name}: {explored} states, {distinct} distinct, "
                f"depth {reached}",
            )

        report = explore(
            system,
            depth=depth,
            use_dfs=use_dfs,
            max_states=max_states,
            progress=shown,
            reduce=reduce,
        )
    path = write_trace(system, report, trace_dir)
    if as_json:
        out = report.as_json()
        if path is not None:
            out["trace_file"] = str(path)
        click.echo(json.dumps(out, indent=2))
    else:
        _print_report(report, path)
    sys.exit(0 if report.violation is None else 1)
