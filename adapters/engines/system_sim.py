"""The simulator over any explorer system: a seeded chaos phase, heal, a fair schedule, liveness.

The cluster simulator (``blockfsm.adapters.engines.sim``) models one protocol's network in detail;
this one runs any ``System`` (``blockfsm.adapters.engines.explore.search``), the same object the
explorer searches exhaustively, on the walk TigerBeetle's VOPR takes:

1. **chaos**: ``steps`` actions, each drawn from the enabled ones by one ``random.Random(seed)``
   (faults included); every state is checked against the system's invariants, and each step runs
   the real machines under their specs, as in the explorer;
2. **heal**: from then on only the actions ``system.heal_actions(state)`` offers (a system states
   which actions are not faults: no drop, no crash, no forgery);
3. **fair schedule**: up to ``bound`` healed actions, each time the enabled one taken least
   recently (ties in the order the system lists them), so no enabled action is starved;
4. **liveness**: each of ``system.liveness`` (``StateInvariant``\\ s: predicates over the system
   state) must hold once the schedule ends.

A system without ``heal_actions`` or ``liveness`` is simulated for safety alone. The same system,
seed and bounds give the same run, action for action: nothing reads a clock. A safety violation
carries the path from the initial state, which ``explore``'s trace writer saves and ``blockfsm
replay`` re-runs.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from typing import Any

import attrs

from blockfsm.adapters.engines import itf
from blockfsm.adapters.engines.explore.search import System, Violation, successor


@attrs.frozen(kw_only=True)
class SystemRun:
    system: str
    parameters: dict[str, Any]
    seed: int
    chaos_steps: int
    fair_steps: int
    healed: bool
    violation: Violation | None = None
    """A safety property broken on the way (with the path to it)."""
    liveness: dict[str, bool] = attrs.field(factory=dict)
    """Each liveness property: held once the fair schedule ended."""

    @property
    def ok(self) -> bool:
        return self.violation is None and all(self.liveness.values())

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "system": self.system,
            "parameters": self.parameters,
            "seed": self.seed,
            "chaos_steps": self.chaos_steps,
            "fair_steps": self.fair_steps,
            "healed": self.healed,
            "liveness": self.liveness,
            "ok": self.ok,
        }
        if self.violation is not None:
            out["violation"] = {
                "property": self.violation.property_id,
                "message": self.violation.message.splitlines()[0],
                "step": len(self.violation.actions),
            }
        return out


def simulate_system(
    system: System, *, seed: int, steps: int, bound: int, heal: bool = True
) -> SystemRun:
    """One seeded run of ``system``: ``steps`` of chaos, then (with ``heal``) up to ``bound`` steps
    of the fair schedule and the liveness check."""
    rng = random.Random(seed)
    state = system.initial()
    path: list[Any] = []
    base = {"system": system.name, "parameters": dict(system.parameters), "seed": seed}

    def run(chaos: int, fair: int, violation: Violation | None = None, **more: Any) -> SystemRun:
        return SystemRun(**base, chaos_steps=chaos, fair_steps=fair, violation=violation, **more)

    for taken in range(steps):
        enabled = list(system.actions(state))
        if not enabled:
            break
        action = enabled[rng.randrange(len(enabled))]
        path.append(action)
        after, found = successor(system, state, action)
        if found is not None:
            return run(taken + 1, 0, _violation(found, path), healed=False)
        state = after
    else:
        taken = steps
    heal_actions = getattr(system, "heal_actions", None)
    liveness = tuple(getattr(system, "liveness", ()))
    if not heal or heal_actions is None:
        return run(taken, 0, healed=False)
    last: dict[bytes, int] = {}
    fair = 0
    for fair in range(1, bound + 1):
        enabled = list(heal_actions(state))
        if not enabled:
            fair -= 1
            break
        keys = [itf.canonical(a) for a in enabled]
        pick = min(range(len(enabled)), key=lambda i: (last.get(keys[i], -1), i))
        last[keys[pick]] = fair
        path.append(enabled[pick])
        after, found = successor(system, state, enabled[pick])
        if found is not None:
            return run(taken, fair, _violation(found, path), healed=True)
        state = after
    held = {inv.id: bool(inv.check(state)) for inv in liveness}
    return run(taken, fair, healed=True, liveness=held)


def _violation(found: tuple[str, str, str], path: Iterable[Any]) -> Violation:
    property_id, statement, message = found
    return Violation(
        property_id=property_id, statement=statement, message=message, actions=tuple(path)
    )
