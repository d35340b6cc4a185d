"""The simulator over any system: deterministic by seed, a safety violation with its path, heal
and a fair schedule before liveness, and liveness that fails when the fair phase cannot help."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from blockfsm.adapters.engines.explore import StateInvariant
from blockfsm.adapters.engines.itf import canonical
from blockfsm.adapters.engines.system_sim import simulate_system


class Counters:
    """Two counters; chaos may also 'jam' (a fault) and 'unjam'. Safety: never above ``cap``.
    Liveness: after heal (no jamming), both counters reach ``goal``."""

    name = "counters"

    def __init__(self, cap: int = 50, goal: int = 3, heal_unjams: bool = True) -> None:
        self.cap, self.goal, self.heal_unjams = cap, goal, heal_unjams

    @property
    def parameters(self) -> dict[str, Any]:
        return {"cap": self.cap, "goal": self.goal}

    @property
    def invariants(self) -> tuple[StateInvariant, ...]:
        return (StateInvariant("C-1", "no counter above cap", lambda s: max(s[:2]) <= self.cap),)

    @property
    def liveness(self) -> tuple[StateInvariant, ...]:
        return (StateInvariant("CL-1", "both reach goal", lambda s: min(s[:2]) >= self.goal),)

    def initial(self) -> tuple[int, int, bool]:
        return (0, 0, False)

    def actions(self, s: tuple[int, int, bool]) -> Iterable[Any]:
        yield ("jam",) if not s[2] else ("unjam",)
        if not s[2]:
            yield ("inc", 0)
            yield ("inc", 1)

    def heal_actions(self, s: tuple[int, int, bool]) -> Iterable[Any]:
        if s[2]:
            if self.heal_unjams:
                yield ("unjam",)
            return
        if s[0] < self.goal:
            yield ("inc", 0)
        if s[1] < self.goal:
            yield ("inc", 1)

    def step(self, s: tuple[int, int, bool], action: Any) -> tuple[int, int, bool]:
        if action[0] == "jam":
            return (s[0], s[1], True)
        if action[0] == "unjam":
            return (s[0], s[1], False)
        counts = list(s[:2])
        counts[action[1]] += 1
        return (counts[0], counts[1], s[2])

    def key(self, s: Any) -> bytes:
        return canonical(s)


def test_the_same_seed_gives_the_same_run_and_liveness_holds_after_heal() -> None:
    runs = [simulate_system(Counters(), seed=9, steps=20, bound=20) for _ in range(2)]
    assert runs[0] == runs[1]
    assert runs[0].healed and runs[0].liveness == {"CL-1": True} and runs[0].ok


def test_a_safety_violation_comes_with_its_path_from_the_initial_state() -> None:
    run = simulate_system(Counters(cap=2), seed=1, steps=200, bound=20)
    assert run.violation is not None and run.violation.property_id == "C-1"
    system, state = Counters(cap=2), Counters().initial()
    for action in run.violation.actions:
        state = system.step(state, action)
    assert max(state[:2]) > 2


def test_liveness_fails_when_heal_cannot_undo_a_fault() -> None:
    """A jam that the heal phase leaves in place: the fair schedule has nothing to do."""
    failed = [
        simulate_system(Counters(heal_unjams=False), seed=seed, steps=5, bound=20)
        for seed in range(20)
    ]
    assert any(r.liveness == {"CL-1": False} and not r.ok for r in failed)
