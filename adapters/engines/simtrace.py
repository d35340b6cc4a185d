"""Simulator counterexamples as ITF traces, and their replay.

``TracedSimulation`` is the simulator (``blockfsm.adapters.engines.sim.Simulation``) recording every
step an honest node takes (the event it was given, the effects it returned and the state it reached)
and every crash and restart of an honest node, in order. When a cluster safety invariant fails,
``simulation_document`` writes that history as an ITF trace (``#meta.kind == "simulation"``)
with the run's ``SimConfig`` and the violation.

Replay needs neither the network nor the Byzantine nodes: everything they did reached the honest
nodes as the events recorded. ``replay_simulation`` builds a fresh simulation from the recorded
config (the same keys, configs and initial states) and feeds each recorded event to the same
honest node through the simulator's own step path (which applies the node's writes to its chain
and checks the cluster invariants after every step), crashes and restarts the same nodes at the
same points, and compares each step's effects and state with the recording. The verdict is the
one ``blockfsm replay`` reports for every kind of trace: ``reproduces``, ``fails``, ``diverges``
or ``matches``.

What a trace holds per step (the ITF ``vars``): ``action`` (``step``, ``crash`` or ``restart``),
``node`` (its index), ``event`` and ``effects`` (ITF values; None for a crash or restart) and
``state``, the BLAKE2b-128 digest of the canonical encoding of the node's state after the step
(``STATE_DIGEST``; the full states of a long run would make the file large; the event and
effects are in full).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import attrs

from blockfsm.adapters.engines import itf
from blockfsm.adapters.engines.results import Difference, ReplayResult
from blockfsm.adapters.engines.sim import SafetyViolation, SimConfig, SimNode, Simulation

KIND = "simulation"

itf.register_module("blockfsm.adapters.engines.sim")  # SimConfig, in the trace's #meta


@attrs.frozen
class Choice:
    """One thing the simulator chose to happen next, for any node, Byzantine ones included: a
    node's tick at ``at``, the delivery of ``message`` from node ``source`` at ``at``, a crash or
    a restart. A run's choices, in order, are its schedule: fed again to the same nodes
    (``blockfsm.adapters.engines.shrink``), they drive the same run."""

    kind: str
    node: int
    source: int = -1
    at: int = 0
    message: Any = None


@attrs.frozen
class Record:
    action: str
    node: int
    event: Any = None
    effects: tuple[Any, ...] | None = None
    state: Any = None


STATE_DIGEST = "blake2b-128/state-encoder"
"""How a trace digests states (``#meta.state_digest``): BLAKE2b-128 of the explorer's canonical
state encoding (``StateEncoder``: equal states, equal bytes, in every process; several times
cheaper than ITF's, and it keeps the encodings of the parts successive states share). A trace
without the field digests the ITF canonical encoding, as traces did before."""


class Digests:
    """State digests for one trace, written or replayed, in the trace's scheme."""

    def __init__(self, scheme: str | None = STATE_DIGEST) -> None:
        from blockfsm.adapters.engines.explore import StateEncoder

        self._encode: Any = StateEncoder() if scheme == STATE_DIGEST else itf.canonical

    def __call__(self, state: Any) -> str:
        return hashlib.blake2b(self._encode(state), digest_size=16).hexdigest()


MAX_RECORDS = 500_000
"""Records kept at most (a long run would otherwise hold every state it passed through); past it
recording stops and no trace is written: the run is reproduced from its seed instead."""


class TracedSimulation(Simulation):
    """The simulator, recording what every honest node did, for a trace of a violation."""

    def __init__(self, config: SimConfig, *, max_records: int = MAX_RECORDS, **kwargs: Any) -> None:
        super().__init__(config, **kwargs)
        self.records: list[Record] = []
        self.max_records = max_records
        self.schedule: list[Choice] = []
        """Every choice of the run (``Choice``), kept while the records are."""

    @property
    def complete(self) -> bool:
        """Whether every step so far is recorded (a trace can be written)."""
        return len(self.records) <= self.max_records

    def _record(self, record: Record) -> None:
        if len(self.records) <= self.max_records:
            self.records.append(record)

    def _choose(self, choice: Choice) -> None:
        if len(self.records) <= self.max_records:
            self.schedule.append(choice)

    def _tick_node(self, node: SimNode) -> None:
        self._choose(Choice("tick", node.index, at=self.now))
        super()._tick_node(node)

    def _deliver(self, src: int, node: SimNode, message: Any) -> None:
        self._choose(Choice("deliver", node.index, source=src, at=self.now, message=message))
        super()._deliver(src, node, message)

    def _step(self, node: SimNode, event: Any) -> None:
        if not node.honest:
            super()._step(node, event)
            return
        inner = node.step
        returned: list[Any] = []

        def spy(state: Any, ev: Any, view: Any) -> Any:
            result = inner(state, ev, view)
            returned.append(result)
            return result

        node.step = spy
        try:
            super()._step(node, event)
        finally:
            node.step = inner
            if returned:
                self._record(
                    Record("step", node.index, event, tuple(returned[0].effects), node.state)
                )

    def crash(self, node: SimNode) -> None:
        self._choose(Choice("crash", node.index, at=self.now))
        super().crash(node)
        if node.honest:
            self._record(Record("crash", node.index))

    def restart(self, node: SimNode) -> None:
        self._choose(Choice("restart", node.index, at=self.now))
        if node.honest:
            self._record(Record("restart", node.index))
        super().restart(node)


def simulation_document(
    sim: TracedSimulation, violation: SafetyViolation | None = None
) -> dict[str, Any]:
    """The ITF trace of ``sim``'s run so far; with ``violation``, the last record is where it
    failed."""
    if not sim.complete:
        raise itf.ITFError(f"the run outgrew {sim.max_records} recorded steps: no trace")
    states = []
    _digest = Digests()
    for r in sim.records:
        states.append(
            {
                "action": r.action,
                "node": r.node,
                "event": itf.encode(r.event),
                "effects": itf.encode(r.effects),
                "state": _digest(r.state) if r.state is not None else "",
            }
        )
    return {
        "#meta": {
            "format": "ITF",
            "format-description": "https://apalache-mc.org/docs/adr/015adr-trace.html",
            "source": "blockfsm simulate",
            "kind": KIND,
            "length": len(states),
            "config": itf.encode(sim.config),
            "state_digest": STATE_DIGEST,
            "schedule": [_encode_choice(c) for c in sim.schedule],
            "violation": None
            if violation is None
            else {
                "property": violation.invariant_id,
                "step": len(states) - 1,
                "detail": str(violation),
            },
        },
        "vars": ["action", "node", "event", "effects", "state"],
        "states": states,
    }


def _encode_choice(choice: Choice) -> dict[str, Any]:
    out: dict[str, Any] = {"choice": choice.kind, "node": choice.node, "at": choice.at}
    if choice.kind == "deliver":
        out["from"] = choice.source
        out["message"] = itf.encode(choice.message)
    return out


def decode_schedule(document: dict[str, Any]) -> list[Choice] | None:
    """The schedule a simulation trace records (``#meta.schedule``), or None for a trace
    written without one."""
    raw = document.get("#meta", {}).get("schedule")
    if not isinstance(raw, list):
        return None
    return [
        Choice(
            str(c["choice"]),
            int(c["node"]),
            source=int(c.get("from", -1)),
            at=int(c.get("at", 0)),
            message=itf.decode(c["message"]) if "message" in c else None,
        )
        for c in raw
    ]


def write_simulation_trace(
    sim: TracedSimulation, violation: SafetyViolation, trace_dir: Path
) -> Path | None:
    """Write the trace; None when the run outgrew ``max_records`` (rerun it from its seed)."""
    if not sim.complete:
        return None
    path = Path(trace_dir) / f"simulation-{sim.config.seed}.itf.json"
    return itf.save_trace(simulation_document(sim, violation), path)


def replay_simulation(document: dict[str, Any]) -> ReplayResult:
    """Feed a simulation trace to the current code; the first step that differs, or the verdict."""
    meta = document["#meta"]
    _digest = Digests(meta.get("state_digest"))
    config = itf.decode(meta["config"], strict=True)
    if not isinstance(config, SimConfig):
        raise itf.ITFError("a simulation trace's #meta.config must be a SimConfig")
    recorded = meta.get("violation")
    sim = Simulation(config)
    states = document["states"]
    total = len(states)
    for k, entry in enumerate(states):
        node = sim.nodes[entry["node"]]
        action = entry["action"]
        try:
            if action == "crash":
                sim.crash(node)
                continue
            if action == "restart":
                sim.restart(node)
                continue
            if action != "step":
                raise itf.ITFError(f"unknown action {action!r} at step {k}")
            event = itf.decode(entry["event"], strict=True)
            inner = node.step
            returned: list[Any] = []

            def spy(
                state: Any, ev: Any, view: Any, inner: Any = inner, returned: Any = returned
            ) -> Any:
                result = inner(state, ev, view)
                returned.append(result)
                return result

            node.step = spy
            try:
                sim._step(node, event)
            finally:
                node.step = inner
        except SafetyViolation as error:
            same = (
                recorded is not None
                and recorded.get("property") == error.invariant_id
                and recorded.get("step") == k
            )
            return ReplayResult(
                verdict="reproduces" if same else "fails",
                steps=total,
                replayed=k + 1,
                step=k,
                detail=f"{error.invariant_id} failed at step {k}: {error}"
                + ("" if same else f" (the trace recorded {_recorded(recorded)})"),
            )
        effects = itf.encode(tuple(returned[0].effects)) if returned else None
        differences = []
        if effects != entry["effects"]:
            differences.append(
                Difference(
                    what="effects", path="effects", recorded=entry["effects"], replayed=effects
                )
            )
        digest = _digest(node.state)
        if digest != entry["state"]:
            differences.append(
                Difference(what="state", path="state", recorded=entry["state"], replayed=digest)
            )
        if differences:
            return ReplayResult(
                verdict="diverges",
                steps=total,
                replayed=k + 1,
                step=k,
                detail=f"step {k} (node {entry['node']}) differs from the recording",
                differences=tuple(differences),
            )
    return ReplayResult(
        verdict="matches",
        steps=total,
        replayed=total,
        detail=f"all {total} steps match the recording"
        + ("" if recorded is None else f"; the recorded {_recorded(recorded)} did not happen"),
    )


def _recorded(recorded: dict[str, Any] | None) -> str:
    if recorded is None:
        return "no violation"
    return f"{recorded.get('property')} at step {recorded.get('step')}"
